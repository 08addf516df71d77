"""`gxr export`: model.pt -> ONNX (dynamic batch) in the model repository, checked with onnx.checker and
compared with PyTorch on real images before the version is published (nothing is written otherwise)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gxr import __version__
from gxr.core.errors import GxrError, one_line
from gxr.core.manifest import Artifact, BatchRange, InputSpec, Manifest, OutputSpec
from gxr.core.metrics import compare_logits
from gxr.core.modelinfo import ModelInfo
from gxr.core.repository import check_servable_together, staged_version, version_manifests, write_server_config
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
        raise GxrError(f"the {exporter} exporter needs {exc.name} (pip install {exc.name})") from exc


def check_onnx(path: Path) -> None:
    """onnx.checker + strict shape inference; raises GxrError naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise GxrError(f"{path}: ONNX checker failed ({one_line(exc)})") from exc


def parity_images(info: ModelInfo, data_spec: str | None, limit: int) -> np.ndarray:
    """uint8 pixels of real test images (the checkpoint's own data unless another spec is given)."""
    from gxr.data import open_source, split_pixels

    if not data_spec:
        raise GxrError("no data to check parity on: the checkpoint records none; give a data spec")
    return split_pixels(open_source(data_spec).split("test"), info.channels, info.image_size, limit)


def input_spec(info: ModelInfo, uint8: bool) -> InputSpec:
    """uint8 graphs of color models take 1 or 3 channels (gray is replicated in the graph)."""
    channels = "channels" if uint8 and info.channels == 3 else info.channels
    return InputSpec(name="pixels" if uint8 else "input", dtype="uint8" if uint8 else "float32",
                     shape=["batch", channels, info.image_size, info.image_size],
                     accepted_channels=[1, 3] if channels == "channels" else [info.channels],
                     normalized_in_graph=uint8)


def onnx_parity(model: nn.Module, onnx_path: Path, info: ModelInfo, spec: InputSpec, pixels: np.ndarray,
                tolerance: float) -> dict:
    """ONNX Runtime vs PyTorch logits on the same real images (+ gray-as-1-channel for color uint8 graphs)."""
    from gxr.backends.ort_runner import OrtRunner

    with torch.inference_mode():
        ref = model(torch.from_numpy(info.norm.apply(pixels))).float().numpy()
    feed = pixels if spec.normalized_in_graph else info.norm.apply(pixels)
    with OrtRunner(onnx_path) as runner:
        out = runner.infer({spec.name: feed})["logits"]
        parity = compare_logits(ref, out, info.task)
        parity.update(images=len(pixels), provider=runner.provider, tolerance_rel=tolerance)
        if spec.accepted_channels == [1, 3]:   # gray fed as 1 channel must equal gray replicated to 3
            gray = pixels.mean(axis=1, keepdims=True).round().astype(np.uint8)
            one = runner.infer({spec.name: gray})["logits"]
            three = runner.infer({spec.name: np.repeat(gray, 3, axis=1)})["logits"]
            parity["gray_input_max_abs_diff"] = float(np.abs(one - three).max())
    return parity


def check_parity(parity: dict, ckpt: Path, tolerance: float) -> None:
    if parity["max_rel_error"] > tolerance or parity["label_agreement"] < 1.0:
        raise GxrError(f"{ckpt}: ONNX output differs from PyTorch beyond tolerance (max rel error "
                       f"{parity['max_rel_error']:.3g} > {tolerance:g} or label agreement "
                       f"{parity['label_agreement']:.3f} < 1); nothing written")


