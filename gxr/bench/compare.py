"""Gray vs color on the same test images: the paper's Table 2 (per-label AUC, DeLong p) and Table 4
(ms/image), for NIH or any multi-label / binary / multi-class set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gxr.bench.latency import bench_model
from gxr.bench.metrics import delong_test, one_hot_targets, stars
from gxr.bench.parity import split_pixels
from gxr.data.base import Split
from gxr.errors import GxrError
from gxr.modelinfo import probabilities


def compare_gray_color(gray, color, split: Split, limit: int | None = None, latency_iters: int = 20) -> dict[str, Any]:
    """`gray` and `color` are runtime Models with the same labels; returns the comparison dict."""
    g, c = gray.info, color.info
    if g.labels != c.labels or g.task != c.task:
        raise GxrError(f"{color.source}: labels/task differ from {gray.source}; compare models of the same task")
    probs = {}
    for key, model in (("gray", gray), ("color", color)):
        pixels = split_pixels(split, model.info.channels, model.info.image_size, limit)
        probs[key] = probabilities(model.logits_from_pixels(pixels), model.info.task)
    n = len(probs["gray"])
    y = one_hot_targets(split.targets[:n], g.task, len(g.labels))
    rows = []
    for i, label in enumerate(g.labels):
        r = delong_test(y[:, i], probs["gray"][:, i], probs["color"][:, i])
        rows.append({"label": label, "positives": int(y[:, i].sum()), "gray_auc": _num(r.auc_a),
                     "color_auc": _num(r.auc_b), "z": _num(r.z), "p_value": _num(r.p_value), "stars": stars(r.p_value)})
    defined = [r for r in rows if r["gray_auc"] is not None and r["color_auc"] is not None]
    latency = {}
    for key, model in (("gray", gray), ("color", color)):   # each model in its own block
        t = bench_model(key, model, [1], warmup=3, iters=latency_iters)[0]
        latency[key] = {"ms_per_image_p50": t.ms_per_image_p50, "ms_per_image_p90": t.ms_per_image_p90,
                        "backend": t.backend, "provider": t.provider, "input_bytes_per_image": t.input_bytes_per_image}
    return {"task": g.task, "images": n, "labels": rows,
            "mean_auc": {"gray": _mean([r["gray_auc"] for r in defined]),
                         "color": _mean([r["color_auc"] for r in defined])},
            "latency_batch1": latency, "gray_model": gray.source, "color_model": color.source,
            "undefined_labels": [r["label"] for r in rows if r not in defined]}


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _fmt(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2e}" if v < 1e-3 else f"{v:.3f}")


def comparison_markdown(result: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", "", f"{result['images']} test images. DeLong test for correlated ROC curves; "
             "* p < 0.05, ** p < 0.01.", "", "| label | positives | gray AUC | color AUC | p-value |",
             "|---|---:|---:|---:|---:|"]
    for r in result["labels"]:
        lines.append(f"| {r['label']} | {r['positives']} | {_fmt(r['gray_auc'])} | {_fmt(r['color_auc'])} | "
                     f"{_p(r['p_value'])}{r['stars']} |")
    m = result["mean_auc"]
    lines.append(f"| **mean** | | **{_fmt(m['gray'])}** | **{_fmt(m['color'])}** | |")
    lat = result["latency_batch1"]
    lines += ["", "| model | backend | ms/image (batch 1, p50) | input bytes/image |", "|---|---|---:|---:|"]
    for key in ("gray", "color"):
        lines.append(f"| {key} | {lat[key]['backend']} ({lat[key]['provider']}) | "
                     f"{lat[key]['ms_per_image_p50']:.2f} | {lat[key]['input_bytes_per_image']} |")
    return "\n".join(lines) + "\n"


def comparison_table(result: dict[str, Any], title: str):
    from rich.table import Table

    table = Table(title=title, caption="DeLong test; * p < 0.05, ** p < 0.01")
    for col, justify in (("label", "left"), ("pos", "right"), ("gray AUC", "right"), ("color AUC", "right"),
                         ("p-value", "right")):
        table.add_column(col, justify=justify)
    for r in result["labels"]:
        g, c = r["gray_auc"], r["color_auc"]
        better_gray = g is not None and c is not None and g > c
        table.add_row(r["label"], str(r["positives"]), ("[bold]" if better_gray else "") + _fmt(g),
                      ("[bold]" if (g is not None and c is not None and c > g) else "") + _fmt(c),
                      _p(r["p_value"]) + r["stars"])
    m, lat = result["mean_auc"], result["latency_batch1"]
    table.add_row("[bold]mean AUC", "", _fmt(m["gray"]), _fmt(m["color"]), "", end_section=True)
    table.add_row("ms/image (b1)", "", f"{lat['gray']['ms_per_image_p50']:.2f}",
                  f"{lat['color']['ms_per_image_p50']:.2f}", "")
    return table
