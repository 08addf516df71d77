"""Gray vs color on the same test images: the paper's Table 2 (per-label AUC, DeLong p with Holm) and Table 4
(ms/image), for NIH ChestX-ray14 (`run_nih`) or any multi-label / binary / multi-class set (`run_compare`).
Scores and tests come from gxr.core.comparator; the paper's figures from gxr.core.paper."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gxr.bench.latency import Timing, bench_model
from gxr.bench.noise import NoiseMonitor
from gxr.core import paper
from gxr.core.comparator import MIN_POSITIVES, PairedAuc, delong_comparison, rule_text
from gxr.core.errors import GxrError
from gxr.core.provenance import machine_info
from gxr.core.scores import Scores
from gxr.runtime import Model, data_spec_for, load, score_data


@dataclass
class PaperFigures:
    """The published numbers printed beside a measured comparison (the paper's own benchmark only)."""

    labels: list[paper.PaperLabel]
    gray_mean_auc: float
    color_mean_auc: float
    gray_ms_per_image: float
    color_ms_per_image: float
    hardware: str

    @classmethod
    def nih(cls) -> PaperFigures:
        ms = paper.MS_PER_IMAGE["NIH"]
        return cls(list(paper.NIH_TABLE2), paper.NIH_MEAN_AUC["gray"], paper.NIH_MEAN_AUC["color"], ms["gray"],
                   ms["color"], paper.HARDWARE)

    def label(self, name: str) -> paper.PaperLabel | None:
        return next((row for row in self.labels if row.label == name), None)


@dataclass
class Comparison:
    title: str
    task: str
    data: str
    split: str
    auc: PairedAuc                            # a = gray, b = color
    latency_batch1: dict[str, Timing]         # "gray" / "color" -> batch-1 compute timing
    gray_model: str
    color_model: str
    trained: dict[str, str]                   # how each model was trained: data, epochs, size, init
    machine: dict[str, Any]
    timing_warnings: list[str] = field(default_factory=list)
    paper: PaperFigures | None = None         # the published numbers, where this is the paper's benchmark

    @property
    def images(self) -> int:
        return self.auc.images

    @property
    def rule(self) -> str:
        return rule_text(self.auc.min_positives)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: per label gray/color AUC, raw and Holm-adjusted p, means under the rule."""
        rows = [{"label": r.label, "positives": r.positives, "negatives": r.negatives, "gray_auc": r.auc_a,
                 "color_auc": r.auc_b, "z": r.z, "p_value": r.p_value, "p_holm": r.p_holm, "stars": r.stars,
                 "in_mean": r.eligible} for r in self.auc.rows]
        return {"kind": "gray-vs-color", "title": self.title, "task": self.task, "images": self.images,
                "data": self.data, "split": self.split, "labels": rows,
                "mean_auc": {"gray": self.auc.mean_auc_a, "color": self.auc.mean_auc_b},
                "min_positives": self.auc.min_positives, "rule": self.rule, "left_out": self.auc.left_out,
                "undefined_labels": [r.label for r in self.auc.rows if r.auc_a is None or r.auc_b is None],
                "latency_batch1": {k: asdict(t) for k, t in self.latency_batch1.items()},
                "gray_model": self.gray_model, "color_model": self.color_model, "trained": self.trained,
                "machine": self.machine, "timing_warnings": self.timing_warnings,
                "paper": asdict(self.paper) if self.paper else None}


def training_line(model: Model) -> str:
    """One sentence on what a model was trained on and from which initialisation."""
    t = model.provenance
    recipe, data = t.get("recipe") or {}, t.get("data") or {}
    sizes = data.get("sizes") or {}
    init = "; ".join(t.get("init") or []) or "from scratch (random initialisation)"
    return (f"{model.info.arch} {model.info.channels}-channel, trained on {data.get('spec', 'unknown data')} "
            f"({sizes.get('train', '?')} training images), {recipe.get('epochs', '?')} epochs at "
            f"{recipe.get('image_size', model.info.image_size)} px; init: {init}")


def check_gray_and_color(gray: Model, color: Model) -> None:
    g, c = gray.info, color.info
    if g.channels != 1 or c.channels != 3:
        raise GxrError(f"{gray.source}: the gray model must have 1 channel and the color model 3 "
                       f"(got {g.channels} and {c.channels})")
    if g.labels != c.labels or g.task != c.task:
        raise GxrError(f"{color.source}: labels/task differ from {gray.source}; compare models of the same task")


def score_pair(gray: Model, color: Model, data: str, split: str, limit: int | None) -> tuple[Scores, Scores]:
    """Both models' Scores on the same images (each decoded with its own preprocessing)."""
    check_gray_and_color(gray, color)
    return score_data(gray, data, split, limit), score_data(color, data, split, limit)


def batch1_latency(models: dict[str, Model], iters: int) -> tuple[dict[str, Timing], list[str]]:
    """Batch-1 compute timing of each model in its own block, with the noise rule's warnings."""
    monitor, out = NoiseMonitor(), {}
    for key, model in models.items():
        with monitor.block(key):
            out[key] = bench_model(key, model, [1], warmup=3, iters=iters)[0]
    return out, monitor.warnings(list(out.values()))


def run_compare(gray: Path, color: Path, *, data: str | None = None, split: str = "test", limit: int | None = None,
                iters: int = 20, title: str = "gray vs color (compare)",
                min_positives: int = MIN_POSITIVES) -> Comparison:
    """Gray vs color on one labelled set."""
    with load(gray) as g, load(color) as c:
        spec = data_spec_for(data, g, c)
        scores_g, scores_c = score_pair(g, c, spec, split, limit)
        latency, warnings = batch1_latency({"gray": g, "color": c}, iters)
        trained = {"gray": training_line(g), "color": training_line(c)}
    auc = delong_comparison(scores_g, scores_c, min_positives, "gray", "color")
    return Comparison(title, scores_g.task, spec, split, auc, latency, str(gray), str(color), trained,
                      machine_info(), warnings)


def run_nih(gray: Path, color: Path, *, data: str | None = None, split: str = "test", limit: int | None = None,
            iters: int = 20, min_positives: int = MIN_POSITIVES) -> Comparison:
    """The paper's NIH ChestX-ray14 benchmark: 14 labels in its order, its numbers beside the measured ones."""
    from gxr.data.nih import NIH_LABELS

    result = run_compare(gray, color, data=data, split=split, limit=limit, iters=iters, min_positives=min_positives,
                         title="NIH ChestX-ray14: gray vs color (Xie & Richmond 2018, Tables 2 and 4)")
    if [r.label for r in result.auc.rows] != NIH_LABELS:
        raise GxrError(f"{gray}: not an NIH ChestX-ray14 model (its labels are not the 14 NIH findings in the "
                       "paper's order); use the general comparison instead")
    result.paper = PaperFigures.nih()
    return result
