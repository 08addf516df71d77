"""The precision/backend latency matrix: every (model, backend) cell timed in its own block of consecutive
runs, its speed-up against the FP32 graph of the same source model under ONNX Runtime, and its test AUC
delta against that same reference beside it (from the comparator). Warns by the noise rule (gxr.bench.noise).

A cell is a repository entry (an FP32, FP16 or INT8 graph of one checkpoint) under one backend:
`onnxruntime`, `openvino` (FP32 inference), `openvino:bf16` (the BF16 inference-precision hint), `torch`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from gxr.bench.latency import Timing, bench_model
from gxr.bench.noise import NoiseMonitor, NoiseRule
from gxr.core.comparator import auc_parity, auc_summary, compare
from gxr.core.scores import Scores
from gxr.runtime import Model, load, score_data

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
    auc_delta: float | None = None     # mean AUC minus the reference cell's, on the same images (comparator)
    threads: int | None = None         # intra-op threads asked for (None: the backend's default)
    label_agreement: float | None = None   # share of test decisions equal to the reference cell's
    problem: str | None = None         # why it could not be loaded or timed (one line); then nothing else is set


@dataclass(frozen=True)
class CellSpec:
    """One cell to measure: a repository entry under one backend with one thread count."""

    label: str
    path: Path
    backend: str
    threads: int | None = None


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


class CellScores:
    """Each cell's Scores on the test split (the first `limit` images), for its AUC and its AUC delta. A graph
    under one backend is scored once: its other thread counts compute the same function."""

    def __init__(self, data: str | None, limit: int):
        self.data, self.limit = data, limit
        self.by_cell: dict[str, Scores] = {}
        self._by_graph: dict[tuple[str, str], Scores] = {}

    def score(self, cell: Cell, model: Model) -> None:
        key = (cell.path, cell.backend)
        if key not in self._by_graph:
            self._by_graph[key] = score_data(model, self.data, "test", self.limit)
        scores = self.by_cell[cell.label] = self._by_graph[key]
        cell.mean_auc, cell.auc_images = auc_summary(scores).mean_auc, len(scores)

    def delta(self, cell: Cell, ref: Cell | None) -> float | None:
        if ref is None or cell.label not in self.by_cell or ref.label not in self.by_cell:
            return None
        return auc_parity(self.by_cell[ref.label], self.by_cell[cell.label]).mean_delta

    def agreement(self, cell: Cell, ref: Cell | None) -> float | None:
        """Share of the test images' decisions (top-1, or each label at p = 0.5) equal to the reference's."""
        if ref is None or cell.label not in self.by_cell or ref.label not in self.by_cell:
            return None
        return compare(self.by_cell[ref.label], self.by_cell[cell.label], ("tensor",)).tensor.label_agreement


def reference_of(cell: Cell, cells: list[Cell]) -> Cell | None:
    """The FP32 graph of the same source model under ONNX Runtime (with the same thread count when timed so)."""
    refs = [c for c in cells if c.source == cell.source and c.graph == "fp32" and c.backend == REFERENCE_BACKEND
            and c.problem is None]
    return next((c for c in refs if c.threads == cell.threads), refs[0] if refs else None)


def measure_cells(specs: list[CellSpec], batch_sizes: list[int], warmup: int, iters: int, scores: CellScores,
                  monitor: NoiseMonitor, on_step: Callable[[str], None] | None = None,
                  auc: bool = True) -> tuple[list[Cell], list[Timing]]:
    """Load, time (each cell in its own monitored block) and score every cell; a cell that cannot be loaded or
    run becomes a Cell with its one-line `problem` instead of stopping the others. Then AUC deltas and label
    agreement against each cell's reference."""
    from gxr.core.errors import GxrError, one_line

    cells, timings = [], []
    for spec in specs:
        name, source, graph = model_identity(spec.path)
        cell = Cell(spec.label, str(spec.path), spec.backend, source, graph, threads=spec.threads)
        try:
            with load(spec.path, backend=spec.backend, threads=spec.threads, recommended=False) as model:
                cell.provider = model.runner.provider
                with monitor.block(cell.label):
                    timings += bench_model(cell.label, model, batch_sizes, warmup, iters, None, on_step, group=name)
                cell.foreign_cpu = monitor.foreign_of(cell.label)
                if auc:
                    scores.score(cell, model)
        except (GxrError, RuntimeError, OSError, ValueError) as exc:   # a backend that cannot take this graph
            cell.problem = one_line(exc)
            if on_step:
                for batch in batch_sizes:
                    on_step(f"{cell.label} b{batch}: failed")
        cells.append(cell)
    for cell in cells:
        ref = reference_of(cell, cells)
        cell.auc_delta, cell.label_agreement = scores.delta(cell, ref), scores.agreement(cell, ref)
    return cells, timings


