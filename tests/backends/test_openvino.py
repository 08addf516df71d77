"""The OpenVINO runner: same interface and numbers as ONNX Runtime (within stated tolerances), the precision
it really ran, INT8 from the Q/DQ graph, gxr.load / gxr predict wiring and clear errors."""

import numpy as np
import pytest

from gxr.core.errors import GxrError
from tests.helpers import assert_one_line_error, run_gxr

pytest.importorskip("openvino")

FP32_ATOL = 1e-4          # FP32 OpenVINO vs FP32 ONNX Runtime: same math, different kernels
BF16_PROB_ATOL = 0.05     # BF16 keeps 8 mantissa bits: probabilities move by a few percent at most here


def _test_pixels(spec: str, count: int = 64) -> np.ndarray:
    from gxr.data import open_source, split_pixels

    return split_pixels(open_source(spec).split("test"), 1, 32, count)


def _probs(model, pixels: np.ndarray) -> np.ndarray:
    from gxr.core.modelinfo import probabilities

    return probabilities(model.logits_from_pixels(pixels), model.info.task)


def _cpu_has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_fp32_matches_onnxruntime_on_real_images(exported, pneumonia_spec):
    import gxr

    pixels = _test_pixels(pneumonia_spec)
    with gxr.load(exported["gray"]) as ort, gxr.load(exported["gray"], backend="openvino", threads=1) as ov:
        assert ov.backend == "openvino" and ov.runner.provider == "OpenVINO CPU f32, latency"
        (inp,) = ov.runner.input_metadata()
        assert (inp.name, inp.dtype, inp.shape[0]) == ("pixels", "uint8", "batch")
        ref, out = ort.logits_from_pixels(pixels), ov.logits_from_pixels(pixels)
    assert out.dtype == np.float32 and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=FP32_ATOL, rtol=1e-4)


def test_bf16_hint_is_reported_and_close_to_fp32(exported, pneumonia_spec):
    import gxr

    pixels = _test_pixels(pneumonia_spec)
    with gxr.load(exported["gray"]) as ort, gxr.load(exported["gray"], backend="openvino:bf16") as ov:
        ref, out = _probs(ort, pixels), _probs(ov, pixels)
        if _cpu_has_bf16():
            assert ov.runner.inference_precision() == "bf16" and ov.backend == "openvino:bf16"
            assert "bf16" in ov.runner.provider and ov.runner.fallback_note == ""
        else:
            assert "asked for bf16" in ov.runner.fallback_note
    assert np.abs(out - ref).max() < BF16_PROB_ATOL
    assert ((out >= 0.5) == (ref >= 0.5)).mean() > 0.95


def test_int8_qdq_graph_runs_int8_kernels(low_precision, pneumonia_spec):
    import gxr

    pixels = _test_pixels(pneumonia_spec)
    with gxr.load(low_precision["int8"], backend="openvino") as ov, gxr.load(low_precision["int8"]) as ort:
        assert ov.runner.int8_kernels() > 10 and "int8" in ov.runner.provider
        out, ref = _probs(ov, pixels), _probs(ort, pixels)
    assert ((out >= 0.5) == (ref >= 0.5)).mean() > 0.95   # both run the same Q/DQ graph, different kernels


def test_static_shapes_compiled_per_batch_and_bounded(exported):
    from gxr.backends.ov_runner import MAX_COMPILED_SHAPES, OpenVinoRunner

    with OpenVinoRunner.from_path(exported["gray"] / "model.onnx") as runner:
        outs = {b: runner.infer({"pixels": np.full((b, 1, 32, 32), 7, np.uint8)})["logits"] for b in range(1, 7)}
        assert len(runner.compiled) == MAX_COMPILED_SHAPES + 1 and None in runner.compiled
    assert all(o.shape == (b, 1) for b, o in outs.items())
    assert all(np.allclose(o, outs[1][0], atol=1e-5) for o in outs.values())   # same image, any batch


def test_throughput_hint_and_bad_options(exported):
    import gxr
    from gxr.backends.ov_runner import OpenVinoRunner

    with OpenVinoRunner.from_path(exported["gray"] / "model.onnx", hint="throughput", threads=2) as runner:
        assert runner.provider.endswith("throughput")
        compiled, _ = runner.compiled[None]
        assert str(compiled.get_property("PERFORMANCE_HINT")).endswith("THROUGHPUT")
    with pytest.raises(GxrError, match="OpenVINO inference precision 'int4'"):
        gxr.load(exported["gray"], backend="openvino:int4")
    with pytest.raises(GxrError, match="latency or throughput"):
        OpenVinoRunner.from_path(exported["gray"] / "model.onnx", hint="fast")


def test_not_an_onnx_file_is_a_clear_error(tmp_path):
    from gxr.backends.ov_runner import OpenVinoRunner

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(GxrError, match="OpenVINO cannot load it"):
        OpenVinoRunner.from_path(bad).activate()


def test_predict_cli_with_openvino_backend(tmp_path, exported, pneumonia_spec):
    from PIL import Image

    png = tmp_path / "x.png"
    Image.fromarray(_test_pixels(pneumonia_spec, 1)[0, 0]).save(png)
    ov = run_gxr("predict", str(exported["gray"]), str(png), "--backend", "openvino", "--json")
    ort = run_gxr("predict", str(exported["gray"]), str(png), "--json")
    assert ov.returncode == 0 and ort.returncode == 0, ov.stderr + ort.stderr
    import json

    p_ov = json.loads(ov.stdout)[0]["probabilities"]
    p_ort = json.loads(ort.stdout)[0]["probabilities"]
    assert p_ov.keys() == p_ort.keys() and all(abs(p_ov[k] - p_ort[k]) < 1e-4 for k in p_ov)
    assert_one_line_error(run_gxr("predict", str(exported["gray"]), str(png), "--backend", "openvino:int3"),
                          "OpenVINO inference precision", names=None)
