"""Tables, figures and the report of `gxr study grayscale`."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core import paper
from gxr.core.comparator import MIN_POSITIVES, rule_text
from gxr.core.metrics import roc_points
from gxr.core.render import fmt, fmt_p, md_table, rich_table
from gxr.core.scores import Scores
from gxr.study.context import StudyContext
from gxr.study.grayscale import ARMS, PAIRS, PRETRAINED, TASK_TITLES, WHAT
from gxr.study.report import print_summary, write_outputs
from gxr.study.seeds import TaskSummary, summarize_task
from gxr.study.stages import settings_hash


def task_summaries(ctx: StudyContext, results: dict[str, Any]) -> dict[str, TaskSummary]:
    """Per task: every arm over its seeds, per-seed DeLong tests (Holm over every pair, seed and label of the task),
    paired bootstrap CIs of each pair's mean-AUC difference (gray - color first: the primary endpoint), the gate."""
    return {task: summarize_task(task, arms, PAIRS, PRETRAINED, "scratch", ctx.settings["bootstrap_resamples"])
            for task, arms in results["tasks"].items()}


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
    panels = [{"title": TASK_TITLES[t].split(" (")[0].split(",")[0] + " (seed 0)",
               "curves": {arm: _micro_roc(arms[arm][0]) for arm in ARMS}} for t, arms in results["tasks"].items()]
    plots.roc_png(panels, folder / "roc.png")
    summary = results["summaries"]
    series = {arm: [summary[t]["arms"][arm]["test_mean_auc"]["mean"] for t in results["tasks"]] for arm in ARMS}
    errors = {arm: [summary[t]["arms"][arm]["test_mean_auc"]["sd"] for t in results["tasks"]] for arm in ARMS}
    plots.grouped_bars_png([t for t in results["tasks"]], series, "test mean AUC (mean \u00b1 sd over seeds)",
                           "Fine-tuned test AUC per task and initialization", folder / "auc.png", ylim=(0.0, 1.0),
                           errors=errors)
    return {"files": sorted(p.name for p in folder.glob("*.png"))}


