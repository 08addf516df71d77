"""`gxr study depth` (after Tajbakhsh 2016): fine-tuning depth (head only ... all layers) x training-set
fraction from the Imagenette-pretrained model on one X-ray task, with a from-scratch row for contrast."""

from __future__ import annotations

from typing import Any

import numpy as np

from gxr.core.comparator import MIN_POSITIVES, rule_text
from gxr.core.render import fmt, md_table, rich_table
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
DEFAULTS = {"arch": "resnet18", "task": "pneumonia", "channels": 1, "pretrain_image_size": 64, "pretrain_epochs": 6,
            "pretrain_fraction": 1.0, "pretrain_batch_size": 64, "finetune_image_size": 64, "finetune_epochs": 4,
            "finetune_lr": 1e-3, "finetune_batch_size": 32, "fractions": [0.05, 0.1, 0.25, 0.5, 1.0]}
QUICK = {**DEFAULTS, "pretrain_image_size": 32, "pretrain_epochs": 1, "pretrain_fraction": 0.05,
         "finetune_image_size": 32, "finetune_epochs": 1, "fractions": [0.05, 0.1]}
WHAT = ("One model pre-trained on Imagenette (gray, the paper's recipe) is fine-tuned on an X-ray task with only its "
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
                   s["pretrain_fraction"], s["pretrain_batch_size"])
    grid: dict[str, dict[str, Any]] = {}
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
    return {"rows": list(grid), "fractions": [f"{f:g}" for f in s["fractions"]], "grid": grid}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-").replace("--", "-")


def _matrix(results: dict[str, Any]) -> np.ndarray:
    return np.array([[results["grid"][r][f]["test_mean_auc"] or np.nan for f in results["fractions"]]
                     for r in results["rows"]], dtype=np.float64)


def _rows(results: dict[str, Any]) -> list[list[str]]:
    return [[r] + [fmt(results["grid"][r][f]["test_mean_auc"]) for f in results["fractions"]] for r in results["rows"]]


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    from gxr.study import plots

    header = ["fine-tuned layers"] + [f"{float(f):.0%} train" for f in results["fractions"]]
    title = f"{ctx.settings['arch']} on {ctx.settings['task']}: test AUC"
    ctx.stages.run("plots", {"inputs": settings_hash(results)}, lambda folder, _r: {"file": str(plots.heatmap_png(
        results["rows"], header[1:], _matrix(results), title, folder / "heatmap.png"))})
    sections = [f"## {title} by fine-tuning depth and training-set size", "", md_table(header, _rows(results)), "",
                f"Test AUC from the logits; {rule_text(MIN_POSITIVES)}.", "",
                "![heatmap](plots/heatmap.png)", ""]
    doc = write_outputs(ctx, "Fine-tuning depth x training-set size (after Tajbakhsh 2016, small scale)", WHAT,
                        sections, results, ["imagenette", ctx.settings["task"]], ["plots/heatmap.png"])
    print_summary(ctx, [rich_table(title, header, _rows(results))],
                  "Rows: how many layers were fine-tuned from the Imagenette model; last row: trained from scratch.")
    return doc
