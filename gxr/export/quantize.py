"""Low-precision ONNX graphs: INT8 static post-training quantization (Q/DQ) and FP16 with FP32 I/O.

INT8 uses ONNX Runtime's quantization tools: U8 activations, S8 per-channel weights, QuantizeLinear /
DequantizeLinear pairs around each quantized op (the Q/DQ format ONNX Runtime, OpenVINO and TensorRT all
read), calibrated on real images of the model's own training split (never its test split). FP16 converts
every float initializer and op to float16 and keeps the graph's inputs and outputs float32
(onnxconverter-common's converter with keep_io_types). The manifest records both under one key,
`precision`, built by `precision_record`."""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.comparator import ComparatorResult, check_auc_gate, compare
from gxr.core.errors import GxrError, one_line
from gxr.core.lazy import lazy_import
from gxr.core.manifest import Manifest
from gxr.core.modelinfo import ModelInfo
from gxr.core.normalization import model_input
from gxr.core.scores import Scores

PRECISIONS = ("fp32", "fp16", "int8")
CALIB_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_AUC_TOLERANCE = 0.005
DEFAULT_CALIB_COUNT = 64
CALIB_SPLIT = "train"
CALIB_BATCH = 8


@dataclass(frozen=True)
class Calibration:
    """Which real images calibrate INT8 activation ranges."""

    data: str | None = None      # data spec whose training split is used (None: the model's own)
    count: int = DEFAULT_CALIB_COUNT
    method: str = "minmax"
    seed: int = 0

    def validate(self) -> Calibration:
        if self.method not in CALIB_METHODS:
            raise GxrError(f"calibration method {self.method!r}: choose one of {', '.join(CALIB_METHODS)}")
        if self.count < 1:
            raise GxrError(f"calibration count {self.count}: must be >= 1")
        return self


def with_default_data(calib: Calibration | None, training_spec: str) -> Calibration:
    """`calib` with its data defaulting to the model's own training data."""
    if calib is None:
        return Calibration(training_spec)
    return calib if calib.data else replace(calib, data=training_spec)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise GxrError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


def calibration_pixels(info: ModelInfo, calib: Calibration) -> tuple[np.ndarray, dict[str, Any]]:
    """uint8 N x C x S x S pixels of `calib.count` training images (seeded sample) and their fingerprint."""
    from gxr.data import open_source

    split = open_source(calib.data).split(CALIB_SPLIT)
    count = min(calib.count, len(split))
    indices = np.sort(np.random.default_rng(calib.seed).choice(len(split), count, replace=False))
    from gxr.core.preprocess import to_model_pixels

    pixels = np.stack([to_model_pixels(split.images.open(int(i)), info.channels, info.image_size) for i in indices])
    record = {"data": calib.data, "split": CALIB_SPLIT, "count": int(count), "method": calib.method,
              "seed": calib.seed, "names_sha256": _sha256_text("\n".join(split.images.name(int(i)) for i in indices)),
              "pixels_sha256": hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()}
    return pixels, record


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reader_class():
    """A CalibrationDataReader over ready-made feeds (defined lazily: onnxruntime is optional)."""
    quantization = lazy_import("onnxruntime.quantization", "INT8 quantization")

    class FeedReader(quantization.CalibrationDataReader):
        def __init__(self, feeds: list[dict[str, np.ndarray]]):
            self.feeds, self.position = feeds, 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.position >= len(self.feeds):
                return None
            self.position += 1
            return self.feeds[self.position - 1]

        def __len__(self) -> int:
            return len(self.feeds)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.feeds = self.feeds[start_index:end_index]
            self.position = 0

    return FeedReader


def calibration_feeds(info: ModelInfo, input_name: str, input_dtype: str, pixels: np.ndarray) -> list[dict]:
    """Batches of calibration pixels in the graph's own input contract (raw uint8 or normalized float)."""
    batches = [pixels[i:i + CALIB_BATCH] for i in range(0, len(pixels), CALIB_BATCH)]
    return [{input_name: model_input(b, info.norm, input_dtype == "uint8")} for b in batches]


