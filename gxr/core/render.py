"""Every table and Markdown page gxr prints or writes (rich + plain text; torch-free).

Library code returns dataclasses and dicts; commands render them with these functions, so one result
always looks the same wherever it appears."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

SHORT_NAMES = {"onnxruntime": "ort", "end-to-end": "e2e"}


def _table(title: str, columns: tuple[str, ...], left: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def latency_table(timings) -> Table:
    table = _table("latency: ms/image (p50 / p90 / p99) and images/s",
                   ("model", "backend", "ch", "input", "mode", "batch", "p50", "p90", "p99", "img/s", "bytes/img"),
                   ("model", "backend", "input", "mode"))
    for t in timings:
        table.add_row(t.model, SHORT_NAMES.get(t.backend, t.backend), str(t.channels), t.input_dtype,
                      SHORT_NAMES.get(t.mode, t.mode), str(t.batch), f"{t.ms_per_image_p50:.2f}",
                      f"{t.ms_per_image_p90:.2f}", f"{t.ms_per_image_p99:.2f}", f"{t.images_per_s:.0f}",
                      f"{t.input_bytes_per_image:,}")
    return table


def ratio_table(ratios) -> Table:
    table = _table("gray / color (p50 ms/image)", ("backend", "mode", "batch", "gray", "color", "gray/color"),
                   ("backend", "mode"))
    for r in ratios:
        table.add_row(SHORT_NAMES.get(r["backend"], r["backend"]), SHORT_NAMES.get(r["mode"], r["mode"]),
                      str(r["batch"]),
                      f"{r['gray_ms']:.2f}", f"{r['color_ms']:.2f}", f"{r['gray_over_color']:.2f}")
    return table


def speedup_table(rows) -> Table:
    table = _table("PyTorch eager / ONNX Runtime, same model (p50 ms/image)",
                   ("model", "mode", "batch", "torch", "ort", "torch/ort"), ("model", "mode"))
    for r in rows:
        table.add_row(r["model"], SHORT_NAMES.get(r["mode"], r["mode"]), str(r["batch"]), f"{r['torch_ms']:.2f}",
                      f"{r['onnxruntime_ms']:.2f}", f"{r['torch_over_onnxruntime']:.2f}x")
    return table


def fmt(v: float | None, digits: int = 4, sign: bool = False) -> str:
    """A number for a table: fixed digits (with its sign when `sign`), "n/a" for None / NaN."""
    return "n/a" if v is None or v != v else f"{v:{'+' if sign else ''}.{digits}f}"


def fmt_p(v: float | None) -> str:
    """A p-value: 3 decimals, scientific below 0.001, "n/a" for None."""
    return "n/a" if v is None or v != v else (f"{v:.2e}" if v < 1e-3 else f"{v:.3f}")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None) -> Table:
    """A table whose first column is left-aligned and the others right-aligned (the study and report tables)."""
    table = Table(title=title, caption=caption)
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    return table


def latency_tables(report) -> list[Table]:
    """The tables of a LatencyReport: timings, then gray/color and torch/ORT ratios when it has them."""
    tables = [latency_table(report.timings)]
    if report.gray_over_color:
        tables.append(ratio_table(report.gray_over_color))
    if report.torch_over_onnxruntime:
        tables.append(speedup_table(report.torch_over_onnxruntime))
    if report.breakdowns:
        tables.append(breakdown_table(report.breakdowns))
    if report.streams:
        tables.append(stream_table(report.streams))
    return tables


def breakdown_table(breakdowns) -> Table:
    table = _table("end to end, batch 1: p50 ms/image per stage",
                   ("model", "files", "decoders", "read", "decode", "gray/RGB", "reduce+resize", "tensor",
                    "normalize", "inference", "total"), ("model",))
    for b in breakdowns:
        norm = "in graph" if b.normalization_in_graph else f"{b.ms['normalize']:.2f}"
        table.add_row(b.model, b.file_format, b.decoders, *[f"{b.ms[k]:.2f}" for k in ("read", "decode", "convert",
                      "resize", "tensor")], norm, f"{b.ms['inference']:.2f}", f"{b.ms['total']:.2f}")
    return table


def stream_table(streams) -> Table:
    table = _table("end to end from files: images/s with and without the decode pool",
                   ("model", "ch", "batch", "decode threads", "images", "img/s", "compute-only img/s"), ("model",))
    for s in streams:
        table.add_row(s.model, str(s.channels), str(s.batch), str(s.decode_workers) if s.decode_workers else
                      "0 (no pool)", str(s.images), f"{s.images_per_s:.1f}", f"{s.compute_images_per_s:.1f}")
    return table


def tensor_parity_rows(t) -> list[list[str]]:
    """A TensorParity as (metric, value) rows."""
    return [["images", str(t.images)], ["max abs logit error", f"{t.max_abs_error:.4g}"],
            ["max rel logit error", f"{t.max_rel_error:.4g}"], ["label agreement", f"{t.label_agreement:.4g}"],
            ["max abs probability error", f"{t.max_abs_prob_error:.4g}"]]


def auc_parity_rows(a) -> list[list[str]]:
    """An AucParity as (metric, value) rows: the means, their difference, then each label's difference."""
    rows = [["reference mean AUC", fmt(a.reference_mean_auc)], ["candidate mean AUC", fmt(a.candidate_mean_auc)],
            ["mean AUC difference (candidate - reference)", fmt(a.mean_delta, 5)]]
    rows += [[f"AUC difference: {label}" + (" (not in the mean)" if label in a.left_out else ""), fmt(d, 5)]
             for label, d in a.per_label_delta.items()]
    return rows


