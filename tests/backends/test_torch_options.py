"""Torch runner options that the GPU measurements rely on, checked on the CPU where they can be."""

import json

import numpy as np
import pytest

import gxr
from gxr.backends.torch_runner import TorchOptions
from gxr.core.errors import GxrError
from tests.helpers import expect_cli_error, run_gxr

PIXELS = np.random.default_rng(0).integers(0, 256, (3, 1, 32, 32), dtype=np.uint8)


@pytest.mark.parametrize("key", ["gray", "color"])
def test_uint8_pixel_input_equals_host_normalization(trained_runs, key):
    ref_model = gxr.load(trained_runs[key])
    px = PIXELS if key == "gray" else np.repeat(PIXELS, 3, axis=1)
    ref = ref_model.logits_from_pixels(px)
    m = gxr.load(trained_runs[key], torch_options=TorchOptions(pixels=True))
    assert (m.input_name, m.input_dtype) == ("pixels", "uint8")
    np.testing.assert_allclose(m.logits_from_pixels(px), ref, rtol=1e-5, atol=1e-5)
    if key == "color":   # like the uint8 ONNX export, 1-channel gray is replicated on the device
        np.testing.assert_array_equal(m.runner.infer({"pixels": PIXELS})["logits"], m.logits_from_pixels(px))


def test_channels_last_is_exact_to_float_rounding(trained_runs):
    ref = gxr.load(trained_runs["gray"]).logits_from_pixels(PIXELS)
    out = gxr.load(trained_runs["gray"], torch_options=TorchOptions(channels_last=True)).logits_from_pixels(PIXELS)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("options", [TorchOptions(precision="bf16"), TorchOptions(precision="fp16", pixels=True)])
def test_low_precision_really_changes_the_arithmetic_and_stays_close(trained_runs, options):
    """A no-op precision switch would give error 0; a broken one errors of the size of the logits."""
    ref = gxr.load(trained_runs["gray"]).logits_from_pixels(PIXELS)
    out = gxr.load(trained_runs["gray"], torch_options=options).logits_from_pixels(PIXELS)
    relative = float(np.abs(out - ref).max() / np.abs(ref).max())
    assert 0 < relative < 0.03, relative


def test_cuda_only_and_unknown_options_are_refused():
    with pytest.raises(GxrError, match="CUDA graphs need a CUDA device"):
        TorchOptions(cuda_graphs=True).validate("cpu")
    with pytest.raises(GxrError, match="torch precision 'int3'"):
        TorchOptions(precision="int3").validate("cpu")


def test_latency_device_resident_mode_and_recorded_options(tmp_path, trained_runs):
    out = tmp_path / "t.json"
    result = run_gxr("bench", "latency", str(trained_runs["gray"]), "--batch-sizes", "2", "--warmup", "1",
                     "--iters", "3", "--torch-input", "uint8", "--channels-last", "--device-resident",
                     "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [t["mode"] for t in data["timings"]] == ["compute", "device"]
    assert data["timings"][0]["input_dtype"] == "uint8" and data["timings"][0]["input_bytes_per_image"] == 32 * 32
    assert data["settings"]["torch_options"] == {"precision": "fp32", "channels_last": True, "cuda_graphs": False,
                                                 "pixels": True}
    expect_cli_error("bench", "latency", str(trained_runs["gray"]), "--torch-input", "int8", names=None,
                     needles=["--torch-input 'int8'"], watch=[trained_runs["gray"]])


@pytest.mark.gpu
def test_cuda_graphs_match_eager_on_gpu(trained_runs):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    eager = gxr.load(trained_runs["gray"], device="cuda")
    graphs = gxr.load(trained_runs["gray"], device="cuda", torch_options=TorchOptions(cuda_graphs=True))
    np.testing.assert_allclose(graphs.logits_from_pixels(PIXELS), eager.logits_from_pixels(PIXELS), rtol=1e-4,
                               atol=1e-5)                                   # capture
    other = 255 - PIXELS                                                    # replay on a new input of that shape
    np.testing.assert_allclose(graphs.logits_from_pixels(other), eager.logits_from_pixels(other), rtol=1e-4,
                               atol=1e-5)
    assert not np.allclose(eager.logits_from_pixels(other), eager.logits_from_pixels(PIXELS))
