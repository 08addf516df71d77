"""Latency: ms/image percentiles and images/s per model and batch size, compute-only and end-to-end.

Each model is timed in its own block of consecutive runs (interleaving large models evicts caches and
inflates batch-1 latency)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from gxr.backends.base import Runner
from gxr.runtime import Model


@dataclass
class Timing:
    model: str                # label (model, plus backend when several are timed)
    group: str                # the model itself, shared by its backends
    backend: str
    provider: str
    channels: int
    input_dtype: str
    mode: str                 # compute | end-to-end
    batch: int
    iters: int
    ms_per_image_p50: float
    ms_per_image_p90: float
    ms_per_image_p99: float
    images_per_s: float
    input_bytes_per_image: int
    raw_ms_per_batch: list[float]


MIN_WARMUP_SECONDS = 1.0


def time_calls(fn: Callable[[], Any], warmup: int, iters: int, sync: Callable[[], None],
               min_warmup_s: float = MIN_WARMUP_SECONDS) -> np.ndarray:
    """Seconds per call, after at least `warmup` untimed calls and `min_warmup_s` seconds of them
    (thread pools and CPU clocks settle; a few calls were not enough on a shared 2-vCPU VM)."""
    start, done = time.perf_counter(), 0
    while done < warmup or time.perf_counter() - start < min_warmup_s:
        fn()
        done += 1
    sync()
    times = np.empty(iters)
    for i in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times[i] = time.perf_counter() - start
    return times


def time_device_calls(runner: Runner, fn: Callable[[], Any], warmup: int, iters: int) -> np.ndarray:
    """Seconds per call of a device-resident forward: CUDA events on a GPU, wall clock otherwise."""
    if not runner.provider.startswith("cuda"):
        return time_calls(fn, warmup, iters, runner.synchronize)
    import torch

    for _ in range(max(warmup, 3)):
        fn()
    runner.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for start, end in zip(starts, ends):
        start.record()
        fn()
        end.record()
    runner.synchronize()
    return np.array([s.elapsed_time(e) / 1000.0 for s, e in zip(starts, ends)])


def summarize(label: str, group: str, model: Model, mode: str, batch: int, seconds: np.ndarray,
              bytes_per_image: int) -> Timing:
    per_image_ms = seconds * 1000.0 / batch
    return Timing(label, group, model.backend, model.runner.provider, model.info.channels, model.input_dtype, mode,
                  batch,
                  len(seconds), *(float(np.percentile(per_image_ms, q)) for q in (50, 90, 99)),
                  float(batch * len(seconds) / seconds.sum()), bytes_per_image,
                  [round(float(s) * 1000.0, 4) for s in seconds])


def compute_feed(model: Model, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch in the model's own input contract (uint8 pixels or normalized float); values are
    random because compute time does not depend on them."""
    rng = np.random.default_rng(seed)
    size = model.info.image_size
    pixels = rng.integers(0, 256, (batch, model.info.channels, size, size), dtype=np.uint8)
    return model.feed(pixels)


def write_png_files(images: Sequence[Image.Image], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"img{i:04d}.png"
        img.save(path)
        paths.append(path)
    return paths


def bench_model(label: str, model: Model, batch_sizes: Sequence[int], warmup: int, iters: int,
                image_files: Sequence[Path] | None = None, on_step: Callable[[str], None] | None = None,
                group: str | None = None, device_resident: bool = False) -> list[Timing]:
    """All timings for one model, consecutively: per batch size compute-only from host arrays (host ->
    device copies included), then (torch, `device_resident`) with the input already on the device, then
    end-to-end from image files."""
    results, group = [], group or label
    for batch in batch_sizes:
        feed = compute_feed(model, batch)
        nbytes = next(iter(feed.values())).nbytes // batch
        seconds = time_calls(lambda: model.runner.infer(feed), warmup, iters, model.runner.synchronize)
        results.append(summarize(label, group, model, "compute", batch, seconds, nbytes))
        if device_resident and model.runner.device_resident:
            fn = model.runner.device_callable(feed)
            seconds = time_device_calls(model.runner, fn, warmup, iters)
            results.append(summarize(label, group, model, "device", batch, seconds, nbytes))
        if on_step:
            on_step(f"{label} compute b{batch}")
    if image_files:
        for batch in batch_sizes:
            files = [str(image_files[i % len(image_files)]) for i in range(batch)]
            encoded = sum(Path(f).stat().st_size for f in files) // batch
            seconds = time_calls(lambda: model.logits(files), warmup, iters, model.runner.synchronize)
            results.append(summarize(label, group, model, "end-to-end", batch, seconds, encoded))
            if on_step:
                on_step(f"{label} end-to-end b{batch}")
    return results


def _pairs(timings: list[Timing], key: Callable[[Timing], tuple], side: Callable[[Timing], Any], left: Any,
           right: Any) -> list[tuple[tuple, Timing, Timing]]:
    """(key, left timing, right timing) for every key that has both sides, in first-seen order."""
    groups: dict[tuple, dict[Any, Timing]] = {}
    for t in timings:
        groups.setdefault(key(t), {})[side(t)] = t
    return [(k, g[left], g[right]) for k, g in groups.items() if left in g and right in g]


def gray_color_ratios(timings: list[Timing]) -> list[dict[str, Any]]:
    """gray/color ms-per-image ratio (p50) for each (backend, mode, batch) that has both."""
    return [{"backend": backend, "mode": mode, "batch": batch, "gray_ms": g.ms_per_image_p50,
             "color_ms": c.ms_per_image_p50, "gray_over_color": g.ms_per_image_p50 / c.ms_per_image_p50}
            for (backend, mode, batch), g, c in _pairs(timings, lambda t: (t.backend, t.mode, t.batch),
                                                       lambda t: t.channels, 1, 3)]


def backend_speedups(timings: list[Timing]) -> list[dict[str, Any]]:
    """torch / onnxruntime ms-per-image ratio (p50) for the same model, mode and batch."""
    return [{"model": group, "mode": mode, "batch": batch, "torch_ms": pt.ms_per_image_p50,
             "onnxruntime_ms": ort.ms_per_image_p50,
             "torch_over_onnxruntime": pt.ms_per_image_p50 / ort.ms_per_image_p50}
            for (group, mode, batch), pt, ort in _pairs(timings, lambda t: (t.group, t.mode, t.batch),
                                                        lambda t: t.backend, "torch", "onnxruntime")]


def timings_json(timings: list[Timing]) -> list[dict[str, Any]]:
    return [asdict(t) for t in timings]


def sample_image_files(model: Model, data_spec: str | None, count: int, folder: Path) -> list[Path]:
    """Real test images of the model's data, written as PNG files for end-to-end timing."""
    from gxr.data import open_source
    from gxr.runtime import data_spec_for

    split = open_source(data_spec_for(data_spec, model)).split("test")
    return write_png_files([split.images.open(i) for i in range(min(count, len(split)))], folder)


def temp_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="gxr-bench-")
