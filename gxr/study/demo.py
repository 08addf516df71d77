"""`gxr demo`, the main job: fine-tune gray and color models on a real X-ray task, export both to ONNX with
parity, compare their test AUCs (DeLong) and speed (one timing run feeds every table), and check the
exported models on real full-size radiographs."""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from gxr.bench.latency import Timing
from gxr.bench.noise import NoiseMonitor
from gxr.core.comparator import AucSummary, PairedAuc, auc_summary, delong_comparison
from gxr.core.fileio import write_json
from gxr.core.scores import Scores
from gxr.study.stages import export_stage, time_models, train_stage

NIH_CAVEAT = ("the shipped NIH set is 1000 images at 64 px (701 for training): 14-label AUCs from it are close to "
              "chance and say little about gray vs color; the paper used 112,120 images at 299 px")


@dataclass
class DemoSettings:
    """Defaults sized for about 10 minutes on 2 CPU cores with test AUC >= 0.90 for both models."""
    data: str | None = None        # default: the COVID-19 Radiography 3-class set under the data root
    arch: str = "inception_v3"
    epochs: int = 3
    image_size: int = 80
    batch_size: int = 32
    lr: float = 1e-3
    train_fraction: float = 1.0
    label_smoothing: float = 0.1   # bounds the logits (no more -12,910 on real images); multi-class tasks only
    init_gray: Path | None = None
    init_color: Path | None = None
    iters: int = 20
    device: str = "cpu"
    steps: list[str] = field(default_factory=lambda: [
        "fine-tune gray", "fine-tune color", "export gray to ONNX + parity", "export color to ONNX + parity",
        "latency (one run feeds every table)", "gray vs color on the test split (DeLong, Holm)",
        "real full-size radiographs"])


class Steps:
    """Numbered step headers, each number used once: '3/7 export gray ...'."""

    def __init__(self, console: Console, names: list[str]):
        self.console, self.names, self.done = console, names, 0

    def next(self, detail: str = "") -> None:
        self.done += 1
        self.console.rule(f"[bold]{self.done}/{len(self.names)} {self.names[self.done - 1]}[/] {detail}".rstrip())


def default_data(root: Path) -> str:
    from gxr.study.context import data_specs

    return data_specs(root)["covid"]


@dataclass
class DemoLatency:
    """The demo's one timing run: every table that quotes a time reads it from here."""

    timings: list[Timing]
    warnings: list[str]
    noise: dict[str, Any]
    machine: dict[str, Any]

    def batch1_ms(self, key: str, backend: str = "onnxruntime") -> float:
        """The batch-1 p50 ms/image of one model."""
        return next(t.ms_per_image_p50 for t in self.timings
                    if t.model == key and t.backend == backend and t.batch == 1)

    def to_json(self) -> dict[str, Any]:
        return {"timings": [asdict(t) for t in self.timings], "warnings": self.warnings, "noise": self.noise,
                "machine": self.machine}


@dataclass
class DemoSummary:
    settings: DemoSettings
    out: Path
    task: str
    labels: list[str]
    train_images: int
    tests: dict[str, AucSummary]          # "gray" / "color" -> test-split summary of the exported model
    comparison: PairedAuc                 # gray (a) vs color (b), DeLong with Holm
    latency: DemoLatency
    exported: dict[str, Any]
    fullsize: dict[str, Any] | None
    seconds: float

    @property
    def ms_per_image_b1(self) -> dict[str, float]:
        return {key: self.latency.batch1_ms(key) for key in self.tests}

    def comparison_json(self) -> dict[str, Any]:
        return {"task": self.task, "labels": self.labels, "images": self.comparison.images,
                "comparison": self.comparison.to_json(), "tests": {k: v.to_json() for k, v in self.tests.items()},
                "ms_per_image_b1": self.ms_per_image_b1}

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {"data": s.data, "arch": s.arch, "image_size": s.image_size, "epochs": s.epochs, "lr": s.lr,
                "train_fraction": s.train_fraction, "label_smoothing": s.label_smoothing,
                "init": {"gray": str(s.init_gray) if s.init_gray else None,
                         "color": str(s.init_color) if s.init_color else None},
                "task": self.task, "labels": self.labels, "train_images": self.train_images,
                "test_images": self.comparison.images,
                "test_mean_auc": {k: v.mean_auc for k, v in self.tests.items()},
                "test_accuracy": {k: v.accuracy for k, v in self.tests.items()},
                "ms_per_image_b1": self.ms_per_image_b1, "exported": self.exported,
                "timing_warnings": self.latency.warnings, "fullsize": self.fullsize, "nih_caveat": NIH_CAVEAT,
                "seconds": self.seconds}


