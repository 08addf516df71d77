"""The suites behind `gxr bench errors` and `gxr bench roc`: load models, predict a labelled split, write the
pictures (PNG), CSV and JSON. Commands only parse and print."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gxr.bench.errors import MistakeReport, find_mistakes, write_mistakes
from gxr.bench.plots import Curves, calibration_figure, expected_calibration_error, roc_figure
from gxr.core.errors import GxrError
from gxr.core.metrics import one_hot_targets, roc_auc
from gxr.core.modelinfo import probabilities
from gxr.core.provenance import machine_info
from gxr.data import open_source, split_pixels
from gxr.runtime import Model, data_spec_for, load


def run_errors(model_path: Path, out: Path, *, data: str | None = None, split: str = "test",
               labels: Sequence[str] | None = None, top: int = 8, limit: int | None = None
               ) -> tuple[MistakeReport, list[Path]]:
    """Every mistake of one model on one split; the contact sheet of the `top` most confident per label and
    kind, the CSV of all of them and a JSON summary under `out`."""
    if top < 1:
        raise GxrError(f"top {top}: must be >= 1")
    with load(model_path) as model:
        spec = data_spec_for(data, model)
        chosen = open_source(spec).split(split)
        mistakes, seen = find_mistakes(model, chosen, list(labels) if labels else None, limit)
        report = MistakeReport(str(model_path), spec, split, seen, list(labels) if labels else model.labels, mistakes)
    return report, write_mistakes(report, chosen, out, top)


@dataclass
class RocReport:
    data: str
    split: str
    images: int
    models: list[dict[str, Any]]        # name, path, channels, auc per label, mean AUC, ECE
    pictures: list[str]
    machine: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "roc", "data": self.data, "split": self.split, "images": self.images, "models": self.models,
                "pictures": self.pictures, "machine": self.machine}


def model_name(model: Model, others: Sequence[Model]) -> str:
    """"gray" / "color" when that tells the models apart, else the model's folder name too."""
    kind = "gray" if model.info.channels == 1 else "color"
    same = sum(1 for m in others if m.info.channels == model.info.channels)
    return kind if same == 1 else f"{kind} {Path(model.source).name}"


def _curves(model: Model, name: str, split, limit: int | None) -> Curves:
    info = model.info
    probs = probabilities(model.logits_from_pixels(split_pixels(split, info.channels, info.image_size, limit)),
                          info.task)
    truth = one_hot_targets(split.targets[:len(probs)], info.task, info.num_outputs)
    return Curves(name, info.channels, list(info.labels), truth, probs)


def _summary(c: Curves, path: Path) -> dict[str, Any]:
    aucs = {label: roc_auc(c.truth[:, j], c.probs[:, j]) for j, label in enumerate(c.labels)}
    defined = [v for v in aucs.values() if not math.isnan(v)]
    return {"name": c.name, "path": str(path), "channels": c.channels,
            "auc": {k: None if math.isnan(v) else v for k, v in aucs.items()},
            "mean_auc": sum(defined) / len(defined) if defined else None,
            "ece": expected_calibration_error(c.truth, c.probs)}


def calibration_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-calibration{out.suffix or '.png'}")


def run_roc(model_paths: Sequence[Path], out: Path, *, data: str | None = None, split: str = "test",
            limit: int | None = None) -> RocReport:
    """ROC curves per label (all models overlaid, AUC in the legend) to `out`, a reliability diagram beside
    it (`<out>-calibration.png`); the models must share labels."""
    models = [load(p) for p in model_paths]
    try:
        first = models[0]
        for m in models[1:]:
            if m.labels != first.labels or m.info.task != first.info.task:
                raise GxrError(f"{m.source}: labels/task differ from {first.source}; plot models of the same task")
        spec = data_spec_for(data, *models)
        chosen = open_source(spec).split(split)
        curves = [_curves(m, model_name(m, models), chosen, limit) for m in models]
    finally:
        for m in models:
            m.close()
    n = len(curves[0].probs)
    where = f"{Path(spec.partition(':')[2].split('?')[0]).name} {split} ({n} images)"
    roc_figure(curves, out, f"ROC per label: {where}", roc_auc)
    calibration_figure(curves, calibration_path(out), f"reliability: {where}")
    return RocReport(spec, split, n, [_summary(c, p) for c, p in zip(curves, model_paths)],
                     [str(out), str(calibration_path(out))], machine_info())
