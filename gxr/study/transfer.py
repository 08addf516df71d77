"""`gxr study transfer` (after Zhang 2023): several architectures, each pre-trained on Imagenette vs from
scratch, fine-tuned on the 3-class COVID set: validation accuracy per epoch, test accuracy, and how many
epochs each needs to reach 90% of its final accuracy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gxr.core.comparator import MIN_POSITIVES, DifferenceCI, bootstrap_difference, rule_text
from gxr.core.render import fmt, md_table, rich_table
from gxr.core.scores import Scores
from gxr.study.arms import finetune, image_size, pretrain
from gxr.study.context import StudyContext
from gxr.study.report import print_summary, write_outputs
from gxr.study.seeds import Spread, spread
from gxr.study.stages import settings_hash

# Sized for the 2-vCPU machine (bf16 training steps): 14 epochs on all of Imagenette at 96 px take ResNet-18 about
# 10 min, MobileNet-v2 12, Inception-V3 14 (bench/results/study-transfer-cpu-sizing/). Inception-V3 learns only with
# Adam (gxr.train.recipes.ADAM_ARCHS), more slowly: after 14 epochs its held-out top-1 was 0.696 and still rising
# (0.665, 0.688, 0.693, 0.696 over the last four; bench/results/cpu-2vcpu-inception-96px-adam-14-epochs.json), so
# it gets 28 epochs (34.4 min in the run of record) unless --pretrain-epochs is given.
# VGG-11 stays selectable (--arch) but is not a default: at 47 training images/s
# (bench/results/cpu-2vcpu-bf16-train-step.json) its pre-training alone would take about 45 min (an estimate from
# that throughput, not a run).
DEFAULTS = {"archs": ["resnet18", "mobilenet_v2", "inception_v3", "alexnet"], "channels": 1,
            "recipe": "modern", "pretrain_image_size": 96, "pretrain_epochs": 14,
            "pretrain_epochs_per_arch": {"inception_v3": 28}, "pretrain_fraction": 1.0,
            "pretrain_batch_size": 64, "finetune_image_size": 96, "finetune_epochs": 5, "finetune_fraction": 0.5,
            "finetune_lr": 1e-4, "finetune_batch_size": 32, "seeds": 2, "bootstrap_resamples": 1000, "cpu_bf16": True}
QUICK = {**DEFAULTS, "archs": ["resnet18", "mobilenet_v2"], "pretrain_image_size": 32, "pretrain_epochs": 1,
         "pretrain_epochs_per_arch": {},
         "pretrain_fraction": 0.05, "finetune_image_size": 32, "finetune_epochs": 2, "finetune_fraction": 0.1,
         "bootstrap_resamples": 50}
WHAT = ("Each architecture is pre-trained on Imagenette (gray) and fine-tuned on the 3-class COVID-19 Radiography "
        "set with several fine-tuning seeds, against the same architecture fine-tuned from scratch with the same "
        "seeds. It shows, at small scale, how much an (Imagenette-sized) pre-training speeds up and improves "
        "fine-tuning per architecture, and beside it how well each pre-training itself learned (its held-out "
        "Imagenette top-1): a pre-training near 10% (chance for 10 classes) did not learn, and its transfer result "
        "says nothing about pre-training. Each architecture runs at its own smallest valid input size or the "
        "study's size, whichever is larger. It is not ImageNet pre-training.")


def run(ctx: StudyContext) -> dict[str, Any]:
    s, out, pre = ctx.settings, {}, {}
    for arch in s["archs"]:   # all pre-training first: it needs only Imagenette
        ctx.step(f"{arch}: pre-train on Imagenette ({s['recipe']} recipe)")
        pre[arch] = pretrain(ctx, f"{arch}/pretrain", arch, s["channels"], image_size(arch, s["pretrain_image_size"]),
                             pretrain_epochs(ctx, arch), s["pretrain_fraction"], s["pretrain_batch_size"], s["recipe"])
    for arch in s["archs"]:
        ctx.step(f"{arch}: fine-tune on COVID, pre-trained and from scratch, {s['seeds']} seeds")
        arms = {key: [finetune(ctx, f"{arch}/{key}/seed{seed}", "covid", arch, s["channels"], init,
                               image_size(arch, s["finetune_image_size"]), s["finetune_epochs"], s["finetune_lr"],
                               s["finetune_batch_size"], s["finetune_fraction"], seed=seed)
                      for seed in range(s["seeds"])]
                for key, init in (("pretrained", pre[arch]), ("scratch", None))}
        out[arch] = {"pretrain_optimizer": _optimizer(pre[arch]["recipe"]),
                     "pretrain_heldout_accuracy": _selected(pre[arch])["val_accuracy"],
                     "pretrain_val_top1": pre[arch]["test"]["accuracy"],
                     "pretrain_best_epoch": pre[arch]["best_epoch"], "pretrain_epochs_run": len(pre[arch]["history"]),
                     **{key: _arm_summary(runs) for key, runs in arms.items()},
                     "pretrained_minus_scratch": asdict(_difference(arms, s["bootstrap_resamples"]))}
    return {"archs": out}


def pretrain_epochs(ctx: StudyContext, arch: str) -> int:
    """The study's pre-training epochs, or the architecture's own count (pretrain_epochs_per_arch) unless
    --pretrain-epochs was given."""
    s = ctx.settings
    if "pretrain_epochs" in ctx.overrides:
        return s["pretrain_epochs"]
    return s["pretrain_epochs_per_arch"].get(arch, s["pretrain_epochs"])


def _difference(arms: dict[str, list[dict[str, Any]]], resamples: int) -> DifferenceCI:
    """Pre-trained minus scratch mean test AUC over the seeds, paired bootstrap CI over test images and seeds."""
    pairs = [(Scores.from_json(a["scores"]), Scores.from_json(b["scores"]))
             for a, b in zip(arms["pretrained"], arms["scratch"])]
    return bootstrap_difference(pairs, resamples, name_a="pretrained", name_b="scratch")


def epochs_to_fraction(curve: list[float], fraction: float = 0.9) -> int | None:
    """First epoch (1-based) whose validation accuracy reaches `fraction` of the final epoch's."""
    if not curve:
        return None
    target = fraction * curve[-1]
    return next(i + 1 for i, v in enumerate(curve) if v >= target)


