"""The serving-grade runtime: thread safety, batching to the model's maximum, the decode pool, per-image
errors (errors="raise" | "skip") and results, and bounded memory over a stream of predictions."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from PIL import Image

import gxr
from gxr.core.errors import GxrError


@pytest.fixture(scope="module")
def real_pngs(tmp_path_factory, pneumonia_spec):
    """12 real PneumoniaMNIST test images, saved as PNG files at a size other than the model's."""
    from gxr.data import open_source

    folder = tmp_path_factory.mktemp("real-pngs")
    split = open_source(pneumonia_spec).split("test")
    paths = []
    for i in range(12):
        path = folder / f"test {i:02d}.png"
        split.images.open(i).resize((45, 45)).save(path)
        paths.append(str(path))
    return paths


def _bad_files(folder):
    truncated = folder / "truncated.png"
    Image.fromarray(np.full((40, 40), 7, np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:50])
    text = folder / "text.png"
    text.write_text("not an image")
    return [str(truncated), str(text), str(folder / "missing.png")]


def test_eight_threads_get_exactly_the_single_threaded_results(exported, trained_runs, real_pngs):
    for path in (exported["gray"], trained_runs["color"]):    # ONNX Runtime (concurrent) and torch (serialized)
        model = gxr.load(path)
        orders = [real_pngs[k:] + real_pngs[:k] for k in range(8)]   # each thread its own inputs
        expected = [model.predict(order) for order in orders]
        results: dict[int, list[np.ndarray]] = {}
        barrier = threading.Barrier(8)

        def hammer(k: int) -> None:
            barrier.wait()
            results[k] = [model.predict(orders[k]) for _ in range(3)]

        threads = [threading.Thread(target=hammer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 8
        for k, runs in results.items():
            for got in runs:
                np.testing.assert_array_equal(got, expected[k])
        model.close()


def test_batches_are_split_to_the_model_maximum_and_the_pool_changes_nothing(exported, real_pngs):
    model = gxr.load(exported["gray"], decode_workers=0)
    expected = model.predict(real_pngs)
    shapes = []
    infer = model.runner.infer
    model.runner.infer = lambda feed: shapes.append(next(iter(feed.values())).shape[0]) or infer(feed)
    model.batch_size = 5
    np.testing.assert_allclose(model.predict(real_pngs), expected, rtol=1e-5, atol=1e-6)
    assert shapes == [5, 5, 2]
    shapes.clear()
    np.testing.assert_allclose(model.predict(real_pngs, batch_size=3), expected, rtol=1e-5, atol=1e-6)
    assert shapes == [3, 3, 3, 3]
    pooled = gxr.load(exported["gray"], decode_workers=3)
    pooled.batch_size = 5
    np.testing.assert_array_equal(pooled.predict(real_pngs), model.predict(real_pngs))


def test_one_bad_file_does_not_cost_the_good_ones(exported, real_pngs, tmp_path):
    model = gxr.load(exported["color"])
    bad = _bad_files(tmp_path)
    mixed = [real_pngs[0], bad[0], real_pngs[1], bad[1], real_pngs[2], bad[2], None, 7]
    probs = model.predict(mixed, errors="skip")
    good = model.predict(real_pngs[:3])
    np.testing.assert_array_equal(probs[[0, 2, 4]], good)
    assert np.isnan(probs[[1, 3, 5, 6, 7]]).all()
    results = model.predict_results(mixed)
    assert [r.ok for r in results] == [True, False, True, False, True, False, False, False]
    for r, name in zip([results[i] for i in (1, 3, 5)], bad):
        assert r.source == name and r.error.startswith(f"{name}: ") and "\n" not in r.error
    assert "image file not found" in results[5].error
    assert "got NoneType" in results[6].error and "got int" in results[7].error
    assert {k: results[0].meta[k] for k in ("width", "height", "mode", "format", "bits")} == {
        "width": 45, "height": 45, "mode": "L", "format": "PNG", "bits": 8}
    assert results[0].probabilities == {"pneumonia": pytest.approx(float(good[0, 0]))}
    with pytest.raises(GxrError, match="truncated.png"):
        model.predict(mixed)                      # errors="raise" (the default): the first bad image, by name
    with pytest.raises(GxrError, match="errors='ignore'"):
        model.predict(real_pngs, errors="ignore")


def test_single_label_results_carry_the_predicted_class(exported, real_pngs):
    model = gxr.load(exported["gray"])
    for r in model.predict_results(real_pngs):
        p = r.probabilities["pneumonia"]
        assert r.top1 == (("pneumonia", p) if p >= 0.5 else ("normal", pytest.approx(1 - p)))


def test_extreme_logits_give_probabilities_without_overflow_warnings():
    from gxr.core.modelinfo import probabilities

    logits = np.array([[-1e4, -745.0, 0.0, 745.0, 1e4]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = probabilities(logits, "binary")
        soft = probabilities(logits, "multiclass")
    np.testing.assert_allclose(sig, [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-300)
    np.testing.assert_allclose(soft, [[0, 0, 0, 0, 1.0]])
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(probabilities(x[None], "binary")[0], 1 / (1 + np.exp(-x)), rtol=1e-12)


STREAM = 2000                  # predictions measured, in blocks of 100, after a warm-up
KEPT_PER_IMAGE_BOUND = 256     # bytes: a quarter of one decoded 32 px gray image (1 KiB)


def _python_bytes_kept(model: gxr.Model, files: list[str], total: int = STREAM) -> int:
    """Bytes of Python-side allocations (objects and numpy buffers, every thread) allocated during `total`
    predictions and still alive after them, by tracemalloc. Counting starts after one traced block, so
    what the first traced calls create once (caches, pool state) is not counted as growth."""
    block = [files[i % len(files)] for i in range(100)]
    model.predict_results(block, errors="raise")            # untraced warm-up
    tracemalloc.start()
    try:
        model.predict_results(block, errors="raise")
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(total // len(block)):
            model.predict_results(block, errors="raise")
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_over_a_stream_of_predictions(exported, real_pngs):
    """Python-side growth over 2,000 predictions stays under 256 bytes per image (measured here: a constant
    ~40 KB whatever the stream length). Native allocations of ONNX Runtime and Pillow are outside
    tracemalloc: bench/memory_soak.py watches RSS over long streams."""
    model = gxr.load(exported["gray"])
    kept = _python_bytes_kept(model, real_pngs)
    assert kept < STREAM * KEPT_PER_IMAGE_BOUND, f"{kept} bytes kept after {STREAM} predictions"


def test_the_memory_check_catches_a_leak_of_one_kib_per_image(exported, real_pngs):
    """The same measurement with a decode step that keeps a copy of every decoded image (1 KiB each) fails
    the bound above by far: the bound is tight enough to see such a leak."""
    model = gxr.load(exported["gray"])
    leaked: list[np.ndarray] = []
    decode = model.decode

    def leaking_decode(image, name):
        decoded = decode(image, name)
        leaked.append(decoded.pixels.copy())
        return decoded

    model.decode = leaking_decode
    kept = _python_bytes_kept(model, real_pngs)
    assert leaked[0].nbytes == 1024 and len(leaked) == STREAM + 200
    assert kept >= STREAM * 1024, kept          # every leaked image is counted ...
    assert kept >= 4 * STREAM * KEPT_PER_IMAGE_BOUND   # ... so the check fails by at least 4x
