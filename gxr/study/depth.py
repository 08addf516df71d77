"""`gxr study depth` (after Tajbakhsh 2016): fine-tuning depth (head only ... all layers) x training-set
fraction from the Imagenette-pretrained model on one X-ray task, with a from-scratch row for contrast."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from gxr.core.comparator import MIN_POSITIVES, bootstrap_difference, rule_text
from gxr.core.render import fmt, md_table, rich_table
from gxr.core.scores import Scores
from gxr.study.arms import finetune, pretrain
from gxr.study.context import StudyContext
from gxr.study.report import print_summary, write_outputs
from gxr.study.stages import settings_hash

# arch -> [(row label, first trainable layer; None = all layers)], shallowest fine-tuning first
DEPTHS = {"resnet18": [("head only", "fc"), ("layer4+", "layer4"), ("layer3+", "layer3"), ("layer2+", "layer2"),
                       ("all layers", None)],
          "inception_v3": [("head only", "fc"), ("Mixed_7c+", "Mixed_7c"), ("Mixed_7a+", "Mixed_7a"),
                           ("Mixed_6a+", "Mixed_6a"), ("all layers", None)],
          "mobilenet_v2": [("head only", "classifier"), ("features.14+", "features.14"),
                           ("features.7+", "features.7"), ("all layers", None)]}
# The pre-training is the grayscale study's gray model (ResNet-18, 96 px, 40 epochs of the modern recipe: 0.81 top-1
# on the 2-vCPU machine), so a folder holding that stage (same settings hash) reuses it.
DEFAULTS = {"arch": "resnet18", "task": "pneumonia", "channels": 1, "recipe": "modern", "pretrain_image_size": 96,
            "pretrain_epochs": 40, "pretrain_fraction": 1.0, "pretrain_batch_size": 64, "finetune_image_size": 64,
            "finetune_epochs": 4, "finetune_lr": 1e-4, "finetune_batch_size": 32,
            "fractions": [0.05, 0.1, 0.25, 0.5, 1.0], "bootstrap_resamples": 1000, "cpu_bf16": True}
QUICK = {**DEFAULTS, "pretrain_image_size": 32, "pretrain_epochs": 1, "pretrain_fraction": 0.05,
         "finetune_image_size": 32, "finetune_epochs": 1, "fractions": [0.05, 0.1], "bootstrap_resamples": 50}
REFERENCE = "all layers"   # the heat map's colours: each cell's AUC minus this row's at the largest fraction
WHAT = ("One model pre-trained on Imagenette (gray) is fine-tuned on an X-ray task with only its "
        "last layers trainable (head only, then deeper) and on growing fractions of the training split; a "
        "from-scratch row shows what pre-training buys at each data size. Frozen layers keep their BatchNorm "
        "statistics. It is not ImageNet pre-training.")


def depths_for(arch: str) -> list[tuple[str, str | None]]:
    from gxr.core.errors import GxrError

    if arch not in DEPTHS:
        raise GxrError(f"study depth: no depth levels defined for {arch}; choose one of {', '.join(DEPTHS)}")
    return DEPTHS[arch]


def run(ctx: StudyContext) -> dict[str, Any]:
    s = ctx.settings
    depths = depths_for(s["arch"])
    ctx.step(f"pre-train {s['arch']} on Imagenette")
    pre = pretrain(ctx, "pretrain", s["arch"], s["channels"], s["pretrain_image_size"], s["pretrain_epochs"],
                   s["pretrain_fraction"], s["pretrain_batch_size"], s["recipe"])
    grid: dict[str, dict[str, Any]] = {}
    scores: dict[tuple[str, str], Scores] = {}
    rows = [(label, layer, pre) for label, layer in depths] + [("scratch (all layers)", None, None)]
    for label, layer, init in rows:
        ctx.step(f"fine-tune {label} on {s['task']} at {len(s['fractions'])} training fractions")
        grid[label] = {}
        for fraction in s["fractions"]:
            name = f"{_slug(label)}/{int(round(fraction * 100))}pct"
            arm = finetune(ctx, name, s["task"], s["arch"], s["channels"], init, s["finetune_image_size"],
                           s["finetune_epochs"], s["finetune_lr"], s["finetune_batch_size"], fraction, layer)
            grid[label][f"{fraction:g}"] = {"test_mean_auc": arm["test"]["mean_auc"],
                                            "test_accuracy": arm["test"]["accuracy"],
                                            "train_images": arm["run"]["data"]["sizes"]["train"] if fraction == 1
                                            else int(round(fraction * arm["run"]["data"]["sizes"]["train"])),
                                            "best_epoch": arm["run"]["best_epoch"], "dir": arm["dir"]}
            scores[(label, f"{fraction:g}")] = Scores.from_json(arm["scores"])
    fractions = [f"{f:g}" for f in s["fractions"]]
    reference = (REFERENCE, fractions[-1])
    for (label, fraction), cell in scores.items():
        d = bootstrap_difference([(cell, scores[reference])], s["bootstrap_resamples"], name_a=f"{label} {fraction}",
                                 name_b=f"{reference[0]} {reference[1]}")
        grid[label][fraction]["vs_reference"] = asdict(d)
    kept = next(h for h in pre["history"] if h["epoch"] == pre["best_epoch"])
    return {"rows": list(grid), "fractions": fractions, "grid": grid,
            "reference": {"row": reference[0], "fraction": reference[1]},
            "pretrain": {"val_top1": pre["test"]["accuracy"], "heldout_top1": kept["val_accuracy"],
                         "best_epoch": pre["best_epoch"], "epochs_run": len(pre["history"])}}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-").replace("--", "-")


def _matrix(results: dict[str, Any], key: str = "estimate") -> np.ndarray:
    """Rows x fractions of one field of each cell's difference from the reference cell (estimate, low, high)."""
    return np.array([[_num(results["grid"][r][f]["vs_reference"][key]) for f in results["fractions"]]
                     for r in results["rows"]], dtype=np.float64)


