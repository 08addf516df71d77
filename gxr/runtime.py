"""What inference apps import: `gxr.load(path).predict(images)`.

`path` is a model repository entry (models/<name>[/<version>], or its model.onnx), served by ONNX Runtime
without importing torch, or a gxr model.pt / run directory, served by PyTorch. Preprocessing is exactly
the one recorded with the model: decode -> gray (Luma) or RGB -> resize -> uint8 -> normalization
(in the graph for `--input uint8` exports, here otherwise)."""

from __future__ import annotations

import os
import threading
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from gxr.backends.base import Runner
from gxr.core.decodepool import (
    ERROR_POLICIES,
    Decoded,
    DecodePool,
    default_decode_workers,
    raise_if_failed,
    source_names,
)
from gxr.core.errors import GxrError
from gxr.core.manifest import MANIFEST, Manifest
from gxr.core.modelinfo import ModelInfo, probabilities
from gxr.core.normalization import model_input
from gxr.core.preprocess import ImageLike, decode_pixels
from gxr.core.repository import resolve_model_dir
from gxr.core.results import ImageResult, top1
from gxr.core.scores import Scores

__all__ = ["Model", "ImageResult", "Scores", "load", "data_spec_for", "score_split", "score_data"]

ACCEPTED_IMAGES = (str, os.PathLike, bytes, np.ndarray, Image.Image)


