"""What inference apps import: `gxr.load(path).predict(images)`.

`path` is a model repository entry (models/<name>[/<version>], or its model.onnx), served by ONNX Runtime
without importing torch, or a gxr model.pt / run directory, served by PyTorch. Preprocessing is exactly
the one recorded with the model: decode -> gray (Luma) or RGB -> resize -> uint8 -> normalization
(in the graph for `--input uint8` exports, here otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from gxr.backends.base import Runner
from gxr.core.errors import GxrError
from gxr.core.fileio import sha256_file
from gxr.core.modelinfo import ModelInfo, probabilities
from gxr.core.preprocess import ImageLike, load_pixels

__all__ = ["Model", "load", "data_spec_for"]


class Model:
    """A loaded model: `predict` takes file paths, PIL images or numpy arrays (any size, gray or RGB)."""

    def __init__(self, runner: Runner, info: ModelInfo, input_name: str, input_dtype: str,
                 manifest: dict | None = None, source: str = "", batch_size: int = 32):
        self.runner, self.info, self.manifest, self.source = runner, info, manifest, source
        self.input_name, self.input_dtype, self.batch_size = input_name, input_dtype, batch_size

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def data_spec(self) -> str | None:
        """The data spec the model was trained on, as recorded in its manifest or checkpoint."""
        if self.manifest:
            return ((self.manifest.get("source") or {}).get("data") or {}).get("spec")
        return getattr(self.runner, "recorded_data", {}).get("spec")

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
        raise GxrError(f"{models[0].source}: no data recorded with this model; pass --data SPEC")
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
                                                  and not (path / "manifest.json").is_file())
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
    from gxr.core.repository import resolve_model_dir

    version_dir, manifest = resolve_model_dir(path)
    engine = manifest.get("tensorrt")
    if not engine:
        raise GxrError(f"{version_dir}: has no TensorRT engine; build one with gxr export --trt")
    plan = version_dir / engine["file"]
    if not plan.is_file() or sha256_file(plan) != engine["sha256"]:
        raise GxrError(f"{version_dir / 'manifest.json'}: does not match its engine ({plan.name} missing or changed)")
    from gxr.backends.trt_compat import check_engine_loads_here

    check_engine_loads_here(engine, str(plan), str(version_dir))   # one line: built where, how to rebuild
    info = ModelInfo.from_dict(manifest, source=str(version_dir / "manifest.json"))
    return Model(TrtRunner(plan).activate(), info, manifest["input"]["name"], manifest["input"]["dtype"], manifest,
                 str(version_dir), batch_size=int(manifest["batch"]["max"]))


def _checkpoint_of(path: Path) -> tuple[Path, int]:
    """The source checkpoint of a repository entry and the input size it was exported at, so that
    `--backend torch` runs the same network on the same input as the ONNX model."""
    from gxr.core.repository import resolve_model_dir

    _, manifest = resolve_model_dir(path)
    ckpt = Path(manifest["source"]["checkpoint"])
    if not ckpt.is_file():
        raise GxrError(f"{path}: its source checkpoint {ckpt} is not on this machine")
    if sha256_file(ckpt) != manifest["source"]["sha256"]:
        raise GxrError(f"{ckpt}: changed since {path} was exported (sha256 differs)")
    return ckpt, int(manifest["image_size"])


def _load_torch(path: Path, device: str, threads: int | None, image_size: int | None = None,
                options=None) -> Model:
    from gxr.backends.torch_runner import TorchRunner

    runner = TorchRunner(path, device, threads, options).activate()
    if image_size:   # the architectures are fully convolutional + global pooling
        runner.info.image_size = image_size
    meta = runner.input_metadata()[0]
    return Model(runner, runner.info, meta.name, meta.dtype, source=str(path))


def _load_onnx(path: Path, device: str, threads: int | None, openvino: str | None = None) -> Model:
    from gxr.backends.ort_runner import OrtRunner
    from gxr.core.repository import resolve_model_dir

    version_dir, manifest = resolve_model_dir(path)
    onnx_path = version_dir / manifest["onnx"]["file"]
    if not onnx_path.is_file():
        raise GxrError(f"{onnx_path}: model file named by the manifest is missing")
    if sha256_file(onnx_path) != manifest["onnx"]["sha256"]:
        raise GxrError(f"{version_dir / 'manifest.json'}: does not match its model ({onnx_path.name} sha256 differs)")
    if openvino is not None:
        from gxr.backends.ov_runner import OpenVinoRunner

        if device != "cpu":
            raise GxrError(f"device {device!r}: the openvino backend runs on the CPU here")
        runner = OpenVinoRunner(onnx_path, openvino, threads).activate()
    else:
        runner = OrtRunner(onnx_path, device, threads).activate()
    graph_input = runner.input_metadata()[0]
    spec = manifest["input"]
    if (graph_input.name, graph_input.dtype) != (spec["name"], spec["dtype"]):
        raise GxrError(f"{version_dir / 'manifest.json'}: does not match its model (input "
                       f"{spec['name']}:{spec['dtype']} vs graph {graph_input.name}:{graph_input.dtype})")
    info = ModelInfo.from_dict(manifest, source=str(version_dir / "manifest.json"))
    return Model(runner, info, spec["name"], spec["dtype"], manifest, str(version_dir),
                 batch_size=int(manifest.get("batch", {}).get("max", 32)))
