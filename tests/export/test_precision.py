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


def _activation_scales(onnx_path) -> dict[str, float]:
    """Per-tensor scale of every quantized activation (QuantizeLinear of a computed tensor) by tensor name."""
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node
            if n.op_type == "QuantizeLinear" and n.input[0] not in inits and inits[n.input[1]].size == 1}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, low_precision, pneumonia_spec):
    """The trained FP32 graph quantized three ways on the same 32 real training images, and the FP32 logits
    of every real test image: {"fp32": logits, "pixels": test pixels, "input": name, method: int8 path}."""
    from gxr.backends.ort_runner import OrtRunner
    from gxr.core.manifest import Manifest
    from gxr.data import open_source, split_pixels
    from gxr.export.quantize import Calibration, calibration_feeds, calibration_pixels, quantize_int8

    fp32 = low_precision["fp32"] / "model.onnx"
    manifest = Manifest.load(low_precision["fp32"])
    pixels, _ = calibration_pixels(manifest.info, Calibration(pneumonia_spec, 32))
    feeds = calibration_feeds(manifest.info, manifest.input.name, manifest.input.dtype, pixels)
    out = {"input": manifest.input.name}
    folder = tmp_path_factory.mktemp("calibrated")
    for method in ("minmax", "entropy", "percentile"):
        out[method] = folder / f"{method}.onnx"
        quantize_int8(fp32, out[method], feeds, method)
    out["pixels"] = split_pixels(open_source(pneumonia_spec).split("test"), 1, manifest.info.image_size, 1000)
    with OrtRunner.from_path(fp32) as runner:
        out["fp32"] = runner.infer({manifest.input.name: out["pixels"]})["logits"]
    return out


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibrated_int8_agrees_with_fp32_on_real_images(calibrated, method):
    from gxr.backends.ort_runner import OrtRunner

    with OrtRunner.from_path(calibrated[method]) as runner:
        low = runner.infer({calibrated["input"]: calibrated["pixels"]})["logits"]
    ref = calibrated["fp32"]
    assert len(ref) == 624 and ref.std() > 1                  # every test image; logits spread well beyond 1
    assert np.mean((low > 0) == (ref > 0)) >= 0.98            # the same label (measured: 623 of 624)
    assert np.abs(low - ref).mean() < 0.1 * ref.std()         # measured: ~0.015 x the spread


def test_percentile_calibration_clips_activation_ranges_inside_minmax(calibrated):
    """The 99.999th percentile range lies inside the observed min..max, so no activation scale is wider than
    minmax's, and where rare outliers stretch a tensor's range the percentile scale is clearly narrower."""
    minmax, percentile = _activation_scales(calibrated["minmax"]), _activation_scales(calibrated["percentile"])
    assert len(minmax) > 10 and set(percentile) == set(minmax)
    ratios = np.array([percentile[k] / minmax[k] for k in minmax])
    assert ratios.max() <= 1 + 1e-6
    assert ratios.min() < 0.95                                 # measured: 0.89 on one tensor


def test_entropy_calibration_chooses_ranges_other_than_minmax(calibrated):
    """With ONNX Runtime's defaults (128 histogram bins, 128 quantized bins) entropy calibration could only pick
    the full min..max; gxr gives it 512 bins, so it clips some activations' ranges, never widening one."""
    minmax, entropy = _activation_scales(calibrated["minmax"]), _activation_scales(calibrated["entropy"])
    assert set(entropy) == set(minmax)
    ratios = [entropy[k] / minmax[k] for k in minmax]
    assert sum(r < 0.95 for r in ratios) >= 3 and max(ratios) <= 1.0 + 1e-6


GATE_MARGIN = 1e-3   # tolerances this far either side of the measured AUC change (one AUC step here: ~1e-5)


def _gated_int8_export(repo, run, tolerance: float):
    """The same INT8 export as the `low_precision` fixture's (same run, same 32 calibration images), gated."""
    return run_gxr("export", str(run), "--repo", str(repo), "--name", "gated", "--input", "uint8",
                   "--precision", "int8", "--calib-count", "32", "--auc-tolerance", repr(tolerance))


@pytest.fixture(scope="module")
def measured_auc_delta(low_precision) -> float:
    """The mean AUC change (int8 minus FP32) of this export, as recorded by the `low_precision` fixture's export of
    the same run with the same calibration (gated at the default 0.005, which it passed)."""
    parity = _manifest(low_precision["int8"])["precision"]["parity_vs_fp32"]
    assert isinstance(parity["auc_delta_mean"], float) and parity["images"] == 624
    return parity["auc_delta_mean"]


def test_auc_gate_refuses_a_drop_beyond_the_tolerance_and_writes_no_version(tmp_path, cli_runs, measured_auc_delta):
    tolerance = -measured_auc_delta - GATE_MARGIN        # the measured drop exceeds it by GATE_MARGIN
    result = _gated_int8_export(tmp_path, cli_runs["gray"], tolerance)
    assert_one_line_error(result, "int8 export: mean AUC drops", "nothing written", names=cli_runs["gray"])
    assert not (tmp_path / "gated" / "1").exists()
    assert not list((tmp_path / "gated").glob(".*"))   # no staging folder left behind


def test_auc_gate_passes_a_drop_within_the_tolerance(tmp_path, cli_runs, measured_auc_delta):
    tolerance = -measured_auc_delta + GATE_MARGIN        # the measured drop stays GATE_MARGIN inside it
    result = _gated_int8_export(tmp_path, cli_runs["gray"], tolerance)
    assert result.returncode == 0, result.stderr + result.stdout
    parity = _manifest(tmp_path / "gated" / "1")["precision"]["parity_vs_fp32"]
    assert parity["auc_tolerance"] == pytest.approx(tolerance)
    assert parity["auc_delta_mean"] == pytest.approx(measured_auc_delta, abs=1e-6)   # same export, same change


@pytest.mark.parametrize("args,needle", [(("--precision", "int4"), "precision 'int4'"),
                                         (("--precision", "int8", "--calib-method", "mse"), "calibration method"),
                                         (("--precision", "int8", "--calib-count", "0"), "calibration count")])
def test_bad_precision_options_are_one_line_errors(tmp_path, trained_runs, args, needle):
    result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(tmp_path), *args)
    assert_one_line_error(result, needle, names=None)
    assert not any(tmp_path.rglob("model.onnx"))
