"""Dynamic batching across requests, as Triton's `dynamic_batching`: requests wait in a queue until `max_batch`
images are gathered or the first has waited `max_queue_delay_s`; one worker thread runs each batch and splits
the result per request. With batching off the same worker runs one request at a time (Triton without
`dynamic_batching`, one model instance)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gxr.serve.protocol import DeadlineExceeded, Unavailable


class BatchObserver(Protocol):
    """Told about every batch run (the server's metrics; nothing by default)."""

    def on_batch(self, size: int, queue_seconds: list[float], infer_seconds: float) -> None: ...


class NoObserver:
    def on_batch(self, size: int, queue_seconds: list[float], infer_seconds: float) -> None:
        return None


@dataclass(frozen=True)
class BatchPolicy:
    enabled: bool = True
    max_batch: int = 32
    max_queue_delay_s: float = 0.002


@dataclass
class _Item:
    pixels: np.ndarray
    deadline: float | None
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.monotonic)


class DynamicBatcher:
    """`submit(pixels)` -> Future of `run(pixels)`; concurrent submissions are run together in one call."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], policy: BatchPolicy,
                 observer: BatchObserver | None = None, name: str = "model"):
        self.run, self.policy, self.observer = run, policy, observer or NoObserver()
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closed = self._flushing = False
        self._thread = threading.Thread(target=self._loop, name=f"gxr-batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, pixels: np.ndarray, deadline: float | None = None) -> Future:
        """Queue N x ... pixels; the future gets the N rows of `run`'s result (or its exception)."""
        item = _Item(pixels, deadline)
        with self._cond:
            if self._closed:
                raise Unavailable("the server is shutting down")
            self._queue.append(item)
            self._cond.notify()
        return item.future

    def flush(self) -> None:
        """Stop waiting for more requests from now on (a drain): what is queued runs at once."""
        with self._cond:
            self._flushing = True
            self._cond.notify_all()

    def close(self) -> None:
        """Run what is queued, then stop the worker."""
        with self._cond:
            self._closed = self._flushing = True
            self._cond.notify_all()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                return
            self._run(batch)

    def _gather(self) -> list[_Item] | None:
        """The next batch: whole requests, at most max_batch images (one larger request runs alone)."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            batch = [self._queue.popleft()]
            if not self.policy.enabled:
                return batch
            size, flush_at = len(batch[0].pixels), batch[0].queued_at + self.policy.max_queue_delay_s
            while size < self.policy.max_batch:
                if self._queue:
                    if size + len(self._queue[0].pixels) > self.policy.max_batch:
                        break
                    batch.append(self._queue.popleft())
                    size += len(batch[-1].pixels)
                    continue
                left = flush_at - time.monotonic()
                if left <= 0 or self._flushing:
                    break
                self._cond.wait(left)
            return batch

    def _run(self, batch: list[_Item]) -> None:
        start = time.monotonic()
        live = []
        for item in batch:
            if item.deadline is not None and start > item.deadline:
                item.future.set_exception(DeadlineExceeded("the request timed out waiting in the batch queue"))
            elif item.future.set_running_or_notify_cancel():
                live.append(item)
        if not live:
            return
        try:
            out = self.run(np.concatenate([item.pixels for item in live]) if len(live) > 1 else live[0].pixels)
        except BaseException as exc:   # a runner failure fails this batch's requests, never the worker
            for item in live:
                item.future.set_exception(exc)
            return
        infer_s = time.monotonic() - start
        offset = 0
        for item in live:
            item.future.set_result(out[offset:offset + len(item.pixels)])
            offset += len(item.pixels)
        self.observer.on_batch(offset, [start - item.queued_at for item in live], infer_s)
