"""`gxr demo`, the main job: fine-tune gray and color models on a real X-ray task, export both to ONNX with
parity, compare their test AUCs (DeLong) and speed (one timing run feeds every table), and check the
exported models on real full-size radiographs."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from gxr.bench.machine_load import machine_load, timing_warnings
from gxr.core.fileio import write_json
from gxr.study.evaluation import delong_pair, score_split, strip_arrays
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
        "latency (one run feeds every table)", "gray vs color on the test split (DeLong)",
        "real full-size radiographs"])


class Steps:
    """Numbered step headers, each number used once: '3/7 export gray ...'."""

    def __init__(self, console: Console, names: list[str]):
        self.console, self.names, self.done = console, names, 0

    def next(self, detail: str = "") -> None:
        self.done += 1
        self.console.rule(f"[bold]{self.done}/{len(self.names)} {self.names[self.done - 1]}[/] {detail}".rstrip())


def default_data(root: Path) -> str:
    return f"npz:{root / 'covid' / 'covid_radiography_3class_128_balanced.npz'}"


def run_demo(settings: DemoSettings, out: Path, console: Console, data_root: Path | None) -> dict[str, Any]:
    """Run the whole demo into `out`; returns the summary (also written to out/summary.json)."""
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
    write_json(out / "latency.json", latency)
    steps.next()
    comparison = compare(out / "models", s.data, latency)
    write_json(out / "comparison.json", comparison)
    steps.next()
    fullsize = check_fullsize(out / "models", data_root)
    summary = {"data": s.data, "arch": s.arch, "image_size": s.image_size, "epochs": s.epochs, "lr": s.lr,
               "train_fraction": s.train_fraction, "label_smoothing": s.label_smoothing,
               "init": {"gray": str(s.init_gray) if s.init_gray else None,
                        "color": str(s.init_color) if s.init_color else None},
               "task": runs["gray"]["task"], "labels": runs["gray"]["labels"],
               "train_images": runs["gray"]["data"]["sizes"]["train"], "test_images": comparison["images"],
               "test_mean_auc": comparison["mean_auc"], "test_accuracy": comparison["accuracy"],
               "ms_per_image_b1": comparison["ms_per_image_b1"], "exported": exported,
               "timing_warnings": latency["warnings"], "fullsize": fullsize, "nih_caveat": NIH_CAVEAT,
               "seconds": time.perf_counter() - started}
    write_json(out / "summary.json", summary)
    return summary


def measure_latency(repo: Path, iters: int) -> dict[str, Any]:
    """ms/image of both exported models under ONNX Runtime and PyTorch, batch 1 and 8, each model in its own
    block; with a warning when other work was using the CPU or the timings are spread out."""
    from gxr.core.provenance import machine_info
    from gxr.runtime import load

    load_before = machine_load()
    rows = []
    for backend in ("onnxruntime", "torch"):
        for key in ("gray", "color"):
            with load(repo / key, backend=backend) as model:
                rows += time_models({key: model}, [1, 8], warmup=3, iters=iters)
    return {"timings": rows, "machine_load": load_before, "warnings": timing_warnings(load_before, rows),
            "machine": machine_info()}


def latency_b1(latency: dict[str, Any], key: str, backend: str = "onnxruntime") -> float:
    """The batch-1 p50 ms/image of one model from the demo's single timing run."""
    return next(t["ms_per_image_p50"] for t in latency["timings"]
                if t["model"] == key and t["backend"] == backend and t["batch"] == 1)


def compare(repo: Path, data: str, latency: dict[str, Any]) -> dict[str, Any]:
    """Test AUC per label of the exported (ONNX) models, DeLong p per label, accuracy, ms/image (batch 1)."""
    from gxr.data import open_source, split_pixels
    from gxr.runtime import load

    split = open_source(data).split("test")
    scores = {}
    for key in ("gray", "color"):
        with load(repo / key, backend="onnxruntime") as model:
            logits = model.logits_from_pixels(split_pixels(split, model.info.channels, model.info.image_size))
            task, labels = model.info.task, model.info.labels
        scores[key] = score_split(logits, split.targets, task, labels)
    rows = delong_pair(scores["gray"], scores["color"], task, labels)
    return {"task": task, "labels": labels, "images": len(split), "rows": rows,
            "mean_auc": {k: v["mean_auc"] for k, v in scores.items()},
            "accuracy": {k: v["accuracy"] for k, v in scores.items()},
            "ms_per_image_b1": {k: latency_b1(latency, k) for k in scores},
            "scores": {k: strip_arrays(v) for k, v in scores.items()}}


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
