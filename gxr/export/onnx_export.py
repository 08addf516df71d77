"""`gxr export`: model.pt -> ONNX (dynamic batch), checked, compared with PyTorch on real images."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gxr import __version__
from gxr.core.errors import GxrError
from gxr.core.fileio import sha256_file, write_json, write_text
from gxr.core.metrics import compare_logits
from gxr.core.modelinfo import ModelInfo
from gxr.core.repository import MANIFEST, MANIFEST_FORMAT, staged_version_dir, triton_config
from gxr.nets import check_image_size
from gxr.nets.checkpoint import load_model, resolve_model_pt
from gxr.nets.pixel_input import PixelInput

INPUT_DTYPES = ("float", "uint8")
EXPORTERS = ("torchscript", "dynamo")
PARITY_REL_TOL = 1e-3


def _export_graph(module: nn.Module, example: torch.Tensor, path: Path, input_name: str, opset: int,
                  exporter: str, dynamic_channels: bool) -> None:
    axes = {0: "batch", 1: "channels"} if dynamic_channels else {0: "batch"}
    try:
        if exporter == "dynamo":
            dims = {i: torch.export.Dim.AUTO for i in axes}
            torch.onnx.export(module, (example,), str(path), dynamo=True, input_names=[input_name],
                              output_names=["logits"], dynamic_shapes=(dims,), opset_version=opset)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # the TorchScript exporter is deprecated but stable here
                torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=[input_name],
                                  output_names=["logits"], opset_version=opset,
                                  dynamic_axes={input_name: axes, "logits": {0: "batch"}})
    except ModuleNotFoundError as exc:
        raise GxrError(f"--exporter {exporter}: needs {exc.name} (pip install {exc.name})") from None


def check_onnx(path: Path) -> None:
    """onnx.checker + strict shape inference; raises GxrError naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise GxrError(f"{path}: ONNX checker failed ({str(exc).splitlines()[0]})") from None


def parity_images(info: ModelInfo, data_spec: str | None, limit: int) -> np.ndarray:
    """uint8 pixels of real test images (the checkpoint's own data unless --data)."""
    from gxr.data import open_source, split_pixels

    if not data_spec:
        raise GxrError("no data to check parity on: the checkpoint records none; pass --data SPEC")
    return split_pixels(open_source(data_spec).split("test"), info.channels, info.image_size, limit)