class Model:
    """A loaded model: `predict` takes file paths, PIL images or numpy arrays (any size, gray or RGB).

    One Model may be called from many threads at once. Images are decoded by a pool of `decode_workers`
    threads (0: in the calling thread), overlapped with inference: while one batch runs, the next ones decode.
    Inputs are split into batches of at most `batch_size` (the model's maximum batch)."""

    def __init__(self, runner: Runner, info: ModelInfo, input_name: str, input_dtype: str,
                 manifest: Manifest | None = None, source: str = "", batch_size: int = 32,
                 provenance: dict | None = None, decode_workers: int | None = None):
        self.runner, self.info, self.manifest, self.source = runner, info, manifest, source
        self.input_name, self.input_dtype, self.batch_size = input_name, input_dtype, batch_size
        # where the network came from: {"data": {spec, fingerprint, sizes, notes}, "recipe": {...}, "init": [...]}
        self.provenance = provenance if provenance is not None else (manifest.source if manifest is not None else {})
        self.decoder = DecodePool(default_decode_workers() if decode_workers is None else decode_workers)
        self._infer_lock = threading.Lock()
        self.recommendation = None   # the gxr optimize recommendation this model was loaded by, if any

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def single_label(self) -> bool:
        """One answer per image (binary or multi-class), so a top-1 prediction exists."""
        return self.info.task in ("binary", "multiclass")

    @property
    def data_spec(self) -> str | None:
        """The data spec the model was trained on, as recorded in its manifest or checkpoint."""
        return (self.provenance.get("data") or {}).get("spec")

    def decode(self, image: ImageLike, name: str) -> Decoded:
        """One image -> uint8 C x S x S pixels and its metadata; a failure is kept as the image's error.
        The one place where per-image metadata (`meta`) is filled."""
        if not isinstance(image, ACCEPTED_IMAGES):
            return Decoded(name, None, GxrError(f"{name}: not an image: expected a file path, encoded bytes, a PIL "
                                                f"image or a numpy array, got {type(image).__name__}"))
        try:
            pixels, meta = decode_pixels(image, self.info.channels, self.info.image_size, name)
            return Decoded(name, pixels, None, meta)
        except GxrError as exc:
            return Decoded(name, None, exc)
        except Exception as exc:   # any decoder failure stays one image's error, never the whole call's
            error = GxrError(f"{name}: cannot read image ({type(exc).__name__}: {exc})")
            error.__cause__ = exc   # kept for GXR_DEBUG, as `raise ... from exc` would
            return Decoded(name, None, error)

    def feed(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 pixels -> this model's input contract (raw uint8, or normalized float32)."""
        return {self.input_name: model_input(pixels, self.info.norm, self.input_dtype == "uint8")}

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One runner call; serialized for runners that are not safe to call concurrently."""
        if self.runner.concurrent_infer:
            return self.runner.infer(feed)
        with self._infer_lock:
            return self.runner.infer(feed)

    def logits_from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        out = [self.infer(self.feed(pixels[i:i + self.batch_size]))["logits"]
               for i in range(0, len(pixels), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.info.num_outputs), np.float32)

    def logits(self, images: ImageLike | Iterable[ImageLike], errors: str = "raise",
               batch_size: int | None = None) -> np.ndarray:
        """N x L logits; with errors="skip" the rows of images that could not be read are NaN."""
        return self._run(_as_list(images), errors, batch_size)[0]

    def predict(self, images: ImageLike | Iterable[ImageLike], errors: str = "raise",
                batch_size: int | None = None) -> np.ndarray:
        """Per-label probabilities, N x L (sigmoid; softmax for multi-class models).

        errors="raise": the first image that cannot be read raises GxrError naming it. errors="skip": every
        readable image is predicted and the rows of the others are NaN (`predict_results` says why)."""
        return probabilities(self.logits(images, errors, batch_size), self.info.task)

    def predict_results(self, images: ImageLike | Iterable[ImageLike], errors: str = "skip",
                        batch_size: int | None = None) -> list[ImageResult]:
        """One ImageResult per image, in order: probabilities per label (and the top-1 class for single-label
        models), or the reason it could not be read; `meta` holds what the decoder learned about it."""
        logits, decoded = self._run(_as_list(images), errors, batch_size)
        probs = probabilities(logits, self.info.task)
        return [self._result(d, row) for d, row in zip(decoded, probs)]

    def _result(self, decoded: Decoded, row: np.ndarray) -> ImageResult:
        if decoded.error is not None:
            return ImageResult(decoded.name, error=str(decoded.error), meta=decoded.meta)
        values = [float(v) for v in row]
        return ImageResult(decoded.name, dict(zip(self.labels, values)), meta=decoded.meta,
                           top1=top1(self.info.task, self.labels, self.info.classes, values))

    def _run(self, images: list, errors: str, batch_size: int | None) -> tuple[np.ndarray, list[Decoded]]:
        """Decode (in the pool, ahead of inference) and infer batch by batch; logits with NaN rows for failures."""
        if errors not in ERROR_POLICIES:
            raise GxrError(f"errors={errors!r}: choose one of {', '.join(ERROR_POLICIES)}")
        if not images:
            raise GxrError("no images given")
        batch = max(1, min(batch_size or self.batch_size, self.batch_size))
        logits = np.full((len(images), self.info.num_outputs), np.nan, np.float32)
        decoded: list[Decoded] = []
        with closing(self.decoder.batches(self.decode, images, source_names(images), batch)) as stream:
            for start, chunk in stream:
                if errors == "raise":
                    for d in chunk:
                        raise_if_failed(d)
                decoded += chunk
                good = [i for i, d in enumerate(chunk) if d.pixels is not None]
                if good:
                    out = self.infer(self.feed(np.stack([chunk[i].pixels for i in good])))["logits"]
                    logits[[start + i for i in good]] = out
                for d in chunk:
                    d.pixels = None    # keep only the results: memory stays flat over long streams
        return logits, decoded

    def close(self) -> None:
        self.decoder.close()
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


def score_split(model: Model, split, limit: int | None = None, data: str = "", split_name: str = "") -> Scores:
    """The one way gxr predicts a labelled split: the first `limit` images (default all) of a `gxr.data.Split`,
    decoded with the model's recorded preprocessing, through its runner; logits at full precision."""
    from gxr.data import split_pixels

    pixels = split_pixels(split, model.info.channels, model.info.image_size, limit)
    n = len(pixels)
    return Scores(model.logits_from_pixels(pixels), np.asarray(split.targets[:n]), list(model.labels),
                  model.info.task, [split.images.name(i) for i in range(n)], f"{model.source} ({model.backend})",
                  data, split_name)


def score_data(model: Model, data: str | None = None, split: str = "test", limit: int | None = None) -> Scores:
    """`score_split` on a split of a data spec (default: the data the model was trained on)."""
    from gxr.data import open_source

    spec = data_spec_for(data, model)
    return score_split(model, open_source(spec).split(split), limit, spec, split)


def _as_list(images) -> list:
    if isinstance(images, (str, Path, bytes, np.ndarray)) or hasattr(images, "getpixel"):
        return [images]
    return list(images)


def load(path: str | Path, backend: str = "auto", device: str = "cpu", threads: int | None = None,
         torch_options=None, decode_workers: int | None = None, recommended: bool = True) -> Model:
    """Load a model for inference (see the module docstring for what `path` may be). `torch_options`
    (gxr.backends.torch_runner.TorchOptions) tune the torch backend: precision, channels-last, CUDA graphs,
    uint8 input. `decode_workers`: threads decoding images ahead of inference (default: one per core, at
    most 4; 0 decodes in the calling thread).

    A model name folder (models/<name>) that `gxr optimize` gave a recommendation is loaded as recommended:
    that version, backend, thread count and batch size (`threads`, if given, overrides the thread count), unless
    a `backend` is given or `recommended=False` (then: the newest version). `Model.recommendation` says which."""
    path = Path(path)
    rec = _recommendation_for(path) if recommended and backend == "auto" else None
    if rec is not None:
        model = _load(path / str(rec.version), rec.backend, device, rec.threads if threads is None else threads,
                      torch_options)
        model.batch_size = max(1, min(rec.batch, model.batch_size))
        model.recommendation = rec
    else:
        model = _load(path, backend, device, threads, torch_options)
    if decode_workers is not None:
        model.decoder = DecodePool(decode_workers)
    return model


def _recommendation_for(path: Path):
    """The recommendation of a model name folder (not of a version or a file), or None."""
    from gxr.core.recommended import read_recommendation

    if not path.is_dir() or (path / MANIFEST).is_file():
        return None
    return read_recommendation(path)


def _load(path: Path, backend: str, device: str, threads: int | None, torch_options) -> Model:
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
    runner = _check_logits(TrtRunner.from_path(plan).activate(), manifest.info.num_outputs)
    return Model(runner, manifest.info, manifest.input.name, manifest.input.dtype, manifest,
                 str(version_dir), batch_size=manifest.batch.max)


def _check_logits(runner: Runner, num_outputs: int) -> Runner:
    """The loaded model must answer what Model reads: an output "logits" with one column per label."""
    outputs = {m.name: m for m in runner.output_metadata()}
    logits = outputs.get("logits")
    if logits is None:
        runner.deactivate()
        raise GxrError(f"{runner.name}: has no output named 'logits' (outputs: {', '.join(outputs) or 'none'})")
    if len(logits.shape) != 2 or not (logits.dynamic(1) or logits.shape[1] == num_outputs):
        runner.deactivate()
        raise GxrError(f"{runner.name}: output 'logits' has shape {logits.shape}, expected (batch, {num_outputs})")
    return runner


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
                         options, name=str(path)).activate()
    meta = runner.input_metadata()[0]
    provenance = {"data": payload.get("data"), "recipe": payload.get("recipe"), "init": payload.get("init_notes")}
    return Model(runner, info, meta.name, meta.dtype, source=str(path), provenance=provenance)