def comparator_table(result, title: str) -> Table:
    """A ComparatorResult (tensor parity and/or AUC parity) as one metric/value table."""
    rows = (tensor_parity_rows(result.tensor) if result.tensor else []) + \
        (auc_parity_rows(result.auc) if result.auc else [])
    return rich_table(title, ["metric", "value"], rows)


def paired_auc_header(name_a: str, name_b: str, with_paper: bool = False) -> list[str]:
    header = ["label", "positives", "negatives", f"{name_a} AUC", f"{name_b} AUC", "p (DeLong)", "p (Holm)"]
    return header + ([f"paper {name_a}", f"paper {name_b}", "paper sig."] if with_paper else [])


def paired_auc_rows(c, paper=None, bold: bool = False) -> list[list[str]]:
    """One row per label of a PairedAuc (+ the paper's Table 2 values when given), then the means. Labels under
    the min-positives rule are marked with a dagger and show no p-value; stars come from the Holm-adjusted p."""
    rows = []
    for r in c.rows:
        a, b = fmt(r.auc_a), fmt(r.auc_b)
        if bold and r.auc_a is not None and r.auc_b is not None and r.auc_a != r.auc_b:
            a, b = (f"[bold]{a}[/]", b) if r.auc_a > r.auc_b else (a, f"[bold]{b}[/]")
        row = [r.label + ("" if r.eligible else " \u2020"), str(r.positives), str(r.negatives), a, b,
               fmt_p(r.p_value), fmt_p(r.p_holm) + r.stars]
        if paper is not None:
            p = paper.label(r.label)
            row += [fmt(p.gray_auc), fmt(p.color_auc), p.significance or "-"] if p else ["", "", ""]
        rows.append(row)
    mean = ["mean AUC", "", "", fmt(c.mean_auc_a), fmt(c.mean_auc_b), "", ""]
    if paper is not None:
        mean += [fmt(paper.gray_mean_auc), fmt(paper.color_mean_auc), ""]
    return rows + [mean]


def paired_auc_caption(c) -> str:
    """What a paired-AUC table applies, in words (printed under it)."""
    note = c.note()
    return (f"DeLong test for correlated ROC curves on the same {c.images} images; Holm-adjusted over the labels "
            f"tested; * p_Holm < 0.05, ** p_Holm < 0.01; \u2020 fewer than {c.min_positives} positives or "
            f"negatives: no p-value, not in the mean." + (f" {note[0].upper()}{note[1:]}." if note else ""))


def comparison_lines(c) -> list[str]:
    """The plain-language lines that go under a gray-vs-color table."""
    lines = [f"gray: {c.trained['gray']}", f"color: {c.trained['color']}",
             f"{c.images} {c.split} images of {c.data}.", paired_auc_caption(c.auc)]
    if c.paper:
        lines.append(f"paper columns: ImageNet-pretrained Inception-V3 fine-tuned on the full NIH set (112,120 images "
                     f"at 299 px; Xie & Richmond 2018, Table 2, its own DeLong marks), ms/image on a "
                     f"{c.paper.hardware} (Table 4); the measured columns come from the models named above.")
    lines += [f"warning: {w}" for w in c.timing_warnings]
    return lines


