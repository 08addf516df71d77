"""Run an ONNX model with ONNX Runtime (CPU or CUDA provider), reporting the provider really in use."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gxr.backends.base import Runner, TensorMeta
from gxr.core.errors import GxrError
from gxr.core.lazy import lazy_import

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16"}


class OrtRunner(Runner):
    backend = "onnxruntime"
    concurrent_infer = True             # InferenceSession.run is thread-safe

    def __init__(self, model_onnx: str | Path, device: str = "cpu", threads: int | None = None):
        super().__init__()
        self.path, self.device_name, self.threads = Path(model_onnx), device, threads
        self.session = None

    def _activate(self) -> None:
        ort = lazy_import("onnxruntime", "the onnxruntime backend")
        if not self.path.is_file():
            raise GxrError(f"{self.path}: ONNX model not found")
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device_name.startswith("cuda") \
            else ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        providers = [p for p in wanted if p in available]
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:   # ORT raises its own Fail/InvalidProtobuf/... types
            raise GxrError(f"{self.path}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from exc
        active = self.session.get_providers()[0]
        if wanted[0] != active:
            # onnxruntime-gpu falls back to the CPU silently when CUDA libraries are missing: say so.
            self.fallback_note = f"asked for {wanted[0]}, running on {active}"

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0] if self.session is not None else "inactive"

    def input_metadata(self) -> list[TensorMeta]:
        return [self._meta(t) for t in self._session().get_inputs()]

    def output_metadata(self) -> list[TensorMeta]:
        return [self._meta(t) for t in self._session().get_outputs()]

    def _session(self):
        if self.session is None:
            raise GxrError(f"{self.path}: runner is not active")
        return self.session

    @staticmethod
    def _meta(t) -> TensorMeta:
        return TensorMeta(t.name, _ORT_DTYPES.get(t.type, t.type), tuple(t.shape))

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        try:
            outputs = self.session.run(names, feed)
        except Exception as exc:
            raise GxrError(f"{self.path}: inference failed ({str(exc).splitlines()[0][:200]})") from exc
        return dict(zip(names, outputs))

    def _deactivate(self) -> None:
        self.session = None
