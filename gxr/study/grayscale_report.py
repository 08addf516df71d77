"""Tables, figures and the report of `gxr study grayscale`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gxr.core import paper
from gxr.core.comparator import MIN_POSITIVES, delong_comparison, holm_family, rule_text
from gxr.core.metrics import roc_points
from gxr.core.render import fmt, fmt_p, md_table, rich_table
from gxr.core.scores import Scores
from gxr.study.context import StudyContext
from gxr.study.grayscale import ARMS, PAIRS, TASK_TITLES, WHAT
from gxr.study.report import print_summary, write_outputs
from gxr.study.stages import settings_hash


def comparisons(results: dict[str, Any]) -> dict[str, Any]:
    """Per task and pair of arms: per-label AUCs and DeLong p-values on the same test images, from the logits;
    Holm-adjusted over every pair and label of the task (one family per task)."""
    out = {}
    for task, arms in results["tasks"].items():
        scores = {arm: Scores.from_json(arms[arm]["scores"]) for arm in ARMS}
        pairs = [delong_comparison(scores[a], scores[b], name_a=a, name_b=b) for a, b in PAIRS]
        holm_family(pairs)
        out[task] = {f"{c.name_a} vs {c.name_b}": c.to_json() for c in pairs}
    return out


def make_plots(ctx: StudyContext, results: dict[str, Any]) -> list[str]:
    names = ["plots/kernels.png", "plots/roc.png", "plots/auc.png"]
    ctx.stages.run("plots", {"inputs": settings_hash(results)}, lambda folder, _r: _draw(ctx, folder, results))
    return names


def _draw(ctx: StudyContext, folder: Path, results: dict[str, Any]) -> dict[str, Any]:
    from gxr.nets import ARCHS
    from gxr.nets.checkpoint import read_checkpoint
    from gxr.study import plots

    arch = ctx.settings["arch"]
    stem = ARCHS[arch][0] + ".weight"
    weights = {f"{key}-pretrained": read_checkpoint(Path(p["dir"]) / "model.pt")["state_dict"][stem].float().numpy()
               for key, p in results["pretrain"].items()}
    plots.kernels_png(weights, f"First-layer kernels, {arch} pre-trained on Imagenette", folder / "kernels.png")
    panels = [{"title": TASK_TITLES[t].split(" (")[0].split(",")[0],
               "curves": {arm: _micro_roc(arms[arm]) for arm in ARMS}} for t, arms in results["tasks"].items()]
    plots.roc_png(panels, folder / "roc.png")
    series = {arm: [arms[arm]["test"]["mean_auc"] for arms in results["tasks"].values()] for arm in ARMS}
    plots.grouped_bars_png([t for t in results["tasks"]], series, "test mean AUC",
                           "Fine-tuned test AUC per task and initialization", folder / "auc.png")
    return {"files": sorted(p.name for p in folder.glob("*.png"))}


def _micro_roc(arm: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC pooled over labels (one-vs-rest for classes; pooled log-probabilities rank as pooled probabilities
    do); the legend gives the mean per-label AUC."""
    scores = Scores.from_json(arm["scores"])
    fpr, tpr = roc_points(scores.truth.ravel(), scores.ranks.ravel())
    return fpr, tpr, arm["test"]["mean_auc"] or float("nan")


def _pretrain_rows(results: dict[str, Any]) -> list[list[str]]:
    """Measured Imagenette top-1/top-5 per model, the paper's ImageNet figures (Table 1) beside them."""
    return [[key, fmt(p["val"]["top1"], 3), fmt(p["val"]["top5"], 3), str(p["val"]["images"]), str(p["best_epoch"]),
             f"{p['train_images_per_s']:.0f}", f"{p['seconds'] / 60:.1f}", fmt(paper.IMAGENET_TOP1[key]),
             fmt(paper.IMAGENET_TOP5[key])] for key, p in results["pretrain"].items()]


PRETRAIN_HEADER = ["model", "val top-1", "val top-5", "val images", "best epoch", "train img/s", "minutes",
                   "paper top-1 (ImageNet)", "paper top-5 (ImageNet)"]


def _paper_nih_rows(arms: dict[str, Any]) -> list[list[str]]:
    """The paper's Table 2 beside the gray- and color-pretrained arms, label by label (NIH task only)."""
    rows = []
    for row in arms["gray-pretrained"]["test"]["labels"]:
        ref = paper.nih_label(row["label"])
        rows.append([row["label"] + ("" if row["eligible"] else " \u2020"),
                     fmt(arms["gray-pretrained"]["test"]["auc"].get(row["label"]), 3),
                     fmt(arms["color-pretrained"]["test"]["auc"].get(row["label"]), 3),
                     fmt(ref.gray_auc) if ref else "", fmt(ref.color_auc) if ref else "",
                     (ref.significance or "-") if ref else ""])
    rows.append(["mean AUC", fmt(arms["gray-pretrained"]["test"]["mean_auc"], 3),
                 fmt(arms["color-pretrained"]["test"]["mean_auc"], 3), fmt(paper.NIH_MEAN_AUC["gray"]),
                 fmt(paper.NIH_MEAN_AUC["color"]), ""])
    return rows


PAPER_NIH_HEADER = ["label", "gray-pretrained", "color-pretrained", "paper gray", "paper color", "paper sig."]
PAPER_NIH_NOTE = (f"Paper columns: {paper.CITATION}, Table 2: ImageNet-pretrained Inception-V3 fine-tuned on the full "
                  "NIH ChestX-ray14 (112,120 images at 299 px), its own DeLong marks. The measured columns come from "
                  "1000 images at 64 px and Imagenette pre-training: a pipeline check, not a reproduction.")


