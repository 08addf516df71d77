"""`gxr study transfer` (after Zhang 2023): several architectures, each pre-trained on Imagenette vs from
scratch, fine-tuned on the 3-class COVID set: validation accuracy per epoch, test accuracy, and how many
epochs each needs to reach 90% of its final accuracy."""

from __future__ import annotations

from typing import Any

from gxr.core.comparator import MIN_POSITIVES, rule_text
from gxr.core.render import fmt, md_table, rich_table
from gxr.study.arms import finetune, pretrain
from gxr.study.context import StudyContext
from gxr.study.report import print_summary, write_outputs
from gxr.study.stages import settings_hash

DEFAULTS = {"archs": ["resnet18", "vgg11", "alexnet", "mobilenet_v2", "inception_v3"], "channels": 1,
            "pretrain_image_size": 64, "pretrain_epochs": 4, "pretrain_fraction": 0.5, "pretrain_batch_size": 64,
            "finetune_image_size": 64, "finetune_epochs": 5, "finetune_fraction": 0.5, "finetune_lr": 1e-3,
            "finetune_batch_size": 32}
QUICK = {**DEFAULTS, "archs": ["resnet18", "mobilenet_v2"], "pretrain_image_size": 32, "pretrain_epochs": 1,
         "pretrain_fraction": 0.05, "finetune_image_size": 32, "finetune_epochs": 2, "finetune_fraction": 0.1}
WHAT = ("Each architecture is pre-trained on Imagenette (gray, the paper's recipe) and fine-tuned on the 3-class "
        "COVID-19 Radiography set, against the same architecture fine-tuned from scratch. It shows, at small scale, "
        "how much an (Imagenette-sized) pre-training speeds up and improves fine-tuning per architecture. Each "
        "architecture runs at its own smallest valid input size or the study's size, whichever is larger. It is not "
        "ImageNet pre-training.")


def image_size(arch: str, wanted: int) -> int:
    from gxr.nets import ARCHS

    return max(wanted, ARCHS[arch][1])


def run(ctx: StudyContext) -> dict[str, Any]:
    s, out, pre = ctx.settings, {}, {}
    for arch in s["archs"]:   # all pre-training first: it needs only Imagenette
        ctx.step(f"{arch}: pre-train on Imagenette")
        pre[arch] = pretrain(ctx, f"{arch}/pretrain", arch, s["channels"], image_size(arch, s["pretrain_image_size"]),
                             s["pretrain_epochs"], s["pretrain_fraction"], s["pretrain_batch_size"])
    for arch in s["archs"]:
        ctx.step(f"{arch}: fine-tune on COVID, pre-trained and from scratch")
        arms = {key: finetune(ctx, f"{arch}/{key}", "covid", arch, s["channels"], init,
                              image_size(arch, s["finetune_image_size"]), s["finetune_epochs"], s["finetune_lr"],
                              s["finetune_batch_size"], s["finetune_fraction"])
                for key, init in (("pretrained", pre[arch]), ("scratch", None))}
        out[arch] = {"pretrain_heldout_accuracy": _selected(pre[arch])["val_accuracy"],
                     "pretrain_best_epoch": pre[arch]["best_epoch"],
                     **{key: _arm_summary(arm) for key, arm in arms.items()}}
    return {"archs": out}


def epochs_to_fraction(curve: list[float], fraction: float = 0.9) -> int | None:
    """First epoch (1-based) whose validation accuracy reaches `fraction` of the final epoch's."""
    if not curve:
        return None
    target = fraction * curve[-1]
    return next(i + 1 for i, v in enumerate(curve) if v >= target)


def _selected(run: dict[str, Any]) -> dict[str, Any]:
    """The history row of the epoch the run kept (best validation loss), not the last one."""
    return next((h for h in run["history"] if h["epoch"] == run["best_epoch"]), run["history"][-1])


def _arm_summary(arm: dict[str, Any]) -> dict[str, Any]:
    curve = [h["val_accuracy"] for h in arm["run"]["history"]]
    return {"val_accuracy_per_epoch": curve, "epochs_to_90pct": epochs_to_fraction(curve),
            "best_epoch": arm["run"]["best_epoch"], "test_accuracy": arm["test"]["accuracy"],
            "test_mean_auc": arm["test"]["mean_auc"], "dir": arm["dir"]}


def _rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for arch, r in results["archs"].items():
        p, s = r["pretrained"], r["scratch"]
        rows.append([arch, fmt(r["pretrain_heldout_accuracy"]), fmt(p["test_accuracy"]), fmt(s["test_accuracy"]),
                     fmt(p["test_mean_auc"]), fmt(s["test_mean_auc"]), str(p["best_epoch"]), str(s["best_epoch"]),
                     str(p["epochs_to_90pct"]), str(s["epochs_to_90pct"])])
    return rows


HEADER = ["arch", "pre-training top-1 (held out)", "test acc (pre-trained)", "test acc (scratch)",
          "test AUC (pre-trained)", "test AUC (scratch)", "selected epoch (pre-trained)", "selected epoch (scratch)",
          "epochs to 90% (pre-trained)", "epochs to 90% (scratch)"]


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    from gxr.study import plots

    panels = [{"title": arch, "lines": {"pre-trained": r["pretrained"]["val_accuracy_per_epoch"],
                                        "scratch": r["scratch"]["val_accuracy_per_epoch"]}}
              for arch, r in results["archs"].items()]
    ctx.stages.run("plots", {"inputs": settings_hash(panels)},
                   lambda folder, _r: {"file": str(plots.curves_png(panels, "COVID val accuracy",
                                                                    folder / "curves.png"))})
    sections = ["## COVID-19 Radiography (3 classes): pre-trained on Imagenette vs from scratch", "",
                md_table(HEADER, _rows(results)), "",
                "Pre-training top-1: Imagenette accuracy on 10% of its training split held out, at the epoch kept "
                "(best validation loss); a model near 10% (chance for 10 classes) is not pre-trained, whatever its "
                "transfer result. Selected epoch: the fine-tuning epoch kept on validation loss. "
                "Epochs to 90%: the first epoch whose validation accuracy reaches 90% of the last epoch's. "
                f"Test AUC: mean over the classes, from the logits; {rule_text(MIN_POSITIVES)}.", "",
                "![curves](plots/curves.png)", ""]
    doc = write_outputs(ctx, "Transfer from Imagenette per architecture (after Zhang 2023, small scale)", WHAT,
                        sections, results, ["imagenette", "covid"], ["plots/curves.png"])
    best = max(results["archs"].items(), key=lambda kv: kv[1]["pretrained"]["test_accuracy"] or 0)
    print_summary(ctx, [rich_table("COVID test accuracy / AUC", HEADER, _rows(results))],
                  f"Best pre-trained architecture on COVID test accuracy: {best[0]} "
                  f"({fmt(best[1]['pretrained']['test_accuracy'])}).")
    return doc
