"""One served model version: a loaded `gxr.runtime.Model` behind the Open Inference Protocol's typed tensors.

Inputs (exactly one per request):
- the model's raw tensor, UINT8 N x C x S x S (named as in the manifest, e.g. "pixels"): what `--input uint8`
  graphs take; float graphs are normalized here, exactly as `gxr.load` does;
- "images", BYTES [N]: encoded PNG / JPEG / DICOM / ... files, decoded with the model's recorded preprocessing
  (`Model.decode`) in its decode pool.
Outputs: "logits" FP32 N x L, "probabilities" FP64 N x L (what `Model.predict` returns, bit for bit the same
formula) and, with the request parameter errors="skip", "errors" BYTES [N] ("" or why an image could not be read;
its rows are NaN). By default (errors="raise") the first unreadable image fails the request, naming it.

No HTTP or gRPC here: the REST, gRPC and Ray front ends all call `ServedModel.infer`."""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.modelinfo import probabilities
from gxr.serve.batcher import BatchObserver, BatchPolicy, DynamicBatcher
from gxr.serve.protocol import (
    BadRequest,
    DeadlineExceeded,
    InferRequest,
    InferResponse,
    ModelMetadata,
    Tensor,
    TensorMetadata,
)

IMAGES = "images"
LOGITS, PROBABILITIES, ERRORS = "logits", "probabilities", "errors"
ERROR_POLICIES = ("raise", "skip")
SERVE_BACKENDS = ("auto", "onnxruntime", "openvino", "openvino:fp32", "openvino:bf16", "openvino:fp16")


@dataclass(frozen=True)
class LoadOptions:
    """How each version is loaded and batched (the CLI's --backend, --threads, --max-batch, ...)."""
    backend: str = "auto"
    threads: int | None = None
    decode_workers: int | None = None
    batching: BatchPolicy = field(default_factory=BatchPolicy)

    def __post_init__(self) -> None:
        if self.backend not in SERVE_BACKENDS:   # torch (unpickling) and TensorRT are not served
            raise GxrError(f"backend {self.backend!r}: gxr serve runs {', '.join(SERVE_BACKENDS)}")
        if self.batching.max_batch < 1 or self.batching.max_queue_delay_s < 0:
            raise GxrError("--max-batch must be >= 1 and --max-queue-delay-ms >= 0")