def export_model(ckpt: Path, repo: Path, name: str | None = None, version: int | None = None, opset: int = 17,
                 batch: dict[str, int] | None = None, input_dtype: str = "float", data_spec: str | None = None,
                 image_size: int | None = None, exporter: str = "torchscript", parity_limit: int = 32,
                 tolerance: float = PARITY_REL_TOL, precision: str = "fp32", calib=None,
                 auc_tolerance: float | None = None, precision_parity_limit: int = 1000,
                 trt: bool = False, console=None) -> tuple[Path, dict[str, Any]]:
    """Export and verify; returns (version dir, manifest). Nothing is left behind on failure.
    `precision` fp16 | int8 (gxr.export.quantize) writes the low-precision graph as model.onnx, after
    checking it against the FP32 graph on up to `precision_parity_limit` real test images. `trt` also builds
    a TensorRT engine from that graph inside the staged version (gxr.export.trt)."""
    from gxr.backends.ort_runner import OrtRunner
    from gxr.core.repository import next_version

    if input_dtype not in INPUT_DTYPES:
        raise GxrError(f"--input {input_dtype!r}: choose float or uint8")
    if exporter not in EXPORTERS:
        raise GxrError(f"--exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    ckpt = resolve_model_pt(ckpt)
    model, info, payload = load_model(ckpt)
    trained_size = info.image_size
    if image_size and image_size != info.image_size:
        check_image_size(info.arch, image_size)
        info.image_size = image_size
    batch = batch or {"min": 1, "opt": 8, "max": 32}
    name = name or _default_name(ckpt, info)
    version = version or next_version(repo, name)
    uint8 = input_dtype == "uint8"
    module = PixelInput(model, info.norm, info.channels).eval() if uint8 else model
    input_name = "pixels" if uint8 else "input"
    used_spec = data_spec or (payload.get("data") or {}).get("spec")
    pixels = parity_images(info, used_spec, parity_limit)

    from gxr.export import quantize

    quantize.check_precision(precision)
    with staged_version_dir(repo, name, version) as stage:
        onnx_path = stage / ("model.onnx" if precision == "fp32" else "fp32.onnx")
        example = torch.from_numpy(pixels[:2]) if uint8 else torch.from_numpy(info.norm.apply(pixels[:2]))
        _export_graph(module, example, onnx_path, input_name, opset, exporter, uint8 and info.channels == 3)
        check_onnx(onnx_path)
        with torch.inference_mode():
            ref = model(torch.from_numpy(info.norm.apply(pixels))).float().numpy()
        with OrtRunner(onnx_path) as runner:
            feed = pixels if uint8 else info.norm.apply(pixels)
            out = runner.infer({input_name: feed})["logits"]
            parity = compare_logits(ref, out, info.task)
            parity.update(images=len(pixels), data=used_spec, provider=runner.provider,
                          tolerance_rel=tolerance)
            if uint8 and info.channels == 3:   # gray fed as 1 channel must equal gray replicated to 3
                gray = pixels.mean(axis=1, keepdims=True).round().astype(np.uint8)
                one = runner.infer({input_name: gray})["logits"]
                three = runner.infer({input_name: np.repeat(gray, 3, axis=1)})["logits"]
                parity["gray_input_max_abs_diff"] = float(np.abs(one - three).max())
        if parity["max_rel_error"] > tolerance or parity["label_agreement"] < 1.0:
            raise GxrError(f"{ckpt}: ONNX output differs from PyTorch beyond tolerance (max rel error "
                           f"{parity['max_rel_error']:.3g} > {tolerance:g} or label agreement "
                           f"{parity['label_agreement']:.3f} < 1); nothing written")
        precision_info = quantize.precision_record("fp32")
        if precision != "fp32":   # the low-precision graph replaces the checked FP32 one
            calib = quantize.with_default_data(calib, (payload.get("data") or {}).get("spec") or used_spec)
            precision_info = quantize.make_low_precision(
                onnx_path, stage / "model.onnx", precision, info, input_name, input_dtype, calib,
                used_spec, quantize.DEFAULT_AUC_TOLERANCE if auc_tolerance is None else auc_tolerance,
                precision_parity_limit, str(ckpt))
            onnx_path.unlink()
            onnx_path = stage / "model.onnx"
        manifest = _manifest(info, trained_size, payload, ckpt, onnx_path, name, version, opset, batch,
                             input_name, uint8, exporter, parity)
        manifest["precision"] = precision_info
        if trt:
            from gxr.export.trt import build_engine

            build_engine(stage, manifest, console)
        write_json(stage / MANIFEST, manifest)
    write_text(repo / name / "config.pbtxt", triton_config(name, manifest))
    return repo / name / str(version), manifest


def _default_name(ckpt: Path, info: ModelInfo) -> str:
    run = ckpt.parent.name
    return run if run and run != "." else f"{info.arch}-{'gray' if info.channels == 1 else 'color'}"


def _manifest(info: ModelInfo, trained_size: int, payload: dict, ckpt: Path, onnx_path: Path, name: str,
              version: int, opset: int, batch: dict, input_name: str, uint8: bool, exporter: str,
              parity: dict) -> dict[str, Any]:
    channels_in = "channels" if uint8 and info.channels == 3 else info.channels
    return {
        "format": MANIFEST_FORMAT, "name": name, "version": version, **info.to_dict(),
        "trained_image_size": trained_size,
        "input": {"name": input_name, "dtype": "uint8" if uint8 else "float32", "layout": "NCHW",
                  "shape": ["batch", channels_in, info.image_size, info.image_size],
                  "accepted_channels": [1, 3] if channels_in == "channels" else [info.channels],
                  "normalized_in_graph": uint8},
        "output": {"name": "logits", "dtype": "float32", "shape": ["batch", info.num_outputs],
                   "activation": "softmax" if info.task == "multiclass" else "sigmoid"},
        "batch": batch,
        "source": {"checkpoint": str(ckpt.resolve()), "sha256": sha256_file(ckpt),
                   "recipe": payload.get("recipe"), "data": payload.get("data"),
                   "test_metrics": (payload.get("metrics") or {}).get("test")},
        "onnx": {"file": onnx_path.name, "sha256": sha256_file(onnx_path), "bytes": onnx_path.stat().st_size,
                 "opset": opset, "exporter": exporter, "torch": torch.__version__},
        "parity": parity,
        "gxr_version": __version__, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
