"""Decoding images in a thread pool, ahead of inference (Pillow and numpy release the GIL while they work).

`DecodePool.batches` yields the decoded images of one batch at a time, in input order, while the pool is
already decoding the next batch; so decoding overlaps inference and full-size files stream at close to the
model's own speed. Results never depend on the pool: the batches are the same with and without it."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError

ERROR_POLICIES = ("raise", "skip")
IMAGES_AHEAD_PER_WORKER = 2     # images decoding ahead of inference per decode thread: every thread stays busy


def batches_ahead(workers: int, batch: int) -> int:
    """Batches in flight beyond the one being inferred: at least one, and enough that every decode thread has
    work (small batches); bounded, so memory does not grow with the length of the stream."""
    return max(1, -(-IMAGES_AHEAD_PER_WORKER * workers // batch))


@dataclass
class Decoded:
    name: str
    pixels: np.ndarray | None            # uint8 C x S x S; None when decoding failed (or after inference)
    error: GxrError | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def default_decode_workers() -> int:
    """One decode thread per core, at most 4 (more only adds memory for full-size images)."""
    return max(1, min(4, os.cpu_count() or 1))


def raise_if_failed(decoded: Decoded) -> Decoded:
    if decoded.error is not None:
        raise decoded.error
    return decoded


def source_names(images: Sequence[Any]) -> list[str]:
    """How each image is named in results and errors: its path, or its kind and position in the call."""
    return [_source_name(img, i) for i, img in enumerate(images)]


def _source_name(img: Any, index: int) -> str:
    if isinstance(img, (str, os.PathLike)):
        return str(Path(img))
    if isinstance(img, np.ndarray):
        return f"array[{index}]"
    if isinstance(img, (bytes, bytearray)):
        return f"bytes[{index}]"
    filename = getattr(img, "filename", "")
    if hasattr(img, "getpixel"):
        return str(filename) if filename else f"image[{index}]"
    return f"{type(img).__name__}[{index}]"


DecodeFn = Callable[[Any, str], Decoded]


class DecodePool:
    """A lazily started pool of decode threads shared by every call of one model (thread-safe)."""

    def __init__(self, workers: int):
        if workers < 0:
            raise GxrError(f"decode workers {workers}: must be >= 0 (0 decodes in the calling thread)")
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="gxr-decode")
            return self._executor

    def batches(self, decode: DecodeFn, images: Sequence[Any], names: Sequence[str],
                batch: int) -> Iterator[tuple[int, list[Decoded]]]:
        """(start index, decoded images) per batch of `batch` consecutive images, in order."""
        starts = range(0, len(images), batch)
        if self.workers == 0:
            for s in starts:
                yield s, [decode(images[i], names[i]) for i in range(s, min(s + batch, len(images)))]
            return
        pool, window, ahead = self._pool(), deque(), batches_ahead(self.workers, batch)
        try:
            for s in starts:
                window.append((s, [pool.submit(decode, images[i], names[i])
                                   for i in range(s, min(s + batch, len(images)))]))
                if len(window) > ahead:
                    yield _collect(window.popleft())
            while window:
                yield _collect(window.popleft())
        finally:   # the caller stopped early (an error, or it was closed): drop work not yet started
            for _, futures in window:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


def _collect(item: tuple[int, list[Future]]) -> tuple[int, list[Decoded]]:
    start, futures = item
    return start, [f.result() for f in futures]