def matrix_rows(cells: list[Cell], timings: list[Timing]) -> list[dict[str, Any]]:
    """One row per compute timing: p50/p90, speed-up vs the reference cell (same mode and batch), AUC delta."""
    by_key = {(t.model, t.mode, t.batch): t for t in timings}
    rows = []
    for cell in cells:
        ref = reference_of(cell, cells)
        for t in (t for t in timings if t.model == cell.label):
            ref_t = by_key.get((ref.label, t.mode, t.batch)) if ref else None
            rows.append({"model": cell.label, "backend": cell.backend, "graph": cell.graph, "provider": cell.provider,
                         "mode": t.mode, "batch": t.batch, "p50_ms": t.ms_per_image_p50, "p90_ms": t.ms_per_image_p90,
                         "p90_over_p50": t.ms_per_image_p90 / t.ms_per_image_p50,
                         "speedup_vs_fp32_ort": ref_t.ms_per_image_p50 / t.ms_per_image_p50 if ref_t else None,
                         "reference": ref.label if ref else None, "mean_auc": cell.mean_auc,
                         "auc_delta": cell.auc_delta, "auc_images": cell.auc_images})
    return rows


def machine_with_backends() -> dict[str, Any]:
    """machine_info() plus the OpenVINO version (None when it is not installed)."""
    from importlib import metadata

    from gxr.core.provenance import machine_info

    machine = machine_info()
    try:
        machine["openvino"] = metadata.version("openvino")
    except metadata.PackageNotFoundError:
        machine["openvino"] = None
    return machine


def run_matrix(models: list[Path], backends: list[str], batch_sizes: list[int], warmup: int, iters: int,
               threads: int | None, data: str | None, auc_limit: int, on_step: Callable[[str], None] | None = None,
               noise_rule: NoiseRule = NoiseRule()) -> dict[str, Any]:
    """Time every (model, backend) cell in its own block (watched by the noise monitor), then score it on the
    test split; rows + warnings + raw timings."""
    from gxr.bench.latency import timings_json

    specs = []
    for path in models:
        name, _, graph = model_identity(path)
        specs += [CellSpec(f"{name} ({backend})", path, backend, threads) for backend in backends
                  if not (backend == "torch" and graph != "fp32")]   # torch runs the FP32 source checkpoint once
    monitor = NoiseMonitor(noise_rule)
    cells, timings = measure_cells(specs, batch_sizes, warmup, iters, CellScores(data, auc_limit), monitor, on_step,
                                   auc=auc_limit > 0)
    failed = [c for c in cells if c.problem]
    if failed:
        from gxr.core.errors import GxrError

        raise GxrError(f"{failed[0].path}: cannot run under {failed[0].backend}: {failed[0].problem}")
    machine = machine_with_backends()
    return {"kind": "latency-matrix", "machine": machine,
            "settings": {"models": [str(m) for m in models], "backends": backends, "batch_sizes": batch_sizes,
                         "warmup": warmup, "iters": iters, "threads": threads, "auc_images_max": auc_limit,
                         "noise_rule": asdict(noise_rule)},
            "cells": [asdict(c) for c in cells], "rows": matrix_rows(cells, timings), "noise": monitor.to_json(),
            "warnings": monitor.warnings(timings), "timings": timings_json(timings)}
