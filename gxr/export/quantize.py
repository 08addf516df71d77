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
import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError, one_line
from gxr.core.lazy import lazy_import
from gxr.core.metrics import evaluate
from gxr.core.modelinfo import ModelInfo, predicted_labels, probabilities

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
    if input_dtype == "uint8":
        return [{input_name: b} for b in batches]
    return [{input_name: info.norm.apply(b)} for b in batches]


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
            with contextlib.redirect_stdout(io.StringIO()):   # the histogram calibrators print progress
                quantization.quantize_static(
                    str(prepared), str(out_onnx), _reader_class()(feeds), quant_format=quantization.QuantFormat.QDQ,
                    per_channel=True, activation_type=quantization.QuantType.QUInt8,
                    weight_type=quantization.QuantType.QInt8, calibrate_method=methods[method],
                    extra_options={"CalibPercentile": 99.999} if method == "percentile" else None)
        except GxrError:
            raise
        except Exception as exc:
            raise GxrError(f"{fp32_onnx}: INT8 quantization failed ({one_line(exc)})") from exc


def convert_fp16(fp32_onnx: Path, out_onnx: Path) -> None:
    """FP16 weights and compute, FP32 (or uint8) inputs and FP32 outputs."""
    import onnx

    float16 = lazy_import("onnxconverter_common.float16", "FP16 export")
    model = onnx.load(str(fp32_onnx))
    try:   # Casts stay FP32: the converter would retype a uint8 -> float Cast's output without changing `to`
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


def precision_parity(ref_logits: np.ndarray, low_logits: np.ndarray, targets: np.ndarray,
                     info: ModelInfo) -> dict[str, Any]:
    """Low precision vs FP32 on the same held-out images: label agreement, max abs error and the AUC
    difference (low minus FP32) per label and mean."""
    ref_probs, low_probs = probabilities(ref_logits, info.task), probabilities(low_logits, info.task)
    agree = predicted_labels(ref_probs, info.task) == predicted_labels(low_probs, info.task)
    ref_eval = evaluate(info.task, info.labels, targets, ref_probs)
    low_eval = evaluate(info.task, info.labels, targets, low_probs)
    per_label = {k: _diff(low_eval["auc"][k], ref_eval["auc"][k]) for k in info.labels}
    return {"images": int(len(ref_logits)), "label_agreement": float(agree.mean()),
            "max_abs_error": float(np.abs(ref_logits - low_logits).max()),
            "max_abs_prob_error": float(np.abs(ref_probs - low_probs).max()),
            "fp32_mean_auc": ref_eval["mean_auc"], "mean_auc": low_eval["mean_auc"],
            "auc_delta_per_label": per_label, "auc_delta_mean": _diff(low_eval["mean_auc"], ref_eval["mean_auc"])}


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(a - b)


def check_auc_gate(parity: dict[str, Any], tolerance: float, what: str) -> None:
    """Refuse a low-precision model whose mean AUC dropped more than `tolerance` below FP32."""
    delta = parity["auc_delta_mean"]
    if delta is None or math.isnan(delta):
        raise GxrError(f"{what}: cannot check the AUC tolerance (AUC undefined on the parity images); "
                       "nothing written")
    if -delta > tolerance:
        raise GxrError(f"{what}: mean AUC drops {-delta:.4f} vs FP32 on {parity['images']} held-out images "
                       f"({parity['fp32_mean_auc']:.4f} -> {parity['mean_auc']:.4f}), more than the tolerance "
                       f"{tolerance:g}; nothing written")


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


def held_out(info: ModelInfo, data_spec: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pixels and targets of the first `limit` test images (held out from training and calibration)."""
    from gxr.data import open_source, split_pixels

    split = open_source(data_spec).split("test")
    pixels = split_pixels(split, info.channels, info.image_size, limit)
    return pixels, np.asarray(split.targets[:len(pixels)])


def _ort_logits(onnx_path: Path, input_name: str, feed_of, pixels: np.ndarray, batch: int = 32) -> np.ndarray:
    from gxr.backends.ort_runner import OrtRunner

    with OrtRunner(onnx_path) as runner:
        return np.concatenate([runner.infer({input_name: feed_of(pixels[i:i + batch])})["logits"]
                               for i in range(0, len(pixels), batch)])


def make_low_precision(fp32_onnx: Path, out_onnx: Path, precision: str, info: ModelInfo, input_name: str,
                       input_dtype: str, calib: Calibration | None, parity_data: str, tolerance: float,
                       parity_limit: int, what: str = "") -> dict[str, Any]:
    """Write the `precision` graph of `fp32_onnx` to `out_onnx`, compare it with FP32 on held-out real test
    images, refuse it (GxrError) when the mean AUC drops more than `tolerance`; return manifest["precision"]."""
    calibration = None
    if precision == "int8":
        if calib is None:
            raise GxrError("INT8 needs calibration data (a data spec whose training split is used)")
        pixels, calibration = calibration_pixels(info, calib.validate())
        quantize_int8(fp32_onnx, out_onnx, calibration_feeds(info, input_name, input_dtype, pixels), calib.method)
    else:
        convert_fp16(fp32_onnx, out_onnx)
    pixels, targets = held_out(info, parity_data, parity_limit)

    def feed_of(batch: np.ndarray) -> np.ndarray:
        return batch if input_dtype == "uint8" else info.norm.apply(batch)

    parity = precision_parity(_ort_logits(fp32_onnx, input_name, feed_of, pixels),
                              _ort_logits(out_onnx, input_name, feed_of, pixels), targets, info)
    check_auc_gate(parity, tolerance, f"{what}: {precision} export" if what else f"{precision} export")
    ops = count_ops(out_onnx) if precision == "int8" else None
    return precision_record(precision, parity, calibration, tolerance, parity_data, ops)