def export_model(ckpt: Path, repo: Path, *, name: str | None = None, version: int | None = None, opset: int = 17,
                 batch: BatchRange | None = None, input_dtype: str = "float", data_spec: str | None = None,
                 image_size: int | None = None, exporter: str = "torchscript", parity_limit: int = 32,
                 tolerance: float = PARITY_REL_TOL, precision: str = "fp32", calib=None,
                 auc_tolerance: float | None = None, precision_parity_limit: int = 1000, trt: bool = False,
                 console=None, say: Callable[[str], None] = lambda _: None) -> tuple[Path, Manifest]:
    """Export and verify; returns (version dir, manifest). Nothing is left behind on failure.
    `precision` fp16 | int8 (gxr.export.quantize) writes the low-precision graph as model.onnx, after
    checking it against the FP32 graph on up to `precision_parity_limit` real test images (`calib`: a
    quantize.Calibration; default: the model's own training data). `trt` also builds a TensorRT engine from
    that graph inside the staged version (gxr.export.trt)."""
    from gxr.export import quantize

    if input_dtype not in INPUT_DTYPES:
        raise GxrError(f"input dtype {input_dtype!r}: choose float or uint8")
    if exporter not in EXPORTERS:
        raise GxrError(f"exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    ckpt = resolve_model_pt(ckpt)
    model, info, payload = load_model(ckpt)
    trained_size = info.image_size
    if image_size and image_size != info.image_size:
        info.image_size = check_image_size(info.arch, image_size)
    name = name or _default_name(ckpt, info)
    spec = input_spec(info, input_dtype == "uint8")
    used_spec = data_spec or (payload.get("data") or {}).get("spec")
    pixels = parity_images(info, used_spec, parity_limit)
    module = PixelInput(model, info.norm, info.channels).eval() if spec.normalized_in_graph else model
    quantize.check_precision(precision)
    with staged_version(repo, name, version, say) as (stage, version):
        manifest = Manifest(name=name, version=version, info=info, input=spec, batch=batch or BatchRange(),
                            output=OutputSpec("logits", "float32", ["batch", info.num_outputs],
                                              "softmax" if info.task == "multiclass" else "sigmoid"),
                            onnx=Artifact("model.onnx", "", 0), trained_image_size=trained_size,
                            source=_source_record(ckpt, payload), gxr_version=__version__)
        check_servable_together(manifest, version_manifests(Path(repo) / name), Path(repo) / name)
        onnx_path = stage / ("model.onnx" if precision == "fp32" else "fp32.onnx")
        example = pixels[:2] if spec.normalized_in_graph else info.norm.apply(pixels[:2])
        _export_graph(module, torch.from_numpy(example), onnx_path, spec.name, opset, exporter,
                      spec.accepted_channels == [1, 3])
        check_onnx(onnx_path)
        manifest.parity = onnx_parity(model, onnx_path, info, spec, pixels, tolerance) | {"data": used_spec}
        check_parity(manifest.parity, ckpt, tolerance)
        manifest.precision = quantize.precision_record("fp32")
        if precision != "fp32":   # the low-precision graph replaces the checked FP32 one
            calib = quantize.with_default_data(calib, (payload.get("data") or {}).get("spec") or used_spec)
            manifest.precision = quantize.make_low_precision(
                onnx_path, stage / "model.onnx", precision, info, spec.name, input_dtype, calib, used_spec,
                quantize.DEFAULT_AUC_TOLERANCE if auc_tolerance is None else auc_tolerance,
                precision_parity_limit, str(ckpt))
            onnx_path.unlink()
            onnx_path = stage / "model.onnx"
        manifest.onnx = Artifact.of(onnx_path, opset=opset, exporter=exporter, torch=torch.__version__)
        if trt:
            manifest = build_engine_into(stage, manifest, console)
        manifest.save(stage)
    write_server_config(repo, name)
    return Path(repo) / name / str(version), manifest


def build_engine_into(stage: Path, manifest: Manifest, console=None) -> Manifest:
    """A TensorRT engine built from the staged ONNX, recorded in the manifest (gxr.export.trt works on dicts)."""
    from gxr.export.trt import build_engine

    record = manifest.to_dict()
    build_engine(stage, record, console)
    return Manifest.from_dict(record, str(stage))


def _default_name(ckpt: Path, info: ModelInfo) -> str:
    run = ckpt.parent.name
    return run if run and run != "." else f"{info.arch}-{'gray' if info.channels == 1 else 'color'}"


def _source_record(ckpt: Path, payload: dict) -> dict:
    from gxr.core.fileio import sha256_file

    return {"checkpoint": str(ckpt.resolve()), "sha256": sha256_file(ckpt), "recipe": payload.get("recipe"),
            "data": payload.get("data"), "init": payload.get("init_notes"),
            "test_metrics": (payload.get("metrics") or {}).get("test")}
