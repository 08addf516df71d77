"""The precision/backend latency matrix: every (model, backend) cell timed in its own block of consecutive
runs, its speed-up against the FP32 graph of the same source model under ONNX Runtime, and its test AUC
delta against that same reference beside it. Warns when the numbers are noisy.

A cell is a repository entry (an FP32, FP16 or INT8 graph of one checkpoint) under one backend:
`onnxruntime`, `openvino` (FP32 inference), `openvino:bf16` (the BF16 inference-precision hint), `torch`."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gxr.bench.latency import Timing, bench_model
from gxr.core.metrics import evaluate
from gxr.core.modelinfo import probabilities
from gxr.runtime import Model, load

NOISE_P90_OVER_P50 = 1.10
REFERENCE_BACKEND = "onnxruntime"


@dataclass
class Cell:
    label: str           # what the tables show: model name/version (backend)
    path: str
    backend: str         # as given to gxr.load (e.g. openvino:bf16)
    source: str          # sha256 prefix of the source checkpoint: cells of one model share it
    graph: str           # precision of the exported graph: fp32 | fp16 | int8
    provider: str = ""   # what the runner reports really ran
    mean_auc: float | None = None
    auc_images: int = 0
    foreign_cpu: float | None = None   # share of the CPUs other processes used while this cell was timed


def model_identity(path: Path) -> tuple[str, str, str]:
    """(label, source checkpoint sha256 prefix, graph precision) of a repository entry; other paths are
    their own source, FP32."""
    from gxr.core.errors import GxrError
    from gxr.core.repository import resolve_model_dir

    try:
        version_dir, manifest = resolve_model_dir(path)
    except GxrError:
        return str(path), str(path), "fp32"
    precision = (manifest.precision or {}).get("precision", "fp32")
    source = manifest.source.get("sha256", str(version_dir))[:12]
    return f"{manifest.name}/{manifest.version}", source, precision


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall s, CPU s busy on the whole machine, CPU s of this process) from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)   # minus idle and iowait
    times = os.times()
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), times.user + times.system


def foreign_cpu_share(before, after, cores: int) -> float | None:
    """Fraction of the machine's CPU capacity used by other processes between two snapshots."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    others = (after[1] - before[1]) - (after[2] - before[2])
    return max(0.0, others) / ((after[0] - before[0]) * cores)


def test_auc(model: Model, pixels: np.ndarray, targets: np.ndarray) -> float | None:
    """Mean test AUC of `model` on ready-made uint8 pixels."""
    probs = probabilities(model.logits_from_pixels(pixels), model.info.task)
    return evaluate(model.info.task, model.info.labels, targets, probs)["mean_auc"]


class TestImages:
    """Test-split pixels per (data spec, channels, size), decoded once for all cells."""

    def __init__(self, data: str | None, limit: int):
        self.data, self.limit, self.cache = data, limit, {}

    def get(self, model: Model) -> tuple[np.ndarray, np.ndarray, str]:
        from gxr.data import open_source, split_pixels
        from gxr.runtime import data_spec_for

        spec = data_spec_for(self.data, model)
        key = (spec, model.info.channels, model.info.image_size)
        if key not in self.cache:
            split = open_source(spec).split("test")
            pixels = split_pixels(split, model.info.channels, model.info.image_size, self.limit)
            self.cache[key] = (pixels, np.asarray(split.targets[:len(pixels)]), spec)
        return self.cache[key]


def reference_of(cell: Cell, cells: list[Cell]) -> Cell | None:
    """The FP32 graph of the same source model under ONNX Runtime."""
    return next((c for c in cells if c.source == cell.source and c.graph == "fp32"
                 and c.backend == REFERENCE_BACKEND), None)


