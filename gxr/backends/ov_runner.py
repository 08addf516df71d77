"""Run an ONNX model with OpenVINO on the CPU: FP32 or BF16 through the inference-precision hint, INT8 from
a Q/DQ graph, LATENCY or THROUGHPUT performance hint, and a `provider` that says what really ran.

OpenVINO reads model.onnx directly (no IR conversion step). `OpenVinoRunner` takes a read `ov.Model` or a
loader returning one (`ov_model_loader`, called at activation), and optionally the `ov.Core` to compile with;
`OpenVinoRunner.from_path(model.onnx, ...)` is both in one line. The graphs have a dynamic batch axis; the
runner compiles one static-shape copy per input shape it meets (static shapes run faster on the CPU
plugin) and keeps the few most recent ones."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gxr.backends.base import Runner, TensorMeta, resolve
from gxr.core.errors import GxrError
from gxr.core.imagefile import one_line
from gxr.core.lazy import lazy_import

OV_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}   # gxr name -> OpenVINO element type
PERFORMANCE_HINTS = ("latency", "throughput")
MAX_COMPILED_SHAPES = 4
_LOW_PRECISION_KERNELS = ("u8", "i8")
_OV_DTYPES = {"f32": "float32", "u8": "uint8", "f16": "float16", "i64": "int64"}


def check_options(precision: str, hint: str) -> None:
    if precision not in OV_PRECISIONS:
        raise GxrError(f"OpenVINO inference precision {precision!r}: choose one of {', '.join(OV_PRECISIONS)}")
    if hint not in PERFORMANCE_HINTS:
        raise GxrError(f"OpenVINO performance hint {hint!r}: choose latency or throughput")


def ov_model_loader(path: str | Path, core: Any | None = None) -> Callable[[], Any]:
    """A loader: a call reading the ONNX file `path` into an `ov.Model` (with `core`, or a new ov.Core)."""
    path = Path(path)

    def load():
        ov = lazy_import("openvino", "the openvino backend")
        if not path.is_file():
            raise GxrError(f"{path}: ONNX model not found")
        try:
            return (core or ov.Core()).read_model(str(path))
        except Exception as exc:   # OpenVINO raises RuntimeError subclasses with long C++ traces
            raise GxrError(f"{path}: OpenVINO cannot load it ({one_line(exc)})") from exc

    return load


class OpenVinoRunner(Runner):
    """`model`: an `ov.Model` or a loader of one; `core`: the ov.Core compiling it (default: a new one)."""

    backend = "openvino"

    def __init__(self, model: Any | Callable[[], Any], precision: str = "fp32", threads: int | None = None,
                 hint: str = "latency", static_shapes: bool = True, name: str = "", core: Any | None = None):
        check_options(precision, hint)
        self.backend = "openvino" if precision == "fp32" else f"openvino:{precision}"   # as gxr.load names it
        super().__init__(name)
        self._model_source, self._core_given = model, core
        self.precision, self.threads, self.hint, self.static_shapes = precision, threads, hint, static_shapes
        self.core = self.model = None
        self.compiled: OrderedDict[tuple, Any] = OrderedDict()   # input shape (or None: dynamic) -> (compiled, request)

    @classmethod
    def from_path(cls, path: str | Path, precision: str = "fp32", threads: int | None = None,
                  hint: str = "latency", static_shapes: bool = True) -> OpenVinoRunner:
        return cls(ov_model_loader(path), precision, threads, hint, static_shapes, name=str(path))

    def config(self) -> dict[str, Any]:
        """compile_model properties: inference precision, performance hint and threads."""
        cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": OV_PRECISIONS[self.precision],
                               "PERFORMANCE_HINT": self.hint.upper()}
        if self.threads:
            cfg["INFERENCE_NUM_THREADS"] = int(self.threads)
        return cfg

    def _activate(self) -> None:
        ov = lazy_import("openvino", "the openvino backend")
        self.model = resolve(self._model_source)
        self.core = self._core_given or ov.Core()
        try:
            self._compile(None)   # the dynamic-batch model: the precision really used
        except Exception as exc:   # OpenVINO raises RuntimeError subclasses with long C++ traces
            self._deactivate()
            raise GxrError(f"{self.name}: OpenVINO cannot compile it ({one_line(exc)})") from exc
        used = self.inference_precision()
        mismatch = used != OV_PRECISIONS[self.precision]
        self.fallback_note = f"asked for {self.precision}, OpenVINO runs {used} on this CPU" if mismatch else ""

    def _compile(self, shape: tuple | None):
        if shape in self.compiled:
            self.compiled.move_to_end(shape)
            return self.compiled[shape]
        model = self.model
        if shape is not None:
            model = self.model.clone()
            model.reshape({model.inputs[0].get_any_name(): list(shape)})
        compiled = self.core.compile_model(model, "CPU", self.config())
        self.compiled[shape] = (compiled, compiled.create_infer_request())
        while len(self.compiled) > MAX_COMPILED_SHAPES + 1:   # + the dynamic one, which stays
            oldest = next(k for k in self.compiled if k is not None)
            del self.compiled[oldest]
        return self.compiled[shape]

    def inference_precision(self) -> str:
        """The floating-point precision the compiled model reports (f32, bf16, f16)."""
        compiled, _ = self.compiled[None]
        return str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())

    def int8_kernels(self) -> int:
        """Convolutions / MatMuls the CPU plugin really runs on 8-bit integers (0 for float graphs)."""
        compiled, _ = self.compiled[None]
        count = 0
        for op in compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            kind = info["layerType"].astype(str) if "layerType" in info else ""
            runtime = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
            if kind in ("Convolution", "FullyConnected", "MatMul") and runtime in _LOW_PRECISION_KERNELS:
                count += 1
        return count

    @property
    def provider(self) -> str:
        if not self.compiled:
            return "inactive"
        int8 = self.int8_kernels()
        precision = f"int8 ({int8} int8 conv/fc) + {self.inference_precision()}" if int8 else self.inference_precision()
        return f"OpenVINO CPU {precision}, {self.hint}"

    def _input_metadata(self) -> list[TensorMeta]:
        return [self._meta(p) for p in self.model.inputs]

    def _output_metadata(self) -> list[TensorMeta]:
        return [self._meta(p) for p in self.model.outputs]

    @staticmethod
    def _meta(port) -> TensorMeta:
        element = port.get_element_type().get_type_name()
        shape = tuple(d.get_length() if d.is_static else ("batch" if i == 0 else "dynamic")
                      for i, d in enumerate(port.get_partial_shape()))
        return TensorMeta(port.get_any_name(), _OV_DTYPES.get(element, element), shape)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        array = next(iter(feed.values()))
        try:
            _, request = self._compile(tuple(array.shape) if self.static_shapes else None)
            request.infer(feed)
            # names from the ONNX graph: compiled ports may carry another of a tensor's names
            return {port.get_any_name(): np.array(request.get_output_tensor(i).data)
                    for i, port in enumerate(self.model.outputs)}
        except Exception as exc:
            raise GxrError(f"{self.name}: OpenVINO inference failed ({one_line(exc)})") from exc

    def _deactivate(self) -> None:
        self.compiled.clear()
        self.model = self.core = None
