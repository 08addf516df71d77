"""Run an ONNX model with ONNX Runtime (CPU or CUDA provider), reporting the provider really in use.

`OrtRunner` takes an `onnxruntime.InferenceSession` or a loader returning one (`ort_session_loader`, called at
activation); `OrtRunner.from_path(model.onnx, device, threads)` is both in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gxr.backends.base import Runner, TensorMeta, resolve
from gxr.core.errors import GxrError
from gxr.core.imagefile import one_line
from gxr.core.lazy import lazy_import

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16"}


def providers_for(device: str) -> list[str]:
    """ONNX Runtime providers in order of preference for a gxr device name (cpu, cuda, cuda:N)."""
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
        else ["CPUExecutionProvider"]


def ort_session_loader(path: str | Path, device: str = "cpu", threads: int | None = None) -> Callable[[], Any]:
    """A loader: a call creating the InferenceSession of `path` on `device` with `threads` intra-op threads."""
    path = Path(path)

    def load():
        ort = lazy_import("onnxruntime", "the onnxruntime backend")
        if not path.is_file():
            raise GxrError(f"{path}: ONNX model not found")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        available = ort.get_available_providers()
        providers = [p for p in providers_for(device) if p in available]
        try:
            return ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:   # ORT raises its own Fail/InvalidProtobuf/... types
            raise GxrError(f"{path}: not a loadable ONNX model ({one_line(exc)})") from exc

    return load


class OrtRunner(Runner):
    """`session`: an InferenceSession or a loader of one. `wanted_provider`: the provider asked for; when the
    session runs on another one (onnxruntime-gpu falls back to the CPU silently), `fallback_note` says so."""

    backend = "onnxruntime"
    concurrent_infer = True             # InferenceSession.run is thread-safe

    def __init__(self, session: Any | Callable[[], Any], name: str = "", wanted_provider: str | None = None):
        super().__init__(name)
        self._session_source, self.wanted_provider = session, wanted_provider
        self.session = None

    @classmethod
    def from_path(cls, path: str | Path, device: str = "cpu", threads: int | None = None) -> OrtRunner:
        return cls(ort_session_loader(path, device, threads), str(path), providers_for(device)[0])

    def _activate(self) -> None:
        self.session = resolve(self._session_source)
        active = self.session.get_providers()[0]
        mismatch = self.wanted_provider and self.wanted_provider != active
        self.fallback_note = f"asked for {self.wanted_provider}, running on {active}" if mismatch else ""

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0] if self.session is not None else "inactive"

    def _input_metadata(self) -> list[TensorMeta]:
        return [self._meta(t) for t in self.session.get_inputs()]

    def _output_metadata(self) -> list[TensorMeta]:
        return [self._meta(t) for t in self.session.get_outputs()]

    @staticmethod
    def _meta(t) -> TensorMeta:
        return TensorMeta(t.name, _ORT_DTYPES.get(t.type, t.type), tuple(t.shape))

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self._outputs]
        try:
            outputs = self.session.run(names, feed)
        except Exception as exc:
            raise GxrError(f"{self.name}: inference failed ({one_line(exc)})") from exc
        return dict(zip(names, outputs))

    def _deactivate(self) -> None:
        self.session = None