def matrix_rows(cells: list[Cell], timings: list[Timing]) -> list[dict[str, Any]]:
    """One row per compute timing: p50/p90, speed-up vs the reference cell (same mode and batch), AUC delta."""
    by_key = {(t.model, t.mode, t.batch): t for t in timings}
    rows = []
    for cell in cells:
        ref = reference_of(cell, cells)
        for t in (t for t in timings if t.model == cell.label):
            ref_t = by_key.get((ref.label, t.mode, t.batch)) if ref else None
            both = ref is not None and cell.mean_auc is not None and ref.mean_auc is not None
            delta = cell.mean_auc - ref.mean_auc if both else None
            rows.append({"model": cell.label, "backend": cell.backend, "graph": cell.graph, "provider": cell.provider,
                         "mode": t.mode, "batch": t.batch, "p50_ms": t.ms_per_image_p50, "p90_ms": t.ms_per_image_p90,
                         "p90_over_p50": t.ms_per_image_p90 / t.ms_per_image_p50,
                         "speedup_vs_fp32_ort": ref_t.ms_per_image_p50 / t.ms_per_image_p50 if ref_t else None,
                         "reference": ref.label if ref else None, "mean_auc": cell.mean_auc, "auc_delta": delta,
                         "auc_images": cell.auc_images})
    return rows


def noise_warnings(rows: list[dict[str, Any]], loads: list[float], cores: int,
                   threshold: float = NOISE_P90_OVER_P50) -> list[str]:
    """Human-readable warnings: spread within a block, or a busy machine while timing."""
    warnings = [f"{r['model']} ({r['backend']}) {r['mode']} b{r['batch']}: p90/p50 = {r['p90_over_p50']:.2f} > "
                f"{threshold:g} (noisy)" for r in rows if r["p90_over_p50"] > threshold]
    busy = [x for x in loads if x > cores]
    if busy:
        warnings.append(f"load average reached {max(busy):.2f} on {cores} cores while timing: other work was "
                        "running, timings are unreliable")
    return warnings


def foreign_warnings(cells: list[Cell], threshold: float = 0.05) -> list[str]:
    return [f"{c.label}: other processes used {c.foreign_cpu:.0%} of the CPUs while it was timed"
            for c in cells if c.foreign_cpu is not None and c.foreign_cpu > threshold]


def run_matrix(models: list[Path], backends: list[str], batch_sizes: list[int], warmup: int, iters: int,
               threads: int | None, data: str | None, auc_limit: int, on_step: Callable[[str], None] | None = None,
               noise_threshold: float = NOISE_P90_OVER_P50) -> dict[str, Any]:
    """Time every (model, backend) cell in its own block, then its test AUC; rows + warnings + raw timings."""
    from gxr.core.provenance import machine_info

    cells, timings, loads = [], [], []
    images = TestImages(data, auc_limit)
    for path in models:
        name, source, graph = model_identity(path)
        for backend in backends:
            if backend == "torch" and graph != "fp32":   # torch runs the FP32 source checkpoint: timed once
                continue
            with load(path, backend=backend, threads=threads) as model:
                cell = Cell(f"{name} ({backend})", str(path), backend, source, graph, model.runner.provider)
                loads.append(load_average())
                before = cpu_snapshot()
                timings += bench_model(cell.label, model, batch_sizes, warmup, iters, None, on_step, group=name)
                cell.foreign_cpu = foreign_cpu_share(before, cpu_snapshot(), os.cpu_count() or 1)
                loads.append(load_average())
                if auc_limit > 0:
                    pixels, targets, spec = images.get(model)
                    cell.mean_auc, cell.auc_images = test_auc(model, pixels, targets), len(pixels)
                cells.append(cell)
    rows = matrix_rows(cells, timings)
    cores = os.cpu_count() or 1
    from importlib import metadata

    from gxr.bench.latency import timings_json

    machine = machine_info()
    try:
        machine["openvino"] = metadata.version("openvino")
    except metadata.PackageNotFoundError:
        machine["openvino"] = None
    return {"kind": "latency-matrix", "machine": machine,
            "settings": {"models": [str(m) for m in models], "backends": backends, "batch_sizes": batch_sizes,
                         "warmup": warmup, "iters": iters, "threads": threads, "auc_images_max": auc_limit,
                         "noise_threshold_p90_over_p50": noise_threshold},
            "cells": [asdict(c) for c in cells], "rows": rows, "load_averages": loads,
            "warnings": noise_warnings(rows, loads, cores, noise_threshold) + foreign_warnings(cells),
            "timings": timings_json(timings)}