def _comparison_latency_rows(c) -> list[list[str]]:
    rows = [[key, f"{t.backend} ({t.provider})", f"{t.ms_per_image_p50:.2f}", str(t.input_bytes_per_image)]
            for key, t in c.latency_batch1.items()]
    if c.paper:
        rows += [[f"paper {key}", c.paper.hardware, f"{ms:.1f}", ""]
                 for key, ms in (("gray", c.paper.gray_ms_per_image), ("color", c.paper.color_ms_per_image))]
    return rows


LATENCY_HEADER = ["model", "backend", "ms/image (batch 1, p50)", "input bytes/image"]


def comparison_markdown(c) -> str:
    header = paired_auc_header("gray", "color", c.paper is not None)
    lines = [f"# {c.title}", "", *[f"- {line}" for line in comparison_lines(c)], "",
             md_table(header, paired_auc_rows(c.auc, c.paper)), "", md_table(LATENCY_HEADER,
                                                                             _comparison_latency_rows(c))]
    return "\n".join(lines) + "\n"


def comparison_tables(c) -> list[Table]:
    return [rich_table(c.title, paired_auc_header("gray", "color", c.paper is not None),
                       paired_auc_rows(c.auc, c.paper, bold=True)),
            rich_table("ms/image (batch 1)", LATENCY_HEADER, _comparison_latency_rows(c))]


def rule_caption(summary) -> str | None:
    """The caption under a one-model AUC table that leaves labels out of the mean (None when none is)."""
    note = summary.note()
    return f"\u2020 {note}" if note else None


def metrics_table(metrics: dict[str, Any]) -> Table:
    """A run's test metrics (metrics.json): AUC per label (dagger: left out of the mean), mean, accuracy."""
    test = metrics["test"]
    left_out = set(test.get("left_out_of_mean") or [])
    table = Table(title=f"test: {metrics['arch']} {metrics['channels']}-channel ({test['n']} images)",
                  caption=f"\u2020 fewer than {test.get('min_positives', 10)} positives or negatives: not in the mean"
                  if left_out else None)
    table.add_column("label")
    table.add_column("AUC", justify="right")
    for label, value in test["auc"].items():
        table.add_row(label + (" \u2020" if label in left_out else ""), fmt(value))
    table.add_row("[bold]mean AUC[/]", f"[bold]{fmt(test['mean_auc'])}[/]")
    if test["accuracy"] is not None:
        table.add_row("[bold]accuracy[/]", f"[bold]{test['accuracy']:.4f}[/]")
    return table


def epoch_line(row: dict[str, Any]) -> str:
    """One training epoch (a metrics.json history row) as one line."""
    acc = f"  val acc {row['val_accuracy']:.4f}" if row["val_accuracy"] is not None else ""
    auc = f"{row['val_mean_auc']:.4f}" if row["val_mean_auc"] is not None else "n/a"
    return (f"epoch {row['epoch']:>3}  lr {row['lr']:.3g}  train loss {row['train_loss']:.4f}  val loss "
            f"{row['val_loss']:.4f}  val mean AUC {auc}{acc}  ({row['train_images_per_s']:.0f} img/s, "
            f"{row['seconds']:.0f}s)")


def matrix_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="precision / backend matrix: p50 ms/image, speed-up vs FP32 ONNX Runtime, test AUC delta")
    for col in ("model", "graph", "backend", "runs as", "batch", "p50", "p90", "speed-up", "mean AUC", "AUC delta"):
        table.add_column(col, justify="left" if col in ("model", "graph", "backend", "runs as") else "right")
    for r in rows:
        speed = fmt(r["speedup_vs_fp32_ort"], 2) + ("x" if r["speedup_vs_fp32_ort"] else "")
        table.add_row(r["model"], r["graph"], r["backend"], r["provider"], str(r["batch"]), f"{r['p50_ms']:.2f}",
                      f"{r['p90_ms']:.2f}", speed, fmt(r["mean_auc"]), fmt(r["auc_delta"], sign=True))
    return table


