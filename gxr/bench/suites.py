"""The benchmark suites behind `gxr bench latency | parity | compare | nih`: load models, measure, and
return a report (dataclass + JSON); commands only parse and render.

Each model is timed in its own block of consecutive runs; every report carries the machine it ran on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gxr.bench.endtoend import Breakdown, StreamRate, pool_comparison, stage_breakdown
from gxr.bench.inputfiles import make_files
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

if TYPE_CHECKING:
    from gxr.backends.torch_runner import TorchOptions

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


@dataclass(frozen=True)
class LatencyOptions:
    """What `run_latency` times and how: backends and batch sizes, warmup and timed runs per batch, the device
    and runner settings, and (`end_to_end`) the image files and stream length for the decode-to-logits timings."""

    backends: tuple[str, ...] = ("auto",)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    warmup: int = 5
    iters: int = 30
    threads: int | None = None                  # intra-op threads for torch and ONNX Runtime
    device: str = "cpu"
    torch_options: TorchOptions | None = None
    device_resident: bool = False               # torch: also time with the input already on the device
    end_to_end: bool = False
    data: str | None = None                     # end to end: data spec of the test images (default: the model's)
    images: Path | None = None                  # end to end: these files (a folder or one file) instead
    stream: int = 48                            # end to end: images per stream with and without the decode pool
    formats: tuple[str, ...] = ()               # end to end: also time these formats made from the files
    decoders: tuple[str, ...] = ("auto",)       # end to end: stage breakdowns with these decoder choices
    labels: tuple[str, ...] | None = None       # one display name per model (default: its path)

    def steps(self, models: Sequence[Path]) -> int:
        """How many progress steps `run_latency` reports for `models`."""
        breakdowns = len(self.decoders) + len(self.formats)
        per_backend = len(self.batch_sizes) * (3 if self.end_to_end else 1) + (breakdowns if self.end_to_end else 0)
        return len(models) * len(self.backends) * per_backend

    def settings(self, models: Sequence[Path], monitor: NoiseMonitor) -> dict[str, Any]:
        """The report's `settings` record."""
        return {"models": [str(p) for p in models], "backends": list(self.backends),
                "batch_sizes": list(self.batch_sizes), "warmup": self.warmup, "iters": self.iters,
                "threads": self.threads, "device": self.device, "end_to_end": self.end_to_end,
                "device_resident": self.device_resident, "images": str(self.images) if self.images else None,
                "stream_images": self.stream if self.end_to_end else None, "formats": list(self.formats),
                "decoders": list(self.decoders),
                "torch_options": self.torch_options.to_dict() if self.torch_options else None,
                "noise": monitor.to_json()}


def end_to_end_files(model: Model, images: Path | None, data: str | None, count: int, folder: Path) -> list[Path]:
    """The files to time end to end: the images under `images` (a folder or one file), else real test images
    of the model's data written as PNG."""
    if images is None:
        return sample_image_files(model, data, count, folder)
    return collect_inputs([images]).files


def time_end_to_end(label: str, model: Model, files: list[Path], options: LatencyOptions, folder: Path,
                    on_step: Step | None) -> tuple[list[Breakdown], list[StreamRate]]:
    """Stage breakdowns at batch 1 (the files with each decoder choice, then each of `options.formats` made
    from them in `folder`, with the first: JPEG and DICOM files have no `fast` decoder, so the choice changes
    nothing there), then images/s over `options.stream` of the files per batch size, without and with the
    pool (alternated, three rounds each)."""
    breakdowns = []
    for fmt in ("files", *options.formats):
        paths = files if fmt == "files" else make_files(files, fmt, folder / fmt)
        for decoders in options.decoders if fmt == "files" else options.decoders[:1]:
            breakdowns.append(stage_breakdown(label, model, paths, file_format=fmt, decoders=decoders))
            _step(on_step, f"{label} stages {fmt} {decoders}")
    rates = []
    for batch in options.batch_sizes:
        rates += pool_comparison(label, model, files, max(options.stream, batch), batch, default_decode_workers())
        _step(on_step, f"{label} stream b{batch}")
    return breakdowns, rates


def _step(on_step: Step | None, text: str) -> None:
    if on_step:
        on_step(text)


def run_latency(models: Sequence[Path], options: LatencyOptions = LatencyOptions(),
                on_step: Step | None = None) -> LatencyReport:
    """ms/image per model, backend and batch size: compute-only, and with `options.end_to_end` from encoded
    files (`options.images`, a folder, or real test images of the model's data): per-batch timings, the time
    per stage, and images/s over a stream of `options.stream` files with and without the decode pool.
    `on_step` hears each finished step (`options.steps(models)` in all)."""
    o = options
    if o.labels is not None and len(o.labels) != len(models):
        raise GxrError(f"{len(o.labels)} labels for {len(models)} models")
    timings: list[Timing] = []
    notes: list[str] = []
    breakdowns: list[Breakdown] = []
    streams: list[StreamRate] = []
    monitor = NoiseMonitor()
    with temp_folder() as tmp:
        for i, path in enumerate(models):
            name = o.labels[i] if o.labels else str(path)
            files = None
            for backend in o.backends:   # one model at a time, each backend in its own block
                with load(path, backend=backend, device=o.device, threads=o.threads,
                          torch_options=o.torch_options) as m, monitor.block(f"{name} ({backend})"):
                    if o.end_to_end and files is None:
                        files = end_to_end_files(m, o.images, o.data, max(o.batch_sizes), Path(tmp) / str(i))
                    label = name if len(o.backends) == 1 else f"{name} ({m.backend})"
                    timings += bench_model(label, m, o.batch_sizes, o.warmup, o.iters, files, on_step, group=name,
                                           device_resident=o.device_resident)
                    if o.end_to_end:
                        made, rates = time_end_to_end(label, m, files, o, Path(tmp) / f"{i}-formats", on_step)
                        breakdowns += made
                        streams += rates
                    if m.runner.fallback_note:
                        notes.append(f"{path}: {m.runner.fallback_note}")
    return LatencyReport(timings, o.settings(models, monitor), machine_info(), notes, monitor.warnings(timings),
                         breakdowns, streams)
