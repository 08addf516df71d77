"""Runner interface behaviour; TensorRT and GPU paths run only where the hardware and packages exist."""

import json

import numpy as np
import pytest

from gxr.backends.ort_runner import OrtRunner
from gxr.core.errors import GxrError


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_ort_runner_interface_and_metadata(exported):
    runner = OrtRunner.from_path(exported["gray"] / "model.onnx", threads=1)
    assert not runner.active
    with runner:
        (inp,) = runner.input_metadata()
        assert (inp.name, inp.dtype, inp.shape[0]) == ("pixels", "uint8", "batch")
        out = runner.infer({"pixels": np.zeros((2, 1, 32, 32), np.uint8)})
        assert out["logits"].shape == (2, 1) and runner.provider == "CPUExecutionProvider"
        assert runner.fallback_note == ""
    assert not runner.active


def test_ort_runner_reports_a_cuda_fallback_exactly_when_it_happens(exported):
    """Asked for CUDA, the runner either runs there (no note) or says it fell back to the CPU: no skip, so a
    machine whose CUDA provider is listed but cannot start (the silent-fallback case) is checked too."""
    with OrtRunner.from_path(exported["gray"] / "model.onnx", device="cuda") as runner:
        if runner.provider == "CUDAExecutionProvider":
            assert runner.fallback_note == ""
        else:
            assert runner.provider == "CPUExecutionProvider"
            assert runner.fallback_note == "asked for CUDAExecutionProvider, running on CPUExecutionProvider"


def test_infer_on_an_inactive_runner_is_an_error(exported):
    runner = OrtRunner.from_path(exported["gray"] / "model.onnx")
    with pytest.raises(GxrError, match="not active"):
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})
    with runner:
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})
    with pytest.raises(GxrError, match="not active"):    # closed runners are not silently re-opened
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})


@pytest.mark.parametrize("key", ["gray", "color"])
def test_trt_profile_spans_the_batch_range_and_every_accepted_channel_count(exported, key):
    """Properties, not the implementation: min <= opt <= max per dimension, the batch axis spans the manifest's
    range, spatial dims are the model's, and the channel axis spans exactly the accepted channel counts.
    The stated choice: the opt shape takes the fewest channels (gray X-rays are what a color engine is fed)."""
    from gxr.core.manifest import Manifest
    from gxr.export.trt import profile_shapes

    manifest = json.loads((exported[key] / "manifest.json").read_text())
    lo, opt, hi = profile_shapes(Manifest.load(exported[key]))
    assert all(a <= b <= c for a, b, c in zip(lo, opt, hi))
    assert (lo[0], opt[0], hi[0]) == (manifest["batch"]["min"], manifest["batch"]["opt"], manifest["batch"]["max"])
    assert {lo[2:], opt[2:], hi[2:]} == {(manifest["image_size"], manifest["image_size"])}
    accepted = manifest["input"]["accepted_channels"]
    assert (lo[1], hi[1]) == (min(accepted), max(accepted))
    assert opt[1] == min(accepted)
    assert accepted == ([1, 3] if key == "color" else [1])   # the uint8 color graph also takes 1-channel gray


def test_tensorrt_backend_without_engine_is_a_clear_error(exported):
    import gxr

    with pytest.raises(GxrError, match="has no TensorRT engine"):
        gxr.load(exported["gray"], backend="tensorrt")


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.skipif(not (_has("tensorrt") and _has("cuda")), reason="needs TensorRT and cuda-python on a GPU")
def test_tensorrt_engine_matches_onnxruntime(tmp_path, trained_runs):
    import gxr
    from tests.helpers import run_gxr

    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--name", "g", "--input",
                     "uint8", "--trt")
    assert result.returncode == 0, result.stderr
    pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32), dtype=np.uint8)
    ort = gxr.load(tmp_path / "g").predict(list(pixels))
    trt = gxr.load(tmp_path / "g", backend="tensorrt").predict(list(pixels))
    np.testing.assert_allclose(trt, ort, rtol=1e-2, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not _has("torch"), reason="needs torch")
def test_torch_runner_on_cuda(trained_runs):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    import gxr

    cpu = gxr.load(trained_runs["gray"]).logits_from_pixels(np.zeros((2, 1, 32, 32), np.uint8))
    gpu = gxr.load(trained_runs["gray"], device="cuda").logits_from_pixels(np.zeros((2, 1, 32, 32), np.uint8))
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