def run_demo(settings: DemoSettings, out: Path, console: Console, data_root: Path | None) -> DemoSummary:
    """Run the whole demo into `out`; returns the summary (also written to out/summary.json, with the comparison
    in out/comparison.json and the timings in out/latency.json)."""
    from gxr.train.recipes import FinetuneRecipe

    s, started = settings, time.perf_counter()
    steps = Steps(console, s.steps)
    runs = {}
    for key, channels, init in (("gray", 1, s.init_gray), ("color", 3, s.init_color)):
        steps.next(f"({channels}-channel {s.arch}, {s.image_size}px, {s.epochs} epochs)")
        recipe = FinetuneRecipe(arch=s.arch, channels=channels, epochs=s.epochs, batch_size=s.batch_size, lr=s.lr,
                                image_size=s.image_size, patience=s.epochs, train_fraction=s.train_fraction,
                                label_smoothing=s.label_smoothing, device=s.device)
        runs[key] = train_stage(out / key, False, recipe, s.data, console, init=init)
    exported = {}
    for key in runs:
        steps.next()
        exported[key] = export_stage(out / key, out / "models", key, s.data)
        p = exported[key]["parity"]
        console.print(f"{exported[key]['path']}: max rel error {p['max_rel_error']:.2e}, label agreement "
                      f"{p['label_agreement']:.0%} on {p['images']} real test images")
    steps.next()
    latency = measure_latency(out / "models", s.iters)
    write_json(out / "latency.json", latency.to_json())
    steps.next()
    scores = exported_test_scores(out / "models", s.data)
    steps.next()
    summary = DemoSummary(s, out, runs["gray"]["task"], runs["gray"]["labels"], runs["gray"]["data"]["sizes"]["train"],
                          {k: auc_summary(v) for k, v in scores.items()},
                          delong_comparison(scores["gray"], scores["color"], name_a="gray", name_b="color"),
                          latency, exported, check_fullsize(out / "models", data_root),
                          time.perf_counter() - started)
    write_json(out / "comparison.json", summary.comparison_json())
    write_json(out / "summary.json", summary.to_json())
    return summary


def measure_latency(repo: Path, iters: int) -> DemoLatency:
    """ms/image of both exported models under ONNX Runtime and PyTorch, batch 1 and 8, each model in its own
    block, watched by the noise rule."""
    from gxr.core.provenance import machine_info
    from gxr.runtime import load

    monitor, timings = NoiseMonitor(), []
    for backend in ("onnxruntime", "torch"):
        for key in ("gray", "color"):
            with load(repo / key, backend=backend) as model, monitor.block(f"{key} ({backend})"):
                timings += time_models({key: model}, [1, 8], warmup=3, iters=iters)
    return DemoLatency(timings, monitor.warnings(timings), monitor.to_json(), machine_info())


def exported_test_scores(repo: Path, data: str) -> dict[str, Scores]:
    """Both exported (ONNX) models' Scores on the test split."""
    from gxr.runtime import load, score_data

    out = {}
    for key in ("gray", "color"):
        with load(repo / key, backend="onnxruntime") as model:
            out[key] = score_data(model, data, "test")
    return out


def check_fullsize(repo: Path, data_root: Path | None) -> dict[str, Any] | None:
    """Both exported models on the shipped full-size radiographs (2000-2500 px PNGs, as hospitals store
    them): largest |logit| and the predicted class per image, with the collection's own finding."""
    from gxr.runtime import load

    folder = data_root / "fullsize" if data_root else None
    if folder is None or not folder.is_dir():
        return None
    files = sorted(folder.glob("*.png"))
    findings = _findings(folder / "metadata.csv")
    out: dict[str, Any] = {"images": len(files), "files": [f.name for f in files],
                           "finding": [findings.get(f.name) for f in files]}
    for key in ("gray", "color"):
        with load(repo / key) as model:
            logits = np.concatenate([model.logits([f]) for f in files])
            probs = model.predict(files)
            out[key] = {"max_abs_logit": float(np.abs(logits).max()), "labels": model.labels,
                        "predicted": [model.labels[i] for i in probs.argmax(axis=1)] if probs.shape[1] > 1
                        else probs[:, 0].round(3).tolist(),
                        "max_probability": probs.max(axis=1).round(4).tolist()}
    return out


def _findings(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        return {row["imagename"]: row["finding"] for row in csv.DictReader(fh)}
