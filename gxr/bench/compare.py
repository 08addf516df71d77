"""Gray vs color on the same test images: the paper's Table 2 (per-label AUC, DeLong p) and Table 4
(ms/image), for NIH ChestX-ray14 (`run_nih`) or any multi-label / binary / multi-class set (`run_compare`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gxr.bench.latency import bench_model
from gxr.core.errors import GxrError
from gxr.core.metrics import delong_test, one_hot_targets, stars
from gxr.core.modelinfo import probabilities
from gxr.core.provenance import machine_info
from gxr.data import Split, open_source, split_pixels
from gxr.runtime import Model, data_spec_for, load

# Xie & Richmond 2018, NIH ChestX-ray14 test split, Inception-V3 pre-trained on ImageNet and fine-tuned:
# the mean AUCs they report (per-label values of their Table 2 are not carried here).
PAPER_NIH = {"gray_mean_auc": 0.7706, "color_mean_auc": 0.7498, "gray_ms_per_image": 6.4,
             "color_ms_per_image": 8.0, "hardware": "GTX 1080 Ti"}


@dataclass
class LabelRow:
    label: str
    positives: int
    gray_auc: float | None
    color_auc: float | None
    z: float | None
    p_value: float | None
    stars: str


@dataclass
class Comparison:
    title: str
    task: str
    images: int
    data: str
    split: str
    labels: list[LabelRow]
    mean_auc: dict[str, float | None]
    latency_batch1: dict[str, dict[str, Any]]
    gray_model: str
    color_model: str
    trained: dict[str, str]                  # how each model was trained: data, epochs, size, init
    machine: dict[str, Any]
    undefined_labels: list[str] = field(default_factory=list)
    paper: dict[str, Any] | None = None      # the published numbers, where this is the paper's benchmark

    def to_json(self) -> dict[str, Any]:
        return {"kind": "gray-vs-color", **asdict(self)}


def training_line(model: Model) -> str:
    """One sentence on what a model was trained on and from which initialisation."""
    t = model.provenance
    recipe, data = t.get("recipe") or {}, t.get("data") or {}
    sizes = data.get("sizes") or {}
    init = "; ".join(t.get("init") or []) or "from scratch (random initialisation)"
    return (f"{model.info.arch} {model.info.channels}-channel, trained on {data.get('spec', 'unknown data')} "
            f"({sizes.get('train', '?')} training images), {recipe.get('epochs', '?')} epochs at "
            f"{recipe.get('image_size', model.info.image_size)} px; init: {init}")


def _batch1_latency(model: Model, iters: int) -> dict[str, Any]:
    t = bench_model("b1", model, [1], warmup=3, iters=iters)[0]
    return {"ms_per_image_p50": t.ms_per_image_p50, "ms_per_image_p90": t.ms_per_image_p90, "backend": t.backend,
            "provider": t.provider, "input_bytes_per_image": t.input_bytes_per_image}


def compare_models(gray: Model, color: Model, split: Split, limit: int | None = None,
                   latency_iters: int = 20) -> tuple[list[LabelRow], int, dict[str, dict[str, Any]]]:
    """Per-label AUC + DeLong on the same images, then ms/image at batch 1 (each model in its own block)."""
    g, c = gray.info, color.info
    if g.channels != 1 or c.channels != 3:
        raise GxrError(f"{gray.source}: the gray model must have 1 channel and the color model 3 "
                       f"(got {g.channels} and {c.channels})")
    if g.labels != c.labels or g.task != c.task:
        raise GxrError(f"{color.source}: labels/task differ from {gray.source}; compare models of the same task")
    probs = {key: probabilities(m.logits_from_pixels(split_pixels(split, m.info.channels, m.info.image_size, limit)),
                                m.info.task) for key, m in (("gray", gray), ("color", color))}
    n = len(probs["gray"])
    y = one_hot_targets(split.targets[:n], g.task, len(g.labels))
    rows = []
    for i, label in enumerate(g.labels):
        r = delong_test(y[:, i], probs["gray"][:, i], probs["color"][:, i])
        rows.append(LabelRow(label, int(y[:, i].sum()), _num(r.auc_a), _num(r.auc_b), _num(r.z), _num(r.p_value),
                             stars(r.p_value)))
    latency = {key: _batch1_latency(m, latency_iters) for key, m in (("gray", gray), ("color", color))}
    return rows, n, latency


def run_compare(gray: Path, color: Path, *, data: str | None = None, split: str = "test", limit: int | None = None,
                iters: int = 20, title: str = "gray vs color (compare)") -> Comparison:
    """Gray vs color on one labelled set."""
    with load(gray) as g, load(color) as c:
        spec = data_spec_for(data, g, c)
        rows, n, latency = compare_models(g, c, open_source(spec).split(split), limit, iters)
        trained = {"gray": training_line(g), "color": training_line(c)}
    defined = [r for r in rows if r.gray_auc is not None and r.color_auc is not None]
    return Comparison(title, g.info.task, n, spec, split, rows,
                      {"gray": _mean([r.gray_auc for r in defined]), "color": _mean([r.color_auc for r in defined])},
                      latency, str(gray), str(color), trained, machine_info(),
                      [r.label for r in rows if r not in defined])


def run_nih(gray: Path, color: Path, *, data: str | None = None, split: str = "test", limit: int | None = None,
            iters: int = 20) -> Comparison:
    """The paper's NIH ChestX-ray14 benchmark: 14 labels in its order, its numbers beside the measured ones."""
    from gxr.data.nih import NIH_LABELS

    result = run_compare(gray, color, data=data, split=split, limit=limit, iters=iters,
                         title="NIH ChestX-ray14: gray vs color (Xie & Richmond 2018, Tables 2 and 4)")
    if [r.label for r in result.labels] != NIH_LABELS:
        raise GxrError(f"{gray}: not an NIH ChestX-ray14 model (its labels are not the 14 NIH findings in the "
                       "paper's order); use the general comparison instead")
    result.paper = dict(PAPER_NIH)
    return result


def _num(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _mean(values: list[float | None]) -> float | None:
    return float(np.mean(values)) if values else None
