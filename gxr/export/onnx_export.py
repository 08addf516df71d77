"""`gxr export`: model.pt -> ONNX (dynamic batch) in the model repository, checked with onnx.checker and
compared with PyTorch on real images before the version is published (nothing is written otherwise)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gxr import __version__
from gxr.core.comparator import TensorParity, logit_parity
from gxr.core.errors import GxrError, one_line
from gxr.core.manifest import Artifact, InputSpec, Manifest, OutputSpec
from gxr.core.modelinfo import ModelInfo
from gxr.core.normalization import model_input
from gxr.core.repository import check_servable_together, staged_version, version_manifests, write_server_config
from gxr.export.options import ExportOptions, Notify, silent
from gxr.nets import check_image_size
from gxr.nets.checkpoint import load_model, resolve_model_pt
from gxr.nets.pixel_input import PixelInput


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
                tolerance: float) -> tuple[TensorParity, dict]:
    """ONNX Runtime vs PyTorch logits on the same real images (+ gray-as-1-channel for color uint8 graphs):
    the comparator's tensor parity, and the manifest's record of it."""
    from gxr.backends.ort_runner import OrtRunner

    with torch.inference_mode():
        ref = model(torch.from_numpy(info.norm.apply(pixels))).float().numpy()
    feed = model_input(pixels, info.norm, spec.normalized_in_graph)
    with OrtRunner.from_path(onnx_path) as runner:
        out = runner.infer({spec.name: feed})["logits"]
        tensor = logit_parity(ref, out, info.task)
        parity = asdict(tensor) | {"provider": runner.provider, "tolerance_rel": tolerance}
        if spec.accepted_channels == [1, 3]:   # gray fed as 1 channel must equal gray replicated to 3
            gray = pixels.mean(axis=1, keepdims=True).round().astype(np.uint8)
            one = runner.infer({spec.name: gray})["logits"]
            three = runner.infer({spec.name: np.repeat(gray, 3, axis=1)})["logits"]
            parity["gray_input_max_abs_diff"] = float(np.abs(one - three).max())
    return tensor, parity


def check_parity(parity: TensorParity, ckpt: Path, tolerance: float) -> None:
    """The export gate: ONNX Runtime must match PyTorch within `tolerance` (relative) and on every decision."""
    if parity.max_rel_error > tolerance or parity.label_agreement < 1.0:
        raise GxrError(f"{ckpt}: ONNX output differs from PyTorch beyond tolerance (max rel error "
                       f"{parity.max_rel_error:.3g} > {tolerance:g} or label agreement "
                       f"{parity.label_agreement:.3f} < 1); nothing written")


def export_model(ckpt: Path, repo: Path, options: ExportOptions = ExportOptions(),
                 notify: Notify = silent) -> tuple[Path, Manifest]:
    """Export and verify as `options` say; returns (version dir, manifest). Nothing is left behind on failure.
    A low-precision graph replaces the checked FP32 one as model.onnx (gxr.export.quantize); `options.trt`
    also builds a TensorRT engine from it inside the staged version (gxr.export.trt). `notify` hears what a
    person at the terminal should know (a stale staging folder removed, an engine build under way)."""
    from gxr.export import quantize

    o = options.validate()
    ckpt = resolve_model_pt(ckpt)
    model, info, payload = load_model(ckpt)
    trained_size = info.image_size
    if o.image_size and o.image_size != info.image_size:
        info.image_size = check_image_size(info.arch, o.image_size)
    name = o.name or _default_name(ckpt, info)
    spec = input_spec(info, o.uint8)
    used_spec = o.data_spec or (payload.get("data") or {}).get("spec")
    pixels = parity_images(info, used_spec, o.parity_limit)
    module = PixelInput(model, info.norm, info.channels).eval() if spec.normalized_in_graph else model
    with staged_version(repo, name, o.version, notify) as (stage, version):
        manifest = Manifest(name=name, version=version, info=info, input=spec, batch=o.batch,
                            output=OutputSpec("logits", "float32", ["batch", info.num_outputs],
                                              "softmax" if info.task == "multiclass" else "sigmoid"),
                            onnx=Artifact("model.onnx", "", 0), trained_image_size=trained_size,
                            source=_source_record(ckpt, payload), gxr_version=__version__)
        check_servable_together(manifest, version_manifests(Path(repo) / name), Path(repo) / name)
        onnx_path = stage / ("model.onnx" if o.precision == "fp32" else "fp32.onnx")
        example = model_input(pixels[:2], info.norm, spec.normalized_in_graph)
        _export_graph(module, torch.from_numpy(example), onnx_path, spec.name, o.opset, o.exporter,
                      spec.accepted_channels == [1, 3])
        check_onnx(onnx_path)
        tensor, record = onnx_parity(model, onnx_path, info, spec, pixels, o.tolerance)
        check_parity(tensor, ckpt, o.tolerance)
        manifest.parity = record | {"data": used_spec}
        manifest.precision = quantize.precision_record("fp32")
        if o.precision != "fp32":   # the low-precision graph replaces the checked FP32 one
            calib = quantize.with_default_data(o.calib, (payload.get("data") or {}).get("spec") or used_spec)
            manifest.precision = quantize.make_low_precision(
                onnx_path, stage / "model.onnx", o.precision, manifest, calib, used_spec, o.auc_tolerance,
                o.precision_parity_limit, str(ckpt))
            onnx_path.unlink()
            onnx_path = stage / "model.onnx"
        manifest.onnx = Artifact.of(onnx_path, opset=o.opset, exporter=o.exporter, torch=torch.__version__)
        if o.trt:
            from gxr.export.trt import build_engine

            manifest = replace(manifest, tensorrt=build_engine(stage, manifest, notify))
        manifest.save(stage)
    write_server_config(repo, name)
    return Path(repo) / name / str(version), manifest


def _default_name(ckpt: Path, info: ModelInfo) -> str:
    run = ckpt.parent.name
    return run if run and run != "." else f"{info.arch}-{'gray' if info.channels == 1 else 'color'}"


def _source_record(ckpt: Path, payload: dict) -> dict:
    from gxr.core.fileio import sha256_file

    return {"checkpoint": str(ckpt.resolve()), "sha256": sha256_file(ckpt), "recipe": payload.get("recipe"),
            "data": payload.get("data"), "init": payload.get("init_notes"),
            "test_metrics": (payload.get("metrics") or {}).get("test")}