def onnx_model(onnx_path: Path, manifest: Manifest, device: str = "cpu", threads: int | None = None) -> Model:
    """A Model over an ONNX file described by `manifest` that is not (yet) in a repository, e.g. a graph being
    exported, so that export checks score it exactly as `gxr.load` would."""
    from gxr.backends.ort_runner import OrtRunner

    runner = OrtRunner.from_path(onnx_path, device, threads).activate()
    _check_logits(runner, manifest.info.num_outputs)
    return Model(runner, manifest.info, manifest.input.name, manifest.input.dtype, manifest, str(onnx_path),
                 batch_size=manifest.batch.max)


def _load_onnx(path: Path, device: str, threads: int | None, openvino: str | None = None) -> Model:
    from gxr.backends.ort_runner import OrtRunner

    version_dir, manifest = resolve_model_dir(path)
    onnx_path = manifest.verify_artifact(version_dir, manifest.onnx)
    if openvino is not None:
        from gxr.backends.ov_runner import OpenVinoRunner

        if device != "cpu":
            raise GxrError(f"device {device!r}: the openvino backend runs on the CPU here")
        runner = OpenVinoRunner.from_path(onnx_path, openvino, threads).activate()
    else:
        runner = OrtRunner.from_path(onnx_path, device, threads).activate()
    _check_logits(runner, manifest.info.num_outputs)
    graph_input = runner.input_metadata()[0]
    manifest.check_graph_input(version_dir, graph_input.name, graph_input.dtype)
    return Model(runner, manifest.info, manifest.input.name, manifest.input.dtype, manifest, str(version_dir),
                 batch_size=manifest.batch.max)
