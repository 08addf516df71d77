"""Every table and Markdown page gxr prints or writes (rich + plain text; torch-free).

Library code returns dataclasses and dicts; commands render them with these functions, so one result
always looks the same wherever it appears."""

from __future__ import annotations

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


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2e}" if v < 1e-3 else f"{v:.3f}")


def latency_tables(report) -> list[Table]:
    """The tables of a LatencyReport: timings, then gray/color and torch/ORT ratios when it has them."""
    tables = [latency_table(report.timings)]
    if report.gray_over_color:
        tables.append(ratio_table(report.gray_over_color))
    if report.torch_over_onnxruntime:
        tables.append(speedup_table(report.torch_over_onnxruntime))
    if getattr(report, "breakdowns", None):
        tables.append(breakdown_table(report.breakdowns))
    if getattr(report, "streams", None):
        tables.append(stream_table(report.streams))
    return tables


def breakdown_table(breakdowns) -> Table:
    table = _table("end to end, batch 1: p50 ms/image per stage",
                   ("model", "ch", "size", "decode", "gray/RGB + resize", "normalize", "inference", "total"),
                   ("model",))
    for b in breakdowns:
        norm = "in graph" if b.normalization_in_graph else f"{b.ms['normalize']:.2f}"
        table.add_row(b.model, str(b.channels), str(b.image_size), f"{b.ms['decode']:.2f}",
                      f"{b.ms['convert_resize']:.2f}", norm, f"{b.ms['inference']:.2f}", f"{b.ms['total']:.2f}")
    return table


def stream_table(streams) -> Table:
    table = _table("end to end from files: images/s with and without the decode pool",
                   ("model", "ch", "batch", "decode threads", "images", "img/s", "compute-only img/s"), ("model",))
    for s in streams:
        table.add_row(s.model, str(s.channels), str(s.batch), str(s.decode_workers) if s.decode_workers else
                      "0 (no pool)", str(s.images), f"{s.images_per_s:.1f}", f"{s.compute_images_per_s:.1f}")
    return table


PARITY_KEYS = ("max_abs_error", "max_rel_error", "label_agreement", "ref_mean_auc", "candidate_mean_auc",
               "auc_difference")


def parity_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in PARITY_KEYS:
        v = result[key]
        table.add_row(key, "n/a" if v is None else f"{v:.4g}")
    return table


def comparison_lines(c) -> list[str]:
    """The plain-language lines that go under a gray-vs-color table."""
    lines = [f"gray: {c.trained['gray']}", f"color: {c.trained['color']}",
             f"{c.images} {c.split} images of {c.data}; DeLong test for correlated ROC curves; "
             "* p < 0.05, ** p < 0.01."]
    if c.undefined_labels:
        lines.append(f"AUC undefined (no positive or no negative case), left out of the mean: "
                     f"{', '.join(c.undefined_labels)}")
    if c.paper:
        lines.append(f"paper (ImageNet-pretrained Inception-V3 on the full NIH set, {c.paper['hardware']}): mean AUC "
                     f"gray {c.paper['gray_mean_auc']:.4f} vs color {c.paper['color_mean_auc']:.4f}; ms/image "
                     f"{c.paper['gray_ms_per_image']} vs {c.paper['color_ms_per_image']}. Its per-label Table 2 values "
                     "are not carried by gxr; the measured numbers above come from the models named here.")
    return lines


def comparison_markdown(c) -> str:
    lines = [f"# {c.title}", "", *[f"- {line}" for line in comparison_lines(c)], "",
             "| label | positives | gray AUC | color AUC | p-value |", "|---|---:|---:|---:|---:|"]
    for r in c.labels:
        lines.append(f"| {r.label} | {r.positives} | {_fmt(r.gray_auc)} | {_fmt(r.color_auc)} | "
                     f"{_p(r.p_value)}{r.stars} |")
    m = c.mean_auc
    lines.append(f"| **mean** | | **{_fmt(m['gray'])}** | **{_fmt(m['color'])}** | |")
    if c.paper:
        lines.append(f"| paper (mean) | | {c.paper['gray_mean_auc']:.4f} | {c.paper['color_mean_auc']:.4f} | |")
    lat = c.latency_batch1
    lines += ["", "| model | backend | ms/image (batch 1, p50) | input bytes/image |", "|---|---|---:|---:|"]
    for key in ("gray", "color"):
        lines.append(f"| {key} | {lat[key]['backend']} ({lat[key]['provider']}) | "
                     f"{lat[key]['ms_per_image_p50']:.2f} | {lat[key]['input_bytes_per_image']} |")
    return "\n".join(lines) + "\n"


