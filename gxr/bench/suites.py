"""The benchmark suites behind `gxr bench latency | parity | compare | nih`: load models, measure, and
return a report (dataclass + JSON); commands only parse and render.

Each model is timed in its own block of consecutive runs; every report carries the machine it ran on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gxr.bench.endtoend import Breakdown, StreamRate, pool_comparison, stage_breakdown
from gxr.bench.latency import (
    Timing,
    backend_speedups,
    bench_model,
    gray_color_ratios,
    sample_image_files,
    temp_folder,
)
from gxr.bench.noise import NoiseMonitor
from gxr.core.decodepool import default_decode_workers
from gxr.core.errors import GxrError
from gxr.core.inputs import collect_inputs
from gxr.core.provenance import machine_info
from gxr.runtime import Model, load

Step = Callable[[str], None]


@dataclass
class LatencyReport:
    timings: list[Timing]
    settings: dict[str, Any]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)       # e.g. a provider that fell back to the CPU
    warnings: list[str] = field(default_factory=list)    # noisy timings, a loaded machine
    breakdowns: list[Breakdown] = field(default_factory=list)   # end to end: ms per stage
    streams: list[StreamRate] = field(default_factory=list)     # end to end: images/s with / without the pool

    @property
    def gray_over_color(self) -> list[dict[str, Any]]:
        return gray_color_ratios(self.timings)

    @property
    def torch_over_onnxruntime(self) -> list[dict[str, Any]]:
        return backend_speedups(self.timings)

    def batch1_ms(self, label: str, mode: str = "compute") -> float | None:
        """p50 ms/image at batch 1 of one model (by label), for tables that quote it elsewhere."""
        return next((t.ms_per_image_p50 for t in self.timings
                     if t.group == label and t.mode == mode and t.batch == 1), None)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "latency", "machine": self.machine, "settings": self.settings,
                "timings": [asdict(t) for t in self.timings], "gray_over_color": self.gray_over_color,
                "torch_over_onnxruntime": self.torch_over_onnxruntime, "notes": self.notes,
                "warnings": self.warnings, "end_to_end": {"breakdown": [b.to_json() for b in self.breakdowns],
                                                          "decode_pool": [r.to_json() for r in self.streams]}}


def latency_steps(models: Sequence[Path], backends: Sequence[str], batch_sizes: Sequence[int],
                  end_to_end: bool) -> int:
    """How many progress steps `run_latency` reports."""
    return len(models) * len(backends) * (len(batch_sizes) * (3 if end_to_end else 1) + (1 if end_to_end else 0))


def end_to_end_files(model: Model, images: Path | None, data: str | None, count: int, folder: Path) -> list[Path]:
    """The files to time end to end: the images under `images` (a folder or one file), else real test images
    of the model's data written as PNG."""
    if images is None:
        return sample_image_files(model, data, count, folder)
    return collect_inputs([images]).files


def time_end_to_end(label: str, model: Model, files: list[Path], batch_sizes: Sequence[int], stream: int,
                    on_step: Step | None) -> tuple[Breakdown, list[StreamRate]]:
    """Stage breakdown at batch 1, then images/s over `stream` files per batch size, without and with the pool
    (alternated, three rounds each)."""
    breakdown = stage_breakdown(label, model, files)
    _step(on_step, f"{label} stages")
    rates = []
    for batch in batch_sizes:
        rates += pool_comparison(label, model, files, max(stream, batch), batch, default_decode_workers())
        _step(on_step, f"{label} stream b{batch}")
    return breakdown, rates


def _step(on_step: Step | None, text: str) -> None:
    if on_step:
        on_step(text)


def run_latency(models: Sequence[Path], *, backends: Sequence[str] = ("auto",), batch_sizes: Sequence[int] = (1, 8, 32),
                warmup: int = 5, iters: int = 30, threads: int | None = None, end_to_end: bool = False,
                data: str | None = None, device: str = "cpu", labels: Sequence[str] | None = None,
                torch_options=None, device_resident: bool = False, on_step: Step | None = None,
                images: Path | None = None, stream: int = 48) -> LatencyReport:
    """ms/image per model, backend and batch size: compute-only, and with `end_to_end` from encoded files
    (`images`, a folder, or real test images of the model's data): per-batch timings, the time per stage, and
    images/s over a stream of `stream` files with and without the decode pool."""
    if labels is not None and len(labels) != len(models):
        raise GxrError(f"{len(labels)} labels for {len(models)} models")
    timings: list[Timing] = []
    notes: list[str] = []
    breakdowns: list[Breakdown] = []
    streams: list[StreamRate] = []
    monitor = NoiseMonitor()
    with temp_folder() as tmp:
        for i, path in enumerate(models):
            name = labels[i] if labels else str(path)
            files = None
            for backend in backends:   # one model at a time, each backend in its own block
                with load(path, backend=backend, device=device, threads=threads, torch_options=torch_options) as m, \
                        monitor.block(f"{name} ({backend})"):
                    if end_to_end and files is None:
                        files = end_to_end_files(m, images, data, max(batch_sizes), Path(tmp) / str(i))
                    label = name if len(backends) == 1 else f"{name} ({m.backend})"
                    timings += bench_model(label, m, batch_sizes, warmup, iters, files, on_step, group=name,
                                           device_resident=device_resident)
                    if end_to_end:
                        breakdown, rates = time_end_to_end(label, m, files, batch_sizes, stream, on_step)
                        breakdowns.append(breakdown)
                        streams += rates
                    if m.runner.fallback_note:
                        notes.append(f"{path}: {m.runner.fallback_note}")
    settings = {"models": [str(p) for p in models], "backends": list(backends), "batch_sizes": list(batch_sizes),
                "warmup": warmup, "iters": iters, "threads": threads, "device": device, "end_to_end": end_to_end,
                "device_resident": device_resident, "images": str(images) if images else None,
                "stream_images": stream if end_to_end else None,
                "torch_options": torch_options.to_dict() if torch_options else None, "noise": monitor.to_json()}
    return LatencyReport(timings, settings, machine_info(), notes, monitor.warnings(timings), breakdowns, streams)