def _optimizer(recipe: dict[str, Any]) -> str:
    """How a pre-training was optimised, in a few words (the modern recipe differs per architecture)."""
    head = ", classifier zero-initialised" if recipe.get("zero_init_head") else ""
    return f"{recipe['optimizer']} lr {recipe['lr']:g}, {recipe['epochs']} epochs{head}"


def _selected(run: dict[str, Any]) -> dict[str, Any]:
    """The history row of the epoch the run kept (best validation loss), not the last one."""
    return next((h for h in run["history"] if h["epoch"] == run["best_epoch"]), run["history"][-1])


def _curves(run: dict[str, Any]) -> dict[str, list[float | None]]:
    """Per-epoch train/val loss and accuracy of one fine-tuning run (train accuracy on the augmented batches)."""
    history = run["history"]
    return {key: [h.get(key) for h in history] for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")}


def _arm_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One arm over its seeds: test accuracy and AUC (mean \u00b1 sd), per seed the kept epoch and the curves."""
    seeds = [{"seed": i, "best_epoch": arm["run"]["best_epoch"], "epochs_run": len(arm["run"]["history"]),
              "epochs_to_90pct": epochs_to_fraction([h["val_accuracy"] for h in arm["run"]["history"]]),
              "test_accuracy": arm["test"]["accuracy"], "test_mean_auc": arm["test"]["mean_auc"],
              "curves": _curves(arm["run"]), "dir": arm["dir"]} for i, arm in enumerate(runs)]
    return {"seeds": seeds, "test_accuracy": asdict(spread([r["test_accuracy"] for r in seeds])),
            "test_mean_auc": asdict(spread([r["test_mean_auc"] for r in seeds]))}


def _text(value: dict[str, Any]) -> str:
    return Spread(**value).text()


def _ci(d: dict[str, Any] | None) -> str:
    if not d:
        return "n/a"
    return f"{fmt(d['estimate'], 3, sign=True)} ({fmt(d['low'], 3, sign=True)} to {fmt(d['high'], 3, sign=True)})"


def _rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for arch, r in results["archs"].items():
        p, s = r["pretrained"], r["scratch"]
        rows.append([arch, r.get("pretrain_optimizer", "n/a"), fmt(r.get("pretrain_val_top1"), 3),
                     fmt(r["pretrain_heldout_accuracy"], 3),
                     _text(p["test_accuracy"]), _text(s["test_accuracy"]), _text(p["test_mean_auc"]),
                     _text(s["test_mean_auc"]), _ci(r.get("pretrained_minus_scratch")),
                     ", ".join(str(x["best_epoch"]) for x in p["seeds"]),
                     ", ".join(str(x["best_epoch"]) for x in s["seeds"]),
                     ", ".join(str(x["epochs_to_90pct"]) for x in p["seeds"]),
                     ", ".join(str(x["epochs_to_90pct"]) for x in s["seeds"])])
    return rows


HEADER = ["arch", "pre-training optimizer", "pre-training top-1 (Imagenette val)",
          "pre-training top-1 (held out, kept epoch)",
          "test acc (pre-trained)", "test acc (scratch)", "test AUC (pre-trained)", "test AUC (scratch)",
          "AUC pre-trained - scratch (95% CI)",
          "kept epoch per seed (pre-trained)", "kept epoch per seed (scratch)", "epochs to 90% (pre-trained)",
          "epochs to 90% (scratch)"]


def _panels(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One panel per architecture and metric (loss, accuracy): train and val curves of every arm and seed."""
    panels = []
    for arch, r in results["archs"].items():
        for metric in ("loss", "accuracy"):
            lines = {f"{arm} s{x['seed']} {part}": x["curves"][f"{part}_{metric}"]
                     for arm in ("pretrained", "scratch") for x in r[arm]["seeds"] for part in ("train", "val")}
            panels.append({"title": f"{arch}: {metric}", "lines": lines,
                           "marks": {f"{arm} s{x['seed']} val": x["best_epoch"]
                                     for arm in ("pretrained", "scratch") for x in r[arm]["seeds"]}})
    return panels


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    from gxr.study import plots

    panels = _panels(results)
    ctx.stages.run("plots", {"inputs": settings_hash(panels)},
                   lambda folder, _r: {"file": str(plots.curves_png(panels, "COVID fine-tuning",
                                                                    folder / "curves.png"))})
    sections = ["## COVID-19 Radiography (3 classes): pre-trained on Imagenette vs from scratch", "",
                md_table(HEADER, _rows(results)), "",
                "Pre-training top-1: the pre-trained model's Imagenette accuracy on the val folder (3925 images) and "
                "on 10% of its training split held out, both at the epoch kept (best held-out loss); a model near "
                "10% (chance for 10 classes) is not pre-trained, whatever its transfer result. Test accuracy and AUC: "
                "mean \u00b1 sd over the fine-tuning seeds; the difference of mean AUCs with a paired bootstrap 95% CI "
                "over test images and seeds. Kept epoch: the fine-tuning epoch kept on validation loss, "
                "per seed. Epochs to 90%: the first epoch whose validation accuracy reaches 90% of the last epoch's. "
                f"Test AUC: mean over the classes, from the logits; {rule_text(MIN_POSITIVES)}.", "",
                "![curves](plots/curves.png)", "",
                "Curves: train (augmented batches, train mode) and validation loss and accuracy per epoch, every arm "
                "and seed; the circle marks the epoch kept.", ""]
    doc = write_outputs(ctx, "Transfer from Imagenette per architecture (after Zhang 2023, small scale)", WHAT,
                        sections, results, ["imagenette", "covid"], ["plots/curves.png"])
    best = max(results["archs"].items(), key=lambda kv: kv[1]["pretrained"]["test_accuracy"]["mean"] or 0)
    print_summary(ctx, [rich_table("COVID test accuracy / AUC", HEADER, _rows(results))],
                  f"Best pre-trained architecture on COVID test accuracy: {best[0]} "
                  f"({_text(best[1]['pretrained']['test_accuracy'])}).")
    return doc