def _micro_roc(arm: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC pooled over labels (one-vs-rest for classes; pooled log-probabilities rank as pooled probabilities
    do) of one seed; the legend gives that seed's mean per-label AUC, which is not the area under this pooled curve."""
    scores = Scores.from_json(arm["scores"])
    fpr, tpr = roc_points(scores.truth.ravel(), scores.ranks.ravel())
    return fpr, tpr, arm["test"]["mean_auc"] or float("nan")


def _pretrain_rows(results: dict[str, Any]) -> list[list[str]]:
    """Measured Imagenette top-1/top-5 per model, the paper's ImageNet figures (Table 1) beside them."""
    rows = [[key, fmt(p["val"]["top1"], 3), fmt(p["val"]["top5"], 3), str(p["val"]["images"]),
             fmt(p.get("heldout_accuracy"), 3), f"{p['best_epoch']} of {p['epochs_run']}",
             f"{p['train_images_per_s']:.0f}", f"{p['seconds'] / 60:.1f}", fmt(paper.IMAGENET_TOP1[key]),
             fmt(paper.IMAGENET_TOP5[key])] for key, p in results["pretrain"].items()]
    pre = results["pretrain"]
    if {"gray", "color"} <= set(pre):
        rows.append(["gray - color", fmt(pre["gray"]["val"]["top1"] - pre["color"]["val"]["top1"], 3, sign=True),
                     fmt(pre["gray"]["val"]["top5"] - pre["color"]["val"]["top5"], 3, sign=True), "", "", "", "", "",
                     fmt(paper.IMAGENET_TOP1["gray"] - paper.IMAGENET_TOP1["color"], 4, sign=True),
                     fmt(paper.IMAGENET_TOP5["gray"] - paper.IMAGENET_TOP5["color"], 4, sign=True)])
    return rows


PRETRAIN_HEADER = ["model", "val top-1", "val top-5", "val images", "held-out top-1 (kept epoch)", "kept epoch",
                   "train img/s", "minutes", "paper top-1 (ImageNet)", "paper top-5 (ImageNet)"]


def _paper_nih_rows(runs: list[dict[str, Any]], summary: TaskSummary) -> list[list[str]]:
    """The paper's Table 2 beside the gray- and color-pretrained arms (mean over seeds), label by label (NIH)."""
    gray, color = summary.arms["gray-pretrained"], summary.arms["color-pretrained"]
    rows = []
    for row in runs[0]["test"]["labels"]:
        ref = paper.nih_label(row["label"])
        rows.append([row["label"] + ("" if row["eligible"] else " \u2020"), gray.label_auc[row["label"]].text(),
                     color.label_auc[row["label"]].text(), fmt(ref.gray_auc) if ref else "",
                     fmt(ref.color_auc) if ref else "", (ref.significance or "-") if ref else ""])
    rows.append(["mean AUC", gray.test_mean_auc.text(), color.test_mean_auc.text(), fmt(paper.NIH_MEAN_AUC["gray"]),
                 fmt(paper.NIH_MEAN_AUC["color"]), ""])
    return rows


PAPER_NIH_HEADER = ["label", "gray-pretrained (mean \u00b1 sd)", "color-pretrained (mean \u00b1 sd)", "paper gray",
                    "paper color", "paper sig."]
PAPER_NIH_NOTE = (f"Paper columns: {paper.CITATION}, Table 2: ImageNet-pretrained Inception-V3 fine-tuned on the full "
                  "NIH ChestX-ray14 (112,120 images at 299 px), its own DeLong marks. The measured columns come from "
                  "1000 images at 64 px and Imagenette pre-training: a pipeline check, not a reproduction.")


def _arm_rows(summary: TaskSummary) -> list[list[str]]:
    """One row per arm: test mean AUC, accuracy, ECE, Brier (mean \u00b1 sd over seeds), validation AUC at the kept
    epoch, the kept epoch of each seed and the largest |logit|."""
    return [[arm, a.test_mean_auc.text(), a.test_accuracy.text(), a.test_ece.text(), a.test_brier.text(),
             a.val_mean_auc.text(), ", ".join(f"{r.best_epoch}/{r.epochs_run}" for r in a.seeds),
             f"{max(r.max_abs_logit for r in a.seeds):.1f}"] for arm, a in summary.arms.items()]


ARM_HEADER = ["arm", "test mean AUC", "test accuracy", "test ECE", "test Brier", "val mean AUC (kept epoch)",
              "kept epoch per seed", "max abs logit"]


def _label_rows(runs: dict[str, list[dict[str, Any]]], summary: TaskSummary) -> list[list[str]]:
    """Per label: AUC per arm, mean \u00b1 sd over seeds (\u2020: under the min-positives rule)."""
    rows = []
    for row in runs["gray-pretrained"][0]["test"]["labels"]:
        mark = "" if row["eligible"] else " \u2020"
        rows.append([f"{row['label']}{mark} ({row['positives']} pos)"] +
                    [summary.arms[a].label_auc[row["label"]].text() for a in ARMS])
    return rows


def _difference_rows(summary: TaskSummary) -> list[list[str]]:
    return [[pair, fmt(d.estimate, 4, sign=True), f"{fmt(d.low, 4, sign=True)} to {fmt(d.high, 4, sign=True)}",
             str(d.seeds), str(d.images), str(d.resamples)] for pair, d in summary.differences.items()]


DIFFERENCE_HEADER = ["a vs b", "mean AUC a - b", "95% CI (paired bootstrap)", "seeds", "test images", "resamples"]


def _delong_rows(summary: TaskSummary) -> list[list[str]]:
    """Per seed and label, the primary pair's DeLong test (the Holm family holds every pair, seed and label)."""
    comparisons = next(iter(summary.delong.values()))
    return [[str(seed), r.label + ("" if r.eligible else " \u2020"), str(r.positives), fmt(r.auc_a, 3),
             fmt(r.auc_b, 3), fmt_p(r.p_value), fmt_p(r.p_holm) + r.stars]
            for seed, c in enumerate(comparisons) for r in c.rows]


PAIR_NOTE = (f"DeLong tests (two-sided) from the logits, one per fine-tuning seed; p (Holm) is adjusted over every "
             f"pair of arms, seed and label of the task (one family; every pair's tests are in results.json); "
             f"* p_Holm < 0.05, ** p_Holm < 0.01. \u2020: {rule_text(MIN_POSITIVES)}.")


def endpoint_lines(summaries: dict[str, TaskSummary]) -> list[str]:
    """The primary endpoint per task, then its gate line: what the report states before every other number."""
    lines = []
    for task, summary in summaries.items():
        d = summary.primary
        gray, color = summary.arms["gray-pretrained"], summary.arms["color-pretrained"]
        check = " (pipeline check only, not evidence)" if task == "nih" else ""
        lines += [f"- **{TASK_TITLES[task]}**{check}: gray-pretrained {gray.test_mean_auc.text()} vs color-pretrained "
                  f"{color.test_mean_auc.text()} mean test AUC (mean \u00b1 sd over {summary.seeds} seeds); "
                  f"gray - color {fmt(d.estimate, 4, sign=True)}, 95% CI {fmt(d.low, 4, sign=True)} to "
                  f"{fmt(d.high, 4, sign=True)} (paired bootstrap over {d.images} test images and {d.seeds} seeds).",
                  f"  - {summary.gate.line()}."]
    return lines


ENDPOINT = ("**Primary endpoint**, per task: the gray-pretrained arm's mean test AUC minus the color-pretrained arm's "
            "(AUC per label from the logits, averaged over the labels the min-positives rule keeps, then over the "
            "fine-tuning seeds), with a paired bootstrap 95% CI that resamples the test images once per draw for "
            "every seed and both arms. It is read only where the gate holds: a pre-training that does not beat "
            "scratch on validation did not transfer, and then gray vs color says nothing about pre-training. "
            "Everything else below is secondary.")


def _latency_rows(latency: dict[str, Any]) -> list[list[str]]:
    rows = [[t["model"], t["backend"], str(t["channels"]), f"{t['ms_per_image_p50']:.2f}",
             f"{t['ms_per_image_p90']:.2f}", f"{t['ms_per_image_p99']:.2f}"] for t in latency["timings"]]
    ms = paper.MS_PER_IMAGE["NIH"]
    return rows + [[f"paper {key}", paper.HARDWARE, "1" if key == "gray" else "3", f"{ms[key]:.1f}", "", ""]
                   for key in ("gray", "color")]


def finish(ctx: StudyContext, results: dict[str, Any]) -> dict[str, Any]:
    """Seed summaries and comparisons, plots, report.md, results.json and the rich summary."""
    summaries = task_summaries(ctx, results)
    results["summaries"] = {task: s.to_json() for task, s in summaries.items()}
    results["primary_endpoint"] = {task: asdict(s.primary) for task, s in summaries.items()}
    results["gate"] = {task: s.gate.line() for task, s in summaries.items()}
    plot_names = make_plots(ctx, results)
    warnings = results["latency"]["warnings"]
    sections = report_sections(results, summaries, wall_time_line(ctx))
    doc = write_outputs(ctx, "Gray vs color pre-training for chest X-rays (Xie & Richmond 2018, small scale)", WHAT,
                        sections, results, ["imagenette", *ctx.settings["tasks"]], plot_names)
    tables = [rich_table("Table 1: Imagenette val (the paper's ImageNet figures beside)", PRETRAIN_HEADER,
                         _pretrain_rows(results))]
    tables += [rich_table(f"{TASK_TITLES[t]}: test (mean \u00b1 sd over seeds)", ARM_HEADER, _arm_rows(summary),
                          caption=summary.gate.line()) for t, summary in summaries.items()]
    if "nih" in summaries:
        tables.append(rich_table("NIH: measured vs the paper's Table 2", PAPER_NIH_HEADER,
                                 _paper_nih_rows(results["tasks"]["nih"]["gray-pretrained"], summaries["nih"]),
                                 caption=PAPER_NIH_NOTE))
    tables.append(rich_table("Table 4: ms/image (batch 1)", ["model", "backend", "ch", "p50", "p90", "p99"],
                             _latency_rows(results["latency"]), caption=LATENCY_NOTE))
    for w in warnings:
        ctx.console.print(f"[yellow]warning[/]: {w}")
    print_summary(ctx, tables, "\n".join(["Primary endpoint (gray - color mean test AUC) and gate:",
                                          *endpoint_lines(summaries)]))
    return doc


NIH_CHECK = ("**A pipeline check only, not evidence**: 1000 NIH images at 64 px (701 for training) cannot say whether "
             f"gray or color pre-training is better. Labels with fewer than {MIN_POSITIVES} positives or negatives in "
             "the test split are left out of every mean, CI and test (listed under the label table).")
LATENCY_NOTE = ("A 1-channel stem saves only the first convolution's input channels: for ResNet-18 at 96 px about 4% "
                "of its multiply-adds (7.2M of 334M vs 21.7M), for Inception-V3 less; a gray/color difference inside "
                "the timing noise (the warnings below, if any) is not a speed result. The paper's figures are from a "
                "GTX 1080 Ti at 299 px, batch size and timing scope not stated.")


def report_sections(results: dict[str, Any], summaries: dict[str, TaskSummary], wall_line: str) -> list[str]:
    """report.md's own sections: the primary endpoint and gate first, then wall time, Table 1, each task, Table 4."""
    warnings = results["latency"]["warnings"]
    sections = ["## Primary endpoint and gate", "", ENDPOINT, "", *endpoint_lines(summaries), "",
                "## Wall time", "", wall_line, "",
                "## Table 1: pre-training on Imagenette", "",
                md_table(PRETRAIN_HEADER, _pretrain_rows(results)), "",
                "The gray model is evaluated on Luma-converted val images, each model as its recipe evaluates (modern: "
                "the centre crop of a decode 1/0.875 larger). The kept epoch is chosen on 10% of the training split "
                "held out; the Imagenette val folder (3925 images) is only evaluated. The paper's columns are "
                "Inception-V3 on the 1000-class ImageNet: context, not a target for 10 classes.", "",
                "![kernels](plots/kernels.png)", ""]
    for task, summary in summaries.items():
        runs = results["tasks"][task]
        sections += [f"## {TASK_TITLES[task]}", "", *([NIH_CHECK, ""] if task == "nih" else []),
                     summary.gate.line() + ".", "",
                     md_table(ARM_HEADER, _arm_rows(summary)), "",
                     "ECE: 10 equal-width bins; Brier: mean squared error of the probabilities (all labels pooled). "
                     "Kept epoch: the epoch with the lowest validation loss, of the epochs run.", "",
                     md_table(DIFFERENCE_HEADER, _difference_rows(summary)), "",
                     md_table(["label", *ARMS], _label_rows(runs, summary)), "",
                     (summary.left_out_note + ".") if summary.left_out_note else "", "",
                     f"Per-seed DeLong tests, {next(iter(summary.delong))}. " + PAIR_NOTE, "",
                     md_table(["seed", "label", "positives", "AUC a", "AUC b", "p", "p (Holm)"],
                              _delong_rows(summary)), ""]
        if task == "nih":
            sections += ["### The paper's Table 2 beside the measured AUCs", "", PAPER_NIH_NOTE, "",
                         md_table(PAPER_NIH_HEADER, _paper_nih_rows(runs["gray-pretrained"], summary)), ""]
    sections += ["![ROC](plots/roc.png)", "", "![AUC](plots/auc.png)", "",
                 "## Table 4: ms/image, gray vs color (batch 1, PyTorch; the paper's GTX 1080 Ti figures beside)", "",
                 md_table(["model", "backend", "channels", "p50", "p90", "p99"], _latency_rows(results["latency"])), ""]
    sections += [LATENCY_NOTE, ""]
    sections += [f"**Warning**: {w}" for w in warnings] + ([""] if warnings else [])
    return sections


def wall_time_line(ctx: StudyContext) -> str:
    """This invocation's wall time and the stages' recorded time (what a fresh run of the whole study costs)."""
    now = time.perf_counter() - ctx.started
    counts = ctx.stages.log.counts()
    return (f"Measured on this machine: this invocation {now / 60:.1f} min ({counts.get('ran', 0)} stages ran, "
            f"{counts.get('skipped', 0)} skipped as already done); every stage of the study as recorded when it ran: "
            f"{ctx.stages.log.stage_seconds() / 60:.1f} min (a fresh run of the whole study: this plus the "
            "comparisons and report, seconds).")