def _num(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _cell(cell: dict[str, Any]) -> str:
    d = cell["vs_reference"]
    return (f"{fmt(cell['test_mean_auc'], 3)} ({fmt(d['estimate'], 3, sign=True)}, CI {fmt(d['low'], 3, sign=True)} "
            f"to {fmt(d['high'], 3, sign=True)})")


def _rows(results: dict[str, Any]) -> list[list[str]]:
    return [[r] + [_cell(results["grid"][r][f]) for f in results["fractions"]] for r in results["rows"]]


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    from gxr.study import plots

    header = ["fine-tuned layers"] + [f"{float(f):.0%} train" for f in results["fractions"]]
    title = f"{ctx.settings['arch']} on {ctx.settings['task']}: test AUC"
    ref = results["reference"]
    auc = np.array([[_num(results["grid"][r][f]["test_mean_auc"]) for f in results["fractions"]]
                    for r in results["rows"]])
    ctx.stages.run("plots", {"inputs": settings_hash(results)}, lambda folder, _r: {"file": str(plots.heatmap_png(
        results["rows"], header[1:], auc, title, folder / "heatmap.png",
        colorbar=f"test AUC minus {ref['row']} at {float(ref['fraction']):.0%}", centre=_matrix(results),
        low=_matrix(results, "low"), high=_matrix(results, "high")))})
    pre = results["pretrain"]
    sections = [f"## {title} by fine-tuning depth and training-set size", "",
                f"Pre-training ({ctx.settings['recipe']} recipe): Imagenette val top-1 {fmt(pre['val_top1'], 3)}, "
                f"held-out top-1 {fmt(pre['heldout_top1'], 3)} at the kept epoch {pre['best_epoch']} of "
                f"{pre['epochs_run']} (chance: 0.100). A pre-training near chance did not learn, and the rows below "
                "then compare initializations, not pre-training.", "",
                md_table(header, _rows(results)), "",
                f"Each cell: test AUC (from the logits; {rule_text(MIN_POSITIVES)}), then its difference from the "
                f"reference cell ({ref['row']}, {float(ref['fraction']):.0%} of the training split) with a paired "
                "bootstrap 95% CI over the test images (one fine-tuning seed per cell: the CI covers test-set "
                "sampling, not training noise).", "",
                "![heatmap](plots/heatmap.png)", "",
                "Heat map colours: the difference from the reference cell on a diverging scale centred on 0 whose "
                "range is at least the largest CI half-width, so differences inside the noise stay pale; each cell "
                "gives its AUC and the CI of its difference.", ""]
    doc = write_outputs(ctx, "Fine-tuning depth x training-set size (after Tajbakhsh 2016, small scale)", WHAT,
                        sections, results, ["imagenette", ctx.settings["task"]], ["plots/heatmap.png"])
    print_summary(ctx, [rich_table(title, header, _rows(results))],
                  "Rows: how many layers were fine-tuned from the Imagenette model; last row: trained from scratch.")
    return doc
