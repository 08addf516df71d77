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
    runner = OrtRunner(exported["gray"] / "model.onnx", threads=1)
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
    with OrtRunner(exported["gray"] / "model.onnx", device="cuda") as runner:
        if runner.provider == "CUDAExecutionProvider":
            assert runner.fallback_note == ""
        else:
            assert runner.provider == "CPUExecutionProvider"
            assert runner.fallback_note == "asked for CUDAExecutionProvider, running on CPUExecutionProvider"


def test_infer_on_an_inactive_runner_is_an_error(exported):
    runner = OrtRunner(exported["gray"] / "model.onnx")
    with pytest.raises(GxrError, match="not active"):
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})
    with runner:
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})
    with pytest.raises(GxrError, match="not active"):    # closed runners are not silently re-opened
        runner.infer({"pixels": np.zeros((1, 1, 32, 32), np.uint8)})


def test_trt_profile_shapes_cover_gray_input_for_color_engines(exported):
    from gxr.export.trt import profile_shapes

    color = json.loads((exported["color"] / "manifest.json").read_text())
    assert profile_shapes(color) == ((1, 1, 32, 32), (8, 1, 32, 32), (32, 3, 32, 32))
    gray = json.loads((exported["gray"] / "manifest.json").read_text())
    assert profile_shapes(gray)[2] == (32, 1, 32, 32)


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