def _task_rows(arms: dict[str, Any]) -> list[list[str]]:
    first = arms["gray-pretrained"]["test"]
    rows = []
    for row in first["labels"]:
        mark = "" if row["eligible"] else " \u2020"
        rows.append([f"{row['label']}{mark} ({row['positives']} pos)"] +
                    [fmt(arms[a]["test"]["auc"].get(row["label"]), 3) for a in ARMS])
    rows.append(["**mean AUC**"] + [fmt(arms[a]["test"]["mean_auc"], 3) for a in ARMS])
    for key, name in (("accuracy", "accuracy"), ("ece", "ECE"), ("brier", "Brier")):
        if first.get(key) is not None:
            rows.append([name] + [fmt(arms[a]["test"][key], 3) for a in ARMS])
    rows.append(["max abs logit"] + [f"{arms[a]['test']['max_abs_logit']:.1f}" for a in ARMS])
    return rows


def _pair_rows(pairs: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for pair, comparison in pairs.items():
        for r in comparison["rows"]:
            rows.append([pair, r["label"] + ("" if r["eligible"] else " \u2020"), str(r["positives"]),
                         fmt(r["auc_a"], 3), fmt(r["auc_b"], 3), fmt_p(r["p_value"]), fmt_p(r["p_holm"]) + r["stars"]])
    return rows


PAIR_NOTE = (f"DeLong tests (two-sided) from the logits; p (Holm) is adjusted over every pair and label of the task; "
             f"* p_Holm < 0.05, ** p_Holm < 0.01. \u2020: {rule_text(MIN_POSITIVES)}.")


def _latency_rows(latency: dict[str, Any]) -> list[list[str]]:
    rows = [[t["model"], t["backend"], str(t["channels"]), f"{t['ms_per_image_p50']:.2f}",
             f"{t['ms_per_image_p90']:.2f}", f"{t['ms_per_image_p99']:.2f}"] for t in latency["timings"]]
    ms = paper.MS_PER_IMAGE["NIH"]
    return rows + [[f"paper {key}", paper.HARDWARE, "1" if key == "gray" else "3", f"{ms[key]:.1f}", "", ""]
                   for key in ("gray", "color")]


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    """Comparisons, plots, report.md, results.json and the rich summary."""
    results["comparisons"] = comparisons(results)
    plot_names = make_plots(ctx, results)
    warnings = results["latency"]["warnings"]
    sections = ["## Table 1: pre-training on Imagenette", "",
                md_table(PRETRAIN_HEADER, _pretrain_rows(results)), "",
                "The gray model is evaluated on Luma-converted val images. Best epoch chosen on 10% of train held "
                "out; the Imagenette val folder is only evaluated.", "", "![kernels](plots/kernels.png)", ""]
    for task, arms in results["tasks"].items():
        sections += [f"## {TASK_TITLES[task]}: test AUC per initialization", "",
                     md_table(["label"] + list(ARMS), _task_rows(arms)), "", PAIR_NOTE, "",
                     md_table(["pair (a vs b)", "label", "positives", "AUC a", "AUC b", "p", "p (Holm)"],
                              _pair_rows(results["comparisons"][task])), ""]
        if task == "nih":
            sections += ["### The paper's Table 2 beside the measured AUCs", "", PAPER_NIH_NOTE, "",
                         md_table(PAPER_NIH_HEADER, _paper_nih_rows(arms)), ""]
    sections += ["![ROC](plots/roc.png)", "", "![AUC](plots/auc.png)", "",
                 "## Table 4: ms/image, gray vs color (batch 1, PyTorch; the paper's GTX 1080 Ti figures beside)", "",
                 md_table(["model", "backend", "channels", "p50", "p90", "p99"], _latency_rows(results["latency"])), ""]
    sections += [f"**Warning**: {w}" for w in warnings] + ([""] if warnings else [])
    doc = write_outputs(ctx, "Gray vs color pre-training for chest X-rays (Xie & Richmond 2018, small scale)", WHAT,
                        sections, results, ["imagenette", *ctx.settings["tasks"]], plot_names)
    tables = [rich_table("Table 1: Imagenette val (the paper's ImageNet figures beside)", PRETRAIN_HEADER,
                         _pretrain_rows(results))]
    tables += [rich_table(f"{TASK_TITLES[t]}: test", ["label", *ARMS], _task_rows(arms))
               for t, arms in results["tasks"].items()]
    if "nih" in results["tasks"]:
        tables.append(rich_table("NIH: measured vs the paper's Table 2", PAPER_NIH_HEADER,
                                 _paper_nih_rows(results["tasks"]["nih"]), caption=PAPER_NIH_NOTE))
    tables.append(rich_table("Table 4: ms/image (batch 1)", ["model", "backend", "ch", "p50", "p90", "p99"],
                             _latency_rows(results["latency"])))
    for w in warnings:
        ctx.console.print(f"[yellow]warning[/]: {w}")
    print_summary(ctx, tables, _closing(results))
    return doc


def _closing(results: dict[str, Any]) -> str:
    parts = []
    for task, arms in results["tasks"].items():
        g, c = arms["gray-pretrained"]["test"]["mean_auc"], arms["color-pretrained"]["test"]["mean_auc"]
        parts.append(f"{task}: gray {fmt(g, 3)} vs color {fmt(c, 3)}")
    return "Test mean AUC, gray-pretrained vs color-pretrained: " + "; ".join(parts) + "."
