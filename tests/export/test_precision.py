"""`gxr export --precision fp16|int8`: Q/DQ graph with per-channel weights, calibration on training images
only, FP16 graph with FP32 I/O, parity vs FP32 in the manifest, and the AUC gate."""

import json

import numpy as np
import onnx
import pytest

from gxr.core.fileio import sha256_file
from tests.helpers import assert_one_line_error, run_gxr


def _manifest(version_dir):
    return json.loads((version_dir / "manifest.json").read_text())


def test_int8_export_is_a_per_channel_qdq_graph_with_recorded_calibration_and_parity(low_precision, pneumonia_spec):
    version_dir = low_precision["int8"]
    manifest = _manifest(version_dir)
    assert sorted(p.name for p in version_dir.iterdir()) == ["manifest.json", "model.onnx"]   # no fp32.onnx left
    assert manifest["onnx"]["sha256"] == sha256_file(version_dir / "model.onnx")
    model = onnx.load(str(version_dir / "model.onnx"))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    # weights are int8 per channel: some DequantizeLinear reads an int8 initializer with one scale per channel
    inits = {i.name: i for i in model.graph.initializer}
    per_channel = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
                   and inits[n.input[0]].data_type == onnx.TensorProto.INT8 and len(inits[n.input[1]].dims) == 1
                   and inits[n.input[1]].dims[0] > 1]
    assert per_channel
    record = manifest["precision"]
    assert record["precision"] == "int8" and record["q_dq_nodes"]["QuantizeLinear"] == ops.count("QuantizeLinear")
    calib = record["calibration"]
    assert (calib["data"], calib["split"], calib["count"], calib["method"]) == (pneumonia_spec, "train", 32, "minmax")
    assert len(calib["pixels_sha256"]) == 64
    parity = record["parity_vs_fp32"]
    assert parity["split"] == "test" and parity["images"] == 624   # every PneumoniaMNIST test image
    assert parity["label_agreement"] > 0.95 and parity["max_abs_error"] > 0   # int8 is close, not identical
    assert set(parity["auc_delta_per_label"]) == set(manifest["labels"])
    assert -parity["auc_delta_mean"] <= parity["auc_tolerance"] == 0.005


def test_calibration_images_come_from_the_training_split_only(trained_runs, pneumonia_spec):
    from gxr.data import open_source
    from gxr.export.quantize import Calibration, calibration_pixels
    from gxr.nets.checkpoint import load_model

    _, info, _ = load_model(trained_runs["gray"] / "model.pt")
    pixels, record = calibration_pixels(info, Calibration(pneumonia_spec, 40, seed=3))
    assert pixels.shape == (40, 1, 32, 32) and pixels.dtype == np.uint8
    source = open_source(pneumonia_spec)
    train = {source.split("train").images.name(i) for i in range(len(source.split("train")))}
    test = {source.split("test").images.name(i) for i in range(len(source.split("test")))}
    again, same = calibration_pixels(info, Calibration(pneumonia_spec, 40, seed=3))
    assert same == record and np.array_equal(again, pixels)    # reproducible fingerprint
    assert record["split"] == "train" and train and not (train & test)


def test_fp16_graph_keeps_fp32_io_and_matches_fp32(low_precision):
    import onnxruntime as ort

    model = onnx.load(str(low_precision["fp16"] / "model.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    conv_weights = [i for i in model.graph.initializer if len(i.dims) == 4]
    assert conv_weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in conv_weights)
    x = np.random.default_rng(0).normal(size=(4, 1, 32, 32)).astype(np.float32)
    fp16 = ort.InferenceSession(str(low_precision["fp16"] / "model.onnx"), providers=["CPUExecutionProvider"])
    out = fp16.run(None, {"input": x})[0]
    assert out.dtype == np.float32 and out.shape == (4, 1)
    parity = _manifest(low_precision["fp16"])["precision"]["parity_vs_fp32"]
    assert parity["max_abs_error"] < 0.05 and parity["label_agreement"] > 0.98


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibration_methods_produce_qdq_graphs(tmp_path, low_precision, method):
    from gxr.export.quantize import count_ops, quantize_int8

    out = tmp_path / f"{method}.onnx"
    feeds = [{"pixels": np.random.default_rng(i).integers(0, 256, (4, 1, 32, 32), dtype=np.uint8)} for i in range(2)]
    quantize_int8(low_precision["fp32"] / "model.onnx", out, feeds, method)
    assert count_ops(out).get("QuantizeLinear", 0) > 10


@pytest.mark.parametrize("tolerance", ["0", "-1"])
def test_auc_gate_refuses_and_writes_no_version(tmp_path, trained_runs, tolerance):
    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), "--name", "gated",
                     "--input", "uint8", "--precision", "int8", "--calib-count", "16", "--auc-tolerance", tolerance)
    if tolerance == "0" and result.returncode == 0:   # int8 may match FP32 AUC exactly: then 0 must pass
        delta = _manifest(tmp_path / "gated" / "1")["precision"]["parity_vs_fp32"]["auc_delta_mean"]
        assert delta >= 0
        return
    assert_one_line_error(result, "int8 export: mean AUC drops", "nothing written", names=trained_runs["gray"])
    assert not (tmp_path / "gated" / "1").exists()
    assert not list((tmp_path / "gated").glob(".*"))   # no staging folder left behind


@pytest.mark.parametrize("args,needle", [(("--precision", "int4"), "precision 'int4'"),
                                         (("--precision", "int8", "--calib-method", "mse"), "calibration method"),
                                         (("--precision", "int8", "--calib-count", "0"), "calibration count")])
def test_bad_precision_options_are_one_line_errors(tmp_path, trained_runs, args, needle):
    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), *args)
    assert_one_line_error(result, needle, names=None)
    assert not any(tmp_path.rglob("model.onnx"))