def comparison_table(c) -> Table:
    table = Table(title=c.title, caption="DeLong test; * p < 0.05, ** p < 0.01")
    for col, justify in (("label", "left"), ("pos", "right"), ("gray AUC", "right"), ("color AUC", "right"),
                         ("p-value", "right")):
        table.add_column(col, justify=justify)
    for r in c.labels:
        g, col = r.gray_auc, r.color_auc
        both = g is not None and col is not None
        table.add_row(r.label, str(r.positives), ("[bold]" if both and g > col else "") + _fmt(g),
                      ("[bold]" if both and col > g else "") + _fmt(col), _p(r.p_value) + r.stars)
    m, lat = c.mean_auc, c.latency_batch1
    table.add_row("[bold]mean AUC", "", _fmt(m["gray"]), _fmt(m["color"]), "", end_section=True)
    if c.paper:
        table.add_row("paper mean AUC", "", f"{c.paper['gray_mean_auc']:.4f}", f"{c.paper['color_mean_auc']:.4f}", "")
    table.add_row("ms/image (b1)", "", f"{lat['gray']['ms_per_image_p50']:.2f}",
                  f"{lat['color']['ms_per_image_p50']:.2f}", "")
    return table


def metrics_table(metrics: dict[str, Any]) -> Table:
    test = metrics["test"]
    table = Table(title=f"test: {metrics['arch']} {metrics['channels']}-channel ({test['n']} images)")
    table.add_column("label")
    table.add_column("AUC", justify="right")
    for label, value in test["auc"].items():
        table.add_row(label, "n/a" if value is None else f"{value:.4f}")
    table.add_row("[bold]mean AUC[/]", "n/a" if test["mean_auc"] is None else f"[bold]{test['mean_auc']:.4f}[/]")
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


def _fmt_spec(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def matrix_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="precision / backend matrix: p50 ms/image, speed-up vs FP32 ONNX Runtime, test AUC delta")
    for col in ("model", "graph", "backend", "runs as", "batch", "p50", "p90", "speed-up", "mean AUC", "AUC delta"):
        table.add_column(col, justify="left" if col in ("model", "graph", "backend", "runs as") else "right")
    for r in rows:
        speed = _fmt_spec(r["speedup_vs_fp32_ort"], ".2f") + ("x" if r["speedup_vs_fp32_ort"] else "")
        table.add_row(r["model"], r["graph"], r["backend"], r["provider"], str(r["batch"]), f"{r['p50_ms']:.2f}",
                      f"{r['p90_ms']:.2f}", speed, _fmt_spec(r["mean_auc"], ".4f"), _fmt_spec(r["auc_delta"], "+.4f"))
    return table


def matrix_markdown(rows: list[dict[str, Any]]) -> str:
    """The same rows as a Markdown table (bench/README.md)."""
    lines = ["| model | graph | backend | runs as | batch | p50 ms/img | p90 ms/img | speed-up vs FP32 ORT | "
             "mean test AUC | AUC delta |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        speed = _fmt_spec(r["speedup_vs_fp32_ort"], ".2f") + ("x" if r["speedup_vs_fp32_ort"] else "")
        lines.append(f"| {r['model']} | {r['graph']} | {r['backend']} | {r['provider']} | {r['batch']} | "
                     f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {speed} | {_fmt_spec(r['mean_auc'], '.4f')} | "
                     f"{_fmt_spec(r['auc_delta'], '+.4f')} |")
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
