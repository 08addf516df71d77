"""The suites behind `gxr bench errors` and `gxr bench roc` (reviewing a model's outputs): load models, score a
labelled split through the runtime, write the pictures (PNG), CSV and JSON. Commands only parse and print."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gxr.bench.mistakes import MistakeReport, find_mistakes, write_mistakes
from gxr.bench.plots import Curves, calibration_figure, roc_figure
from gxr.core.comparator import AucSummary, auc_summary
from gxr.core.errors import GxrError
from gxr.core.provenance import machine_info
from gxr.data import open_source
from gxr.runtime import Model, data_spec_for, load, score_split


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
class RocModel:
    name: str
    path: str
    channels: int
    summary: AucSummary


@dataclass
class RocReport:
    data: str
    split: str
    images: int
    models: list[RocModel]
    pictures: list[str]
    machine: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "roc", "data": self.data, "split": self.split, "images": self.images,
                "models": [{"name": m.name, "path": m.path, "channels": m.channels, **m.summary.to_json()}
                           for m in self.models], "pictures": self.pictures, "machine": self.machine}


def model_name(model: Model, others: Sequence[Model]) -> str:
    """"gray" / "color" when that tells the models apart, else the model's folder name too."""
    kind = "gray" if model.info.channels == 1 else "color"
    same = sum(1 for m in others if m.info.channels == model.info.channels)
    return kind if same == 1 else f"{kind} {Path(model.source).name}"


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
        curves = [Curves(model_name(m, models), m.info.channels, score_split(m, chosen, limit, spec, split))
                  for m in models]
    finally:
        for m in models:
            m.close()
    n = len(curves[0].scores)
    where = f"{Path(spec.partition(':')[2].split('?')[0]).name} {split} ({n} images)"
    roc_figure(curves, out, f"ROC per label: {where}")
    calibration_figure(curves, calibration_path(out), f"reliability: {where}")
    return RocReport(spec, split, n, [RocModel(c.name, str(p), c.channels, auc_summary(c.scores))
                                      for c, p in zip(curves, model_paths)],
                     [str(out), str(calibration_path(out))], machine_info())
