"""End to end from encoded files: where the time goes (the paper's Table 4 on a CPU) and what the decode pool
buys, plus resident memory over a long stream of predictions.

- `stage_breakdown`: per image, sequentially: decode (file -> pixels as stored), gray (Luma) or RGB
  conversion + resize to the model size, normalization (host side; inside the graph for uint8-input exports),
  inference at batch 1.
- `pool_comparison`: images/s of `Model.predict_results` over a stream of files without the decode pool and
  with it, alternated over several rounds, next to the compute-only rate at the same batch size.
- `rss_soak`: resident set size (RSS) after every block of predictions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gxr.bench.latency import compute_feed, time_calls
from gxr.core.decodepool import DecodePool
from gxr.core.preprocess import open_image, to_model_pixels
from gxr.runtime import Model

STAGES = ("decode", "convert_resize", "normalize", "inference")


@dataclass
class Breakdown:
    model: str
    channels: int
    image_size: int
    input_dtype: str
    images: int
    ms: dict[str, float]            # p50 ms/image per stage, and "total"
    normalization_in_graph: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StreamRate:
    model: str
    channels: int
    decode_workers: int
    batch: int
    images: int
    seconds: float                  # median of the rounds
    images_per_s: float
    compute_images_per_s: float     # the model alone at the same batch size, random input
    rounds_seconds: list[float]     # every round, alternated with the other setting

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _stage_times(model: Model, path: Path) -> list[float]:
    """Seconds per stage for one image, in STAGES order."""
    marks = [time.perf_counter()]
    img = open_image(str(path))
    marks.append(time.perf_counter())
    pixels = to_model_pixels(img, model.info.channels, model.info.image_size)[None]
    marks.append(time.perf_counter())
    feed = model.feed(pixels)
    marks.append(time.perf_counter())
    model.infer(feed)
    model.runner.synchronize()
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])]


def stage_breakdown(label: str, model: Model, files: Sequence[Path], repeats: int = 2) -> Breakdown:
    """p50 ms/image of each stage over `files` (each `repeats` times, after one untimed pass)."""
    for path in files[:2]:
        _stage_times(model, path)
    rows = np.array([_stage_times(model, p) for _ in range(repeats) for p in files]) * 1000.0
    ms = {stage: float(np.median(rows[:, i])) for i, stage in enumerate(STAGES)}
    ms["total"] = float(np.median(rows.sum(axis=1)))
    return Breakdown(label, model.info.channels, model.info.image_size, model.input_dtype, len(rows), ms,
                     model.input_dtype == "uint8")


def _stream_seconds(model: Model, stream: list[str], batch: int, workers: int) -> float:
    """Seconds for one pass of `stream` through predict_results with `workers` decode threads."""
    saved, model.decoder = model.decoder, DecodePool(workers)
    try:
        model.predict_results(stream[:batch], errors="raise", batch_size=batch)    # warm-up (pool started)
        start = time.perf_counter()
        model.predict_results(stream, errors="raise", batch_size=batch)
        return time.perf_counter() - start
    finally:
        model.decoder.close()
        model.decoder = saved


def pool_comparison(label: str, model: Model, files: Sequence[Path], images: int, batch: int, workers: int,
                    rounds: int = 3) -> list[StreamRate]:
    """images/s over `images` files (cycling through `files`) without the pool and with `workers` decode
    threads, alternating the two `rounds` times (so drifting load hits both alike); median of the rounds."""
    stream = [str(files[i % len(files)]) for i in range(images)]
    runs: dict[int, list[float]] = {0: [], workers: []}
    for _ in range(rounds):
        for w in runs:
            runs[w].append(_stream_seconds(model, stream, batch, w))
    compute = compute_rate(model, batch)
    return [StreamRate(label, model.info.channels, w, batch, images, float(np.median(s)),
                       images / float(np.median(s)), compute, list(s)) for w, s in runs.items()]


def compute_rate(model: Model, batch: int, iters: int = 5) -> float:
    """images/s of inference alone at `batch` (random uint8 pixels in the model's input contract)."""
    feed = compute_feed(model, batch)
    seconds = time_calls(lambda: model.infer(feed), 1, iters, model.runner.synchronize, min_warmup_s=0.5)
    return batch / float(np.median(seconds))


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux /proc; ru_maxrss elsewhere, a peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_soak(model: Model, files: Sequence[Path], total: int, block: int = 100,
             on_block: Callable[[int], None] | None = None) -> list[tuple[int, float]]:
    """(predictions so far, RSS MiB) after every block of `block` predictions, `total` in all."""
    stream = [str(files[i % len(files)]) for i in range(block)]
    points = [(0, rss_mb())]
    done = 0
    while done < total:
        model.predict_results(stream[:min(block, total - done)], errors="raise")
        done += min(block, total - done)
        points.append((done, rss_mb()))
        if on_block:
            on_block(done)
    return points