def matrix_markdown(rows: list[dict[str, Any]]) -> str:
    """The same rows as a Markdown table (bench/README.md)."""
    lines = ["| model | graph | backend | runs as | batch | p50 ms/img | p90 ms/img | speed-up vs FP32 ORT | "
             "mean test AUC | AUC delta |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = fmt(r["speedup_vs_fp32_ort"], 2) + ("x" if r["speedup_vs_fp32_ort"] else "")
        lines.append(f"| {r['model']} | {r['graph']} | {r['backend']} | {r['provider']} | {r['batch']} | "
                     f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {speed} | {fmt(r['mean_auc'])} | "
                     f"{fmt(r['auc_delta'], sign=True)} |")
    return "\n".join(lines) + "\n"


def predictions_table(results, labels: list[str], single_label: bool, title: str) -> Table:
    """One row per predicted image: its full path (folded, never cut), a probability per label, and the
    predicted class (single-label models) or the labels at p >= 0.5 (multi-label models)."""
    from gxr.core.results import positives

    table = Table(title=title)
    table.add_column("image", overflow="fold", ratio=3, min_width=16)
    for label in labels:
        table.add_column(label, justify="right", overflow="fold")
    table.add_column("prediction" if single_label else "p >= 0.5", overflow="fold")
    for r in results:
        last = f"{r.top1[0]} ({r.top1[1]:.3f})" if r.top1 else ", ".join(positives(r)) or "-"
        table.add_row(r.source, *(f"{r.probabilities[k]:.4f}" for k in labels), last)
    return table


def study_markdown(r) -> str:
    """A study's report.md from its StudyReport: what ran where, what it is and is not, settings, the study's
    sections, the data sets and the stages."""
    header = [f"# {r.title}", "", f"Command: `{r.command}`", "",
              f"Run on {r.where}, device `{r.device}`, {r.date}. {r.scale}", "",
              "## What this is and is not", "", r.what, "", r.scale_note, "",
              "Epochs are chosen on each run's validation split (best validation loss); the test split is "
              "only ever evaluated, never used to choose anything.", "",
              "## Settings", "", "```", *[f"{k} = {v}" for k, v in r.settings.items()], "```", ""]
    data_rows = [[k, v["spec"].split(":", 1)[0] + ":…/" + v["spec"].rsplit("/", 1)[-1],
                  ", ".join(f"{s} {n}" for s, n in v["sizes"].items()), v["fingerprint"][:12]]
                 for k, v in r.data.items()]
    footer = ["## Data", "", md_table(["set", "spec", "split sizes", "fingerprint"], data_rows), "",
              f"Plots: {', '.join(f'`{p}`' for p in r.plots)}. Every number is in `results.json`.", "",
              f"Stages this invocation: {r.stage_counts}; {r.seconds / 60:.1f} min.", ""]
    return "\n".join(header + r.sections + footer)


SERVE_HEADER = ("run", "protocol", "clients", "answered", "errors", "seconds", "img/s", "vs in-process", "p50 ms",
                "p90 ms", "p99 ms", "mean batch", "server RSS MiB")


def serve_bench_rows(result) -> list[list[str]]:
    """One row per load run of a `gxr bench serve` result (gxr.bench.serve.ServeBenchResult)."""
    rows = []
    for r in result.runs:
        ratio = result.ratio(r)
        rss = f"{fmt(r.rss_mb_before, 1)} -> {fmt(r.rss_mb_after, 1)}"
        rows.append([r.label, r.protocol, str(r.clients), str(r.requests_ok), str(r.errors), f"{r.seconds:.1f}",
                     f"{r.images_per_s:.1f}", f"{ratio:.2f}x" if ratio is not None else "n/a",
                     *(fmt(r.latency_ms.get(q), 1) for q in ("p50", "p90", "p99")), fmt(r.mean_batch, 1), rss])
    return rows


def serve_bench_tables(result) -> list[Table]:
    """The load runs, the in-process predict rates and the batch-size histograms of a `gxr bench serve` result."""
    tables = [rich_table(f"gxr bench serve: {result.model} v{result.version} ({result.target})", SERVE_HEADER,
                         serve_bench_rows(result))]
    if result.inprocess:
        best = result.best_inprocess
        tables.append(rich_table("in-process gxr.load(model).predict, same model and images",
                                 ("batch", "images", "seconds", "img/s"),
                                 [[f"{r.batch}{' (best)' if r is best else ''}", str(r.images), f"{r.seconds:.1f}",
                                   f"{r.images_per_s:.1f}"] for r in result.inprocess]))
    for r in result.runs:
        if r.batch_histogram:
            tables.append(rich_table(f"{r.label}: images per batch (server histogram)", ("<= images", "batches"),
                                     [[le, str(n)] for le, n in r.batch_histogram.items()]))
    return tables


def serve_bench_markdown(result) -> str:
    """The load runs as a Markdown table (bench/README.md)."""
    return md_table(SERVE_HEADER, serve_bench_rows(result)) + "\n"
