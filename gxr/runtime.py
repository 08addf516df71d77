"""What inference apps import: `gxr.load(path).predict(images)`.

`path` is a model repository entry (models/<name>[/<version>], or its model.onnx), served by ONNX Runtime
without importing torch, or a gxr model.pt / run directory, served by PyTorch. Preprocessing is exactly
the one recorded with the model: decode -> gray (Luma) or RGB -> resize -> uint8 -> normalization
(in the graph for `--input uint8` exports, here otherwise)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from gxr.backends.base import Runner
from gxr.core.errors import GxrError
from gxr.core.manifest import MANIFEST, Manifest
from gxr.core.modelinfo import ModelInfo, probabilities
from gxr.core.preprocess import ImageLike, load_pixels
from gxr.core.repository import resolve_model_dir

__all__ = ["Model", "load", "data_spec_for"]


class Model:
    """A loaded model: `predict` takes file paths, PIL images or numpy arrays (any size, gray or RGB)."""

    def __init__(self, runner: Runner, info: ModelInfo, input_name: str, input_dtype: str,
                 manifest: Manifest | None = None, source: str = "", batch_size: int = 32,
                 training: dict | None = None):
        self.runner, self.info, self.manifest, self.source = runner, info, manifest, source
        self.input_name, self.input_dtype, self.batch_size = input_name, input_dtype, batch_size
        # how the network was trained: {"data": {spec, fingerprint, sizes, notes}, "recipe": {...}, "init": [...]}
        self.training = training if training is not None else (manifest.source if manifest is not None else {})

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def data_spec(self) -> str | None:
        """The data spec the model was trained on, as recorded in its manifest or checkpoint."""
        return (self.training.get("data") or {}).get("spec")

    def preprocess(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Images -> uint8 N x C x S x S at the model's size and channel count."""
        if not images:
            raise GxrError("no images given")
        return np.stack([load_pixels(img, self.info.channels, self.info.image_size) for img in images])

    def feed(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 pixels -> this model's input contract (raw uint8, or normalized float32)."""
        if self.input_dtype == "uint8":
            return {self.input_name: pixels}
        return {self.input_name: self.info.norm.apply(pixels)}

    def logits_from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        out = [self.runner.infer(self.feed(pixels[i:i + self.batch_size]))["logits"]
               for i in range(0, len(pixels), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.info.num_outputs), np.float32)

    def logits(self, images: ImageLike | Iterable[ImageLike]) -> np.ndarray:
        return self.logits_from_pixels(self.preprocess(_as_list(images)))

    def predict(self, images: ImageLike | Iterable[ImageLike]) -> np.ndarray:
        """Per-label probabilities, N x L (sigmoid; softmax for multi-class models)."""
        return probabilities(self.logits(images), self.info.task)

    def predict_labeled(self, images: ImageLike | Iterable[ImageLike]) -> list[dict[str, float]]:
        return [dict(zip(self.labels, map(float, row))) for row in self.predict(images)]

    def close(self) -> None:
        self.runner.deactivate()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def data_spec_for(explicit: str | None, *models: Model) -> str:
    """`explicit` if given, else the first data spec recorded with one of `models`."""
    spec = explicit or next((m.data_spec for m in models if m.data_spec), None)
    if not spec:
        raise GxrError(f"{models[0].source}: no data recorded with this model; give a data spec")
    return spec


def _as_list(images) -> list:
    if isinstance(images, (str, Path, bytes, np.ndarray)) or hasattr(images, "getpixel"):
        return [images]
    return list(images)


def load(path: str | Path, backend: str = "auto", device: str = "cpu", threads: int | None = None,
         torch_options=None) -> Model:
    """Load a model for inference (see the module docstring for what `path` may be). `torch_options`
    (gxr.backends.torch_runner.TorchOptions) tune the torch backend: precision, channels-last, CUDA graphs,
    uint8 input."""
    path = Path(path)
    if not path.exists():
        raise GxrError(f"{path}: model not found")
    is_torch = path.suffix in (".pt", ".pth") or (path.is_dir() and (path / "model.pt").is_file()
                                                  and not (path / MANIFEST).is_file())
    if backend == "torch" or (backend == "auto" and is_torch):
        if is_torch:
            return _load_torch(path, device, threads, None, torch_options)
        ckpt, image_size = _checkpoint_of(path)
        return _load_torch(ckpt, device, threads, image_size, torch_options)
    if backend == "tensorrt" or (backend == "auto" and path.suffix == ".plan"):
        return _load_tensorrt(path)
    if backend.partition(":")[0] == "openvino":   # openvino[:fp32|bf16|fp16]
        return _load_onnx(path, device, threads, openvino=backend.partition(":")[2] or "fp32")
    if backend not in ("auto", "onnxruntime"):
        raise GxrError(f"backend {backend!r}: choose auto, onnxruntime, openvino[:bf16], torch or tensorrt")
    return _load_onnx(path, device, threads)


def _load_tensorrt(path: Path) -> Model:
    from gxr.backends.trt_runner import TrtRunner

    version_dir, manifest = resolve_model_dir(path)
    if manifest.tensorrt is None:
        raise GxrError(f"{version_dir}: has no TensorRT engine (build one with `gxr export --trt`)")
    plan = manifest.verify_artifact(version_dir, manifest.tensorrt)
    from gxr.backends.trt_compat import check_engine_loads_here

    check_engine_loads_here(manifest.tensorrt.to_dict(), str(plan), str(version_dir))   # built where, how to rebuild
    return Model(TrtRunner(plan).activate(), manifest.info, manifest.input.name, manifest.input.dtype, manifest,
                 str(version_dir), batch_size=manifest.batch.max)


def _checkpoint_of(path: Path) -> tuple[Path, int]:
    """The source checkpoint of a repository entry and the input size it was exported at, so that the torch
    backend runs the same network on the same input as the ONNX model."""
    from gxr.core.fileio import sha256_file

    _, manifest = resolve_model_dir(path)
    ckpt = Path(manifest.source["checkpoint"])
    if not ckpt.is_file():
        raise GxrError(f"{path}: its source checkpoint {ckpt} is not on this machine")
    if sha256_file(ckpt) != manifest.source["sha256"]:
        raise GxrError(f"{ckpt}: changed since {path} was exported (sha256 differs)")
    return ckpt, manifest.info.image_size


def _load_torch(path: Path, device: str, threads: int | None, image_size: int | None = None,
                options=None) -> Model:
    from gxr.backends.torch_runner import TorchRunner
    from gxr.nets.checkpoint import load_model

    network, info, payload = load_model(path)
    if image_size:   # the architectures are fully convolutional + global pooling
        info = replace(info, image_size=image_size)
    runner = TorchRunner(network, info.channels, info.image_size, info.num_outputs, info.norm, device, threads,
                         options).activate()
    meta = runner.input_metadata()[0]
    training = {"data": payload.get("data"), "recipe": payload.get("recipe"), "init": payload.get("init_notes")}
    return Model(runner, info, meta.name, meta.dtype, source=str(path), training=training)


def _load_onnx(path: Path, device: str, threads: int | None, openvino: str | None = None) -> Model:
    from gxr.backends.ort_runner import OrtRunner

    version_dir, manifest = resolve_model_dir(path)
    onnx_path = manifest.verify_artifact(version_dir, manifest.onnx)
    if openvino is not None:
        from gxr.backends.ov_runner import OpenVinoRunner

        if device != "cpu":
            raise GxrError(f"device {device!r}: the openvino backend runs on the CPU here")
        runner = OpenVinoRunner(onnx_path, openvino, threads).activate()
    else:
        runner = OrtRunner(onnx_path, device, threads).activate()
    graph_input = runner.input_metadata()[0]
    manifest.check_graph_input(version_dir, graph_input.name, graph_input.dtype)
    return Model(runner, manifest.info, manifest.input.name, manifest.input.dtype, manifest, str(version_dir),
                 batch_size=manifest.batch.max)
