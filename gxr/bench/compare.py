"""Gray vs color on the same test images: the paper's Table 2 (per-label AUC, DeLong p) and Table 4
(ms/image), for NIH or any multi-label / binary / multi-class set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gxr.bench.latency import bench_model
from gxr.core.errors import GxrError
from gxr.core.metrics import delong_test, one_hot_targets, stars
from gxr.core.modelinfo import probabilities
from gxr.data import Split, split_pixels


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