class ServedModel:
    """A loaded version with its batcher. Thread-safe: `infer` is called from many request threads at once."""

    def __init__(self, model, name: str, version: int, policy: BatchPolicy, observer: BatchObserver | None = None):
        self.model, self.name, self.version = model, name, version
        self.max_request_batch = model.batch_size
        policy = BatchPolicy(policy.enabled, min(policy.max_batch, model.batch_size), policy.max_queue_delay_s)
        self.batcher = DynamicBatcher(self._logits, policy, observer, f"{name}-{version}")
        manifest = model.manifest
        self.raw_input = manifest.input.name if manifest is not None else "pixels"
        self.accepted_channels = list(manifest.input.accepted_channels) if manifest is not None else [
            model.info.channels]

    @classmethod
    def load(cls, version_dir: Path, name: str, version: int, options: LoadOptions,
             observer: BatchObserver | None = None) -> ServedModel:
        """Load models/<name>/<version> (ONNX, verified against its manifest's sha256; nothing unpickled)."""
        from gxr.runtime import load

        model = load(version_dir, backend=options.backend, threads=options.threads,
                     decode_workers=options.decode_workers)
        return cls(model, name, version, options.batching, observer)

    # ---- what the model takes and returns -------------------------------------------------------------
    def inputs(self) -> list[TensorMetadata]:
        info = self.model.info
        channels = self.accepted_channels[0] if len(self.accepted_channels) == 1 else -1
        return [TensorMetadata(self.raw_input, "UINT8", [-1, channels, info.image_size, info.image_size]),
                TensorMetadata(IMAGES, "BYTES", [-1])]

    def outputs(self) -> list[TensorMetadata]:
        n = self.model.info.num_outputs
        return [TensorMetadata(LOGITS, "FP32", [-1, n]), TensorMetadata(PROBABILITIES, "FP64", [-1, n]),
                TensorMetadata(ERRORS, "BYTES", [-1])]

    def metadata(self, versions: list[str] | None = None) -> ModelMetadata:
        return ModelMetadata(self.name, versions or [str(self.version)], self.platform, self.inputs(),
                             self.outputs())

    def config(self) -> dict:
        """This version as Triton's model configuration (its JSON form), for clients that ask for it (dims exclude
        the batch axis; `images` is one encoded file per batch row)."""
        types = {"UINT8": "TYPE_UINT8", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64", "BYTES": "TYPE_STRING"}

        def tensors(metas: list[TensorMetadata]) -> list[dict]:
            return [{"name": t.name, "data_type": types[t.datatype], "dims": t.shape[1:] or [1]} for t in metas]

        policy = self.batcher.policy
        config = {"name": self.name, "platform": self.platform, "max_batch_size": self.max_request_batch,
                  "input": tensors(self.inputs()), "output": tensors(self.outputs())}
        if policy.enabled:
            config["dynamic_batching"] = {"max_queue_delay_microseconds": int(policy.max_queue_delay_s * 1e6)}
        return config

    @property
    def platform(self) -> str:
        return "onnxruntime_onnx" if self.model.backend == "onnxruntime" else self.model.backend

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    # ---- inference ------------------------------------------------------------------------------------
    def infer(self, request: InferRequest, deadline: float | None = None) -> InferResponse:
        """Check, decode, batch with concurrent requests, answer. Bad requests raise BadRequest (one line)."""
        policy = request.parameters.get("errors", "raise")
        if policy not in ERROR_POLICIES:
            raise BadRequest(f"parameter errors={str(policy)[:40]!r}: choose raise or skip")
        wanted = self._requested_outputs(request.outputs, policy)
        pixels, errors = self._pixels(self._single_input(request.inputs), policy == "skip")
        n = len(errors)
        good = [i for i, e in enumerate(errors) if not e]
        logits = np.full((n, self.model.info.num_outputs), np.nan, np.float32)
        if good:
            logits[good] = self._wait(self.batcher.submit(pixels, deadline), deadline)
        tensors = {LOGITS: logits, PROBABILITIES: probabilities(logits, self.model.info.task)}
        outputs = []
        for name in wanted:
            if name == ERRORS:
                data = np.empty(n, dtype=object)
                data[:] = [e.encode("utf-8") for e in errors]
                outputs.append(Tensor(ERRORS, "BYTES", [n], data))
            else:
                arr = tensors[name]
                outputs.append(Tensor(name, "FP32" if name == LOGITS else "FP64", list(arr.shape), arr))
        return InferResponse(self.name, str(self.version), outputs, request.id)

    def _requested_outputs(self, names: list[str] | None, policy: str) -> list[str]:
        known = [LOGITS, PROBABILITIES] + ([ERRORS] if policy == "skip" else [])
        if names is None:
            return known
        for name in names:
            if name not in known:
                extra = " (only with the parameter errors=skip)" if name == ERRORS else ""
                raise BadRequest(f"model {self.name!r}: unknown output {str(name)[:60]!r}{extra}; outputs: "
                                 f"{', '.join(known)}")
        return list(dict.fromkeys(names))

    def _single_input(self, inputs: list[Tensor]) -> Tensor:
        expected = f"'{self.raw_input}' (UINT8 {self.inputs()[0].shape}) or '{IMAGES}' (BYTES [-1], encoded images)"
        if not inputs:
            raise BadRequest(f"model {self.name!r}: missing input: give one of {expected}")
        if len(inputs) > 1:
            raise BadRequest(f"model {self.name!r}: {len(inputs)} inputs given; give exactly one of {expected}")
        tensor = inputs[0]
        if tensor.name not in (self.raw_input, IMAGES):
            raise BadRequest(f"model {self.name!r}: unknown input {tensor.name[:60]!r}; give one of {expected}")
        return tensor

    def _pixels(self, tensor: Tensor, skip: bool) -> tuple[np.ndarray, list[str]]:
        """uint8 N x C x S x S of the readable images, and per image "" or why it could not be read."""
        if tensor.name == IMAGES:
            return self._decoded(tensor, skip)
        return self._raw(tensor), [""] * len(tensor.data)

    def _raw(self, tensor: Tensor) -> np.ndarray:
        size, name = self.model.info.image_size, tensor.name
        if tensor.datatype != "UINT8":
            raise BadRequest(f"input {name!r}: datatype {tensor.datatype}, expected UINT8 pixels 0..255")
        shape = tensor.shape
        if len(shape) != 4:
            raise BadRequest(f"input {name!r}: shape {shape}, expected [N, C, {size}, {size}] (NCHW)")
        if shape[1] not in self.accepted_channels:
            raise BadRequest(f"input {name!r}: {shape[1]} channels, this model takes "
                             f"{' or '.join(map(str, self.accepted_channels))}")
        if shape[2:] != [size, size]:
            raise BadRequest(f"input {name!r}: images of {shape[2]} x {shape[3]} pixels, this model takes "
                             f"{size} x {size} (send encoded images as '{IMAGES}' to have them resized)")
        self._check_batch(name, shape[0])
        return tensor.data

    def _decoded(self, tensor: Tensor, skip: bool) -> tuple[np.ndarray, list[str]]:
        if tensor.datatype != "BYTES":
            raise BadRequest(f"input {IMAGES!r}: datatype {tensor.datatype}, expected BYTES (encoded image files)")
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise BadRequest(f"input {IMAGES!r}: shape {tensor.shape}, expected [N] (one encoded file each)")
        items = list(tensor.data.reshape(-1))
        self._check_batch(IMAGES, len(items))
        names = [f"{IMAGES}[{i}]" for i in range(len(items))]
        m = self.model
        with closing(m.decoder.batches(m.decode, items, names, max(1, len(items)))) as stream:
            decoded = [d for _, chunk in stream for d in chunk]
        errors = [str(d.error).replace("\n", " ") if d.error is not None else "" for d in decoded]
        bad = [e for e in errors if e]
        if bad and (not skip or len(bad) == len(errors)):
            raise BadRequest(bad[0] if len(bad) == 1 else f"{bad[0]} (and {len(bad) - 1} more unreadable images)")
        good = [d.pixels for d in decoded if d.error is None]
        return np.stack(good), errors

    def _check_batch(self, name: str, n: int) -> None:
        if not 1 <= n <= self.max_request_batch:
            raise BadRequest(f"input {name!r}: {n} images in one request; this model takes 1 to "
                             f"{self.max_request_batch}")

    def _logits(self, pixels: np.ndarray) -> np.ndarray:
        return self.model.infer(self.model.feed(pixels))["logits"]

    @staticmethod
    def _wait(future, deadline: float | None) -> np.ndarray:
        try:
            return future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            raise DeadlineExceeded("the request timed out") from None

    def close(self) -> None:
        """Finish queued batches, then release the runner and decode pool."""
        self.batcher.close()
        self.model.close()
