"""The model core without a network: the dynamic batcher (merging, splitting, limits, off, deadlines, failures),
the wire-format checks and the version policy."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from gxr.core.errors import GxrError
from gxr.serve.batcher import BatchPolicy, DynamicBatcher
from gxr.serve.protocol import (
    BadRequest,
    DeadlineExceeded,
    check_name,
    join_bytes_elements,
    split_bytes_elements,
    tensor_from_buffer,
    tensor_from_values,
)
from gxr.serve.repository import VersionPolicy


class _GatedRun:
    """A runner that records batch sizes; the first call waits for `release` so that requests pile up."""

    def __init__(self):
        self.sizes: list[int] = []
        self.release = threading.Event()

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if not self.sizes:
            self.sizes.append(len(pixels))
            self.release.wait(5)
        else:
            self.sizes.append(len(pixels))
        return pixels.reshape(len(pixels), -1).sum(axis=1, keepdims=True).astype(np.float32)


def _requests(sizes: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (n, 1, 4, 4), dtype=np.uint8) for n in sizes]


def _expected(pixels: np.ndarray) -> np.ndarray:
    return pixels.reshape(len(pixels), -1).sum(axis=1, keepdims=True).astype(np.float32)


def test_queued_requests_run_together_up_to_max_batch_and_each_gets_its_rows():
    run = _GatedRun()
    batcher = DynamicBatcher(run, BatchPolicy(True, max_batch=8, max_queue_delay_s=0.05))
    first = batcher.submit(_requests([1])[0])
    time.sleep(0.1)                                   # the first batch is running (held at the gate)
    reqs = _requests([3, 2, 4, 1, 9])
    futures = [batcher.submit(r) for r in reqs]
    run.release.set()
    for r, f in zip(reqs, futures):
        np.testing.assert_array_equal(f.result(5), _expected(r))
    first.result(5)
    batcher.close()
    assert run.sizes == [1, 5, 5, 9]                 # 3+2 (4 does not fit), 4+1, and 9 alone (over max_batch)


def test_without_batching_each_request_runs_alone():
    run = _GatedRun()
    run.release.set()
    batcher = DynamicBatcher(run, BatchPolicy(False, max_batch=32, max_queue_delay_s=1.0))
    reqs = _requests([2, 3, 1])
    futures = [batcher.submit(r) for r in reqs]
    assert [len(f.result(5)) for f in futures] == [2, 3, 1]
    batcher.close()
    assert run.sizes == [2, 3, 1]


def test_expired_requests_are_dropped_and_a_runner_failure_fails_only_its_batch():
    run = _GatedRun()
    batcher = DynamicBatcher(run, BatchPolicy(True, 8, 0.0))
    held = batcher.submit(_requests([1])[0])
    time.sleep(0.05)
    late = batcher.submit(_requests([2])[0], deadline=time.monotonic() + 0.01)
    time.sleep(0.05)
    run.release.set()
    held.result(5)
    with pytest.raises(DeadlineExceeded, match="timed out"):
        late.result(5)

    def broken(pixels):
        raise RuntimeError("runner fell over")

    batcher.run = broken
    with pytest.raises(RuntimeError, match="fell over"):
        batcher.submit(_requests([1])[0]).result(5)
    batcher.run = run
    assert batcher.submit(_requests([1])[0]).result(5).shape == (1, 1)   # the worker lives on
    batcher.close()
    with pytest.raises(GxrError, match="shutting down"):
        batcher.submit(_requests([1])[0])


def test_a_request_times_out_in_the_model(exported):
    from gxr.serve.models import LoadOptions, ServedModel
    from gxr.serve.protocol import InferRequest, Tensor

    served = ServedModel.load(exported["gray"], "gray", 1, LoadOptions(decode_workers=0))
    slow = served.batcher.run
    served.batcher.run = lambda pixels: time.sleep(0.5) or slow(pixels)
    pixels = np.zeros((1, 1, 32, 32), np.uint8)
    request = InferRequest("gray", "", [Tensor("pixels", "UINT8", [1, 1, 32, 32], pixels)])
    with pytest.raises(DeadlineExceeded):
        served.infer(request, deadline=time.monotonic() + 0.1)
    served.batcher.run = slow
    assert served.infer(request).outputs[1].data.shape == (1, 1)
    served.close()


def test_wire_tensors_are_checked():
    t = tensor_from_buffer("x", "UINT8", [2, 3], bytes(range(6)))
    assert t.data.tolist() == [[0, 1, 2], [3, 4, 5]]
    items = [b"", b"abc", bytes(300)]
    assert split_bytes_elements("x", join_bytes_elements(np.array(items, dtype=object))) == items
    for bad, message in [
        (lambda: tensor_from_buffer("x", "UINT8", [2, 3], bytes(5)), "5 bytes of data"),
        (lambda: tensor_from_buffer("x", "BYTES", [2], join_bytes_elements(np.array([b"a"], dtype=object))),
         "1 BYTES elements"),
        (lambda: split_bytes_elements("x", b"\x10\x00\x00\x00abc"), "runs past the end"),
        (lambda: split_bytes_elements("x", b"\x01\x00"), "4-byte length"),
        (lambda: tensor_from_values("x", "UINT8", [2], [1, -1]), "outside the UINT8 range"),
        (lambda: tensor_from_values("x", "UINT8", [2], [1, 2.5]), "must be integers"),
        (lambda: tensor_from_values("x", "FP32", [1], ["a"]), "not FP32 numbers"),
        (lambda: tensor_from_values("x", "BYTES", [1], [3]), "must be strings"),
        (lambda: tensor_from_values("x", "UINT8", [-1], [1]), "non-negative integers"),
        (lambda: tensor_from_values("x", "COMPLEX", [1], [1]), "unknown datatype"),
        (lambda: check_name("../etc"), "not a valid model name"),
        (lambda: check_name("a/b"), "not a valid model name"),
    ]:
        with pytest.raises(BadRequest, match=message):
            bad()
    assert tensor_from_values("x", "UINT8", [2, 2], [[1, 2], [3, 4]]).data.tolist() == [[1, 2], [3, 4]]


def test_version_policies():
    published = [1, 2, 4, 7]
    assert VersionPolicy.parse("all").select(published) == published
    assert VersionPolicy.parse("latest").select(published) == [7]
    assert VersionPolicy.parse("latest:2").select(published) == [4, 7]
    assert VersionPolicy.parse("1,4,9").select(published) == [1, 4]
    for bad in ("latest:0", "newest", "1,x", ""):
        with pytest.raises(GxrError, match="--versions"):
            VersionPolicy.parse(bad)


def test_a_drain_runs_queued_requests_without_waiting_for_more():
    run = _GatedRun()
    run.release.set()
    batcher = DynamicBatcher(run, BatchPolicy(True, max_batch=32, max_queue_delay_s=60.0))
    futures = [batcher.submit(r) for r in _requests([1, 2])]
    time.sleep(0.05)
    assert not any(f.done() for f in futures)        # waiting for more, up to 60 s
    start = time.monotonic()
    batcher.flush()
    assert [len(f.result(5)) for f in futures] == [1, 2] and time.monotonic() - start < 2
    later = batcher.submit(_requests([1])[0])        # after a drain began, nothing waits any more
    assert len(later.result(5)) == 1
    batcher.close()
    assert run.sizes == [3, 1]