def _preprocess_for_quantization(src: Path, dst: Path) -> None:
    """ONNX Runtime's recommended pre-pass (shape inference + graph optimization before calibration)."""
    shape_inference = lazy_import("onnxruntime.quantization.shape_inference", "INT8 quantization")
    try:
        shape_inference.quant_pre_process(str(src), str(dst))
    except Exception as exc:   # symbolic shape inference can fail on exotic graphs: retry without it
        try:
            shape_inference.quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        except Exception:
            raise GxrError(f"{src}: ONNX Runtime's quantization pre-processing failed "
                           f"({one_line(exc)})") from exc


def quantize_int8(fp32_onnx: Path, out_onnx: Path, feeds: list[dict[str, np.ndarray]], method: str) -> None:
    """Static PTQ to a Q/DQ graph: U8 activations (ranges from `feeds`), S8 per-channel weights."""
    quantization = lazy_import("onnxruntime.quantization", "INT8 quantization")
    methods = {"minmax": quantization.CalibrationMethod.MinMax, "entropy": quantization.CalibrationMethod.Entropy,
               "percentile": quantization.CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory(prefix="gxr-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        _preprocess_for_quantization(fp32_onnx, prepared)
        try:
            with contextlib.redirect_stdout(io.StringIO()), _entropy_histogram(method):   # calibrators print progress
                quantization.quantize_static(
                    str(prepared), str(out_onnx), _reader_class()(feeds), quant_format=quantization.QuantFormat.QDQ,
                    per_channel=True, activation_type=quantization.QuantType.QUInt8,
                    weight_type=quantization.QuantType.QInt8, calibrate_method=methods[method],
                    extra_options={"CalibPercentile": 99.999} if method == "percentile" else None)
        except GxrError:
            raise
        except Exception as exc:
            raise GxrError(f"{fp32_onnx}: INT8 quantization failed ({one_line(exc)})") from exc


ENTROPY_BINS = 512              # histogram bins the entropy (KL) calibrator collects (2048: ~4x slower, 1.5 more
                                #  tensors clipped per 10 on a ResNet-18; measured 2026-12-02)
ENTROPY_QUANTIZED_BINS = 128    # quantized bins it compares against (uint8 activations: 256 levels, 128 per side)


@contextlib.contextmanager
def _entropy_histogram(method: str):
    """Give ONNX Runtime's entropy calibrator a histogram it can choose a range from.

    `quantize_static` builds its calibrator with `create_calibrator` and passes only some extra options on; the
    entropy calibrator's `num_bins` / `num_quantized_bins` are not among them and both default to 128, which
    leaves one candidate threshold, the full min..max: `--calib-method entropy` would silently be minmax.
    `create_calibrator` documents `num_bins` and `num_quantized_bins` in its own `extra_options`; this supplies
    them for the entropy method while one quantization runs."""
    if method != "entropy":
        yield
        return
    module = lazy_import("onnxruntime.quantization.quantize", "INT8 quantization")
    original = getattr(module, "create_calibrator", None)
    if original is None:
        raise GxrError("this onnxruntime's quantize_static has no create_calibrator to configure: entropy "
                       "calibration would silently equal minmax; use --calib-method minmax or percentile")
    entropy = lazy_import("onnxruntime.quantization", "INT8 quantization").CalibrationMethod.Entropy

    def create(*args, **kwargs):
        if kwargs.get("calibrate_method") == entropy:
            kwargs["extra_options"] = {"num_bins": ENTROPY_BINS, "num_quantized_bins": ENTROPY_QUANTIZED_BINS,
                                       **(kwargs.get("extra_options") or {})}
        return original(*args, **kwargs)

    module.create_calibrator = create
    try:
        yield
    finally:
        module.create_calibrator = original


def convert_fp16(fp32_onnx: Path, out_onnx: Path) -> None:
    """FP16 weights and compute, FP32 (or uint8) inputs and FP32 outputs. Weights smaller in magnitude than
    1e-7 are set to +-1e-7 by the converter, which warns once per value (hundreds for Inception-V3); those
    warnings are silenced here, and the AUC gate against FP32 judges the converted graph as a whole."""
    import warnings

    import onnx

    float16 = lazy_import("onnxconverter_common.float16", "FP16 export")
    model = onnx.load(str(fp32_onnx))
    try:   # Casts stay FP32: the converter would retype a uint8 -> float Cast's output without changing `to`
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
            converted = float16.convert_float_to_float16(model, keep_io_types=True,
                                                         op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, "Cast"])
    except Exception as exc:
        raise GxrError(f"{fp32_onnx}: FP16 conversion failed ({one_line(exc)})") from exc
    onnx.save(converted, str(out_onnx))


def count_ops(onnx_path: Path) -> dict[str, int]:
    """Node count per op type (e.g. QuantizeLinear / DequantizeLinear in a Q/DQ graph)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(onnx_path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def precision_parity(ref: Scores, low: Scores) -> ComparatorResult:
    """Low precision vs FP32 on the same held-out images: the comparator's tensor and AUC parity."""
    return compare(ref, low, ("tensor", "auc"))


def parity_record(result: ComparatorResult) -> dict[str, Any]:
    """manifest["precision"]["parity_vs_fp32"]: label agreement, errors, the AUC difference per label and mean."""
    t, a = result.tensor, result.auc
    return {"images": t.images, "label_agreement": t.label_agreement, "max_abs_error": t.max_abs_error,
            "max_abs_prob_error": t.max_abs_prob_error, "fp32_mean_auc": a.reference_mean_auc,
            "mean_auc": a.candidate_mean_auc, "auc_delta_per_label": a.per_label_delta,
            "auc_delta_mean": a.mean_delta, "min_positives": a.min_positives, "left_out_of_mean": a.left_out}


def precision_record(precision: str, parity: dict[str, Any] | None = None, calibration: dict[str, Any] | None = None,
                     tolerance: float | None = None, parity_data: str | None = None,
                     ops: dict[str, int] | None = None) -> dict[str, Any]:
    """manifest["precision"]: what the graph computes in, how it was calibrated, and its parity vs FP32."""
    graph = {"fp32": "float32", "fp16": "float16 compute, float32 I/O",
             "int8": "Q/DQ: uint8 activations, int8 per-channel weights"}[precision]
    record: dict[str, Any] = {"precision": precision, "graph": graph}
    if calibration is not None:
        record["calibration"] = calibration
    if parity is not None:
        record["parity_vs_fp32"] = {**parity, "data": parity_data, "split": "test", "auc_tolerance": tolerance}
    if ops:
        record["q_dq_nodes"] = {k: ops.get(k, 0) for k in ("QuantizeLinear", "DequantizeLinear")}
    return record


def held_out_scores(onnx_path: Path, manifest: Manifest, data_spec: str, limit: int) -> Scores:
    """The graph's Scores on the first `limit` test images (held out from training and calibration), through the
    runtime as a user would run it."""
    from gxr.runtime import onnx_model, score_data

    with onnx_model(onnx_path, manifest) as model:
        return score_data(model, data_spec, "test", limit)


def make_low_precision(fp32_onnx: Path, out_onnx: Path, precision: str, manifest: Manifest,
                       calib: Calibration | None, parity_data: str, tolerance: float, parity_limit: int,
                       what: str = "") -> dict[str, Any]:
    """Write the `precision` graph of `fp32_onnx` (described by the staged `manifest`) to `out_onnx`, compare it
    with FP32 on held-out real test images, refuse it (GxrError, the comparator's AUC gate) when the mean AUC
    drops more than `tolerance`; return manifest["precision"]."""
    info, calibration = manifest.info, None
    if precision == "int8":
        if calib is None:
            raise GxrError("INT8 needs calibration data (a data spec whose training split is used)")
        pixels, calibration = calibration_pixels(info, calib.validate())
        quantize_int8(fp32_onnx, out_onnx, calibration_feeds(info, manifest.input.name, manifest.input.dtype, pixels),
                      calib.method)
    else:
        convert_fp16(fp32_onnx, out_onnx)
    parity = precision_parity(held_out_scores(fp32_onnx, manifest, parity_data, parity_limit),
                              held_out_scores(out_onnx, manifest, parity_data, parity_limit))
    check_auc_gate(parity.auc, tolerance, f"{what}: {precision} export" if what else f"{precision} export")
    ops = count_ops(out_onnx) if precision == "int8" else None
    return precision_record(precision, parity_record(parity), calibration, tolerance, parity_data, ops)
