"""End to end from encoded files: where the time goes (the paper's Table 4 on a CPU) and what the decode pool
buys, plus resident memory over a long stream of predictions.

- `stage_breakdown`: per image, sequentially, the stages of gxr.core.preprocess: read (file -> bytes), decode
  (bytes -> 8-bit pixels as stored; DICOM: through its VOI/window to 8 bits), convert (gray Luma or RGB),
  resize (integer box reduce + bilinear), tensor (uint8 C x H x W), normalize (host side; inside the graph
  for uint8-input exports), inference at batch 1; with gxr's default decoders or Pillow only (`decoders`).
- `pool_comparison`: images/s of `Model.predict_results` over a stream of files without the decode pool and
  with it, alternated over several rounds, next to the compute-only rate at the same batch size.
- `rss_soak`: resident set size (RSS) after every block of predictions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gxr.bench.latency import compute_feed, time_calls
from gxr.core.decodepool import DecodePool
from gxr.core.preprocess import convert, decode_bytes, read, resize, to_tensor
from gxr.runtime import Model

STAGES = ("read", "decode", "convert", "resize", "tensor", "normalize", "inference")


@dataclass
class Breakdown:
    model: str
    channels: int
    image_size: int
    input_dtype: str
    images: int
    ms: dict[str, float]            # p50 ms/image per stage, and "total"
    normalization_in_graph: bool
    file_format: str = "png"        # what the files were (gxr.bench.inputfiles.FORMATS, or "files")
    decoders: str = "auto"          # auto (the `fast` extra where installed) | pillow
    decoded_by: list[str] = field(default_factory=list)   # the decoders that ran (from the images' notes)

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


def _stage_times(model: Model, path: Path, decoders: str) -> tuple[list[float], str]:
    """Seconds per stage for one image, in STAGES order, and the decoder that ran."""
    channels, size, label = model.info.channels, model.info.image_size, str(path)
    marks = [time.perf_counter()]
    data = read(path, label)
    marks.append(time.perf_counter())
    decoded = decode_bytes(data, label, model_size=size, channels=channels, decoders=decoders)
    marks.append(time.perf_counter())
    img = convert(decoded.image, channels, label)
    marks.append(time.perf_counter())
    img = resize(img, size, label)
    marks.append(time.perf_counter())
    pixels = to_tensor(img, channels, label)[None]
    marks.append(time.perf_counter())
    feed = model.feed(pixels)
    marks.append(time.perf_counter())
    model.infer(feed)
    model.runner.synchronize()
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:])], decoder_name(decoded.meta)


def decoder_name(meta: dict) -> str:
    """Which decoder produced an image, from its metadata."""
    notes = " ".join(meta.get("notes", []))
    if meta.get("format") == "DICOM":
        return f"DICOM {meta.get('transfer_syntax', '')}".strip()
    if "libspng" in notes:
        return "libspng (imagecodecs)"
    return f"Pillow {meta.get('format', '')}" + (" draft" if "draft mode" in notes else "")


def stage_breakdown(label: str, model: Model, files: Sequence[Path], repeats: int = 2, file_format: str = "files",
                    decoders: str = "auto") -> Breakdown:
    """p50 ms/image of each stage over `files` (each `repeats` times, after one untimed pass over two)."""
    for path in files[:2]:
        _stage_times(model, path, decoders)
    runs = [_stage_times(model, p, decoders) for _ in range(repeats) for p in files]
    rows = np.array([r[0] for r in runs]) * 1000.0
    ms = {stage: float(np.median(rows[:, i])) for i, stage in enumerate(STAGES)}
    ms["total"] = float(np.median(rows.sum(axis=1)))
    return Breakdown(label, model.info.channels, model.info.image_size, model.input_dtype, len(rows), ms,
                     model.input_dtype == "uint8", file_format, decoders, sorted({r[1] for r in runs}))


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
