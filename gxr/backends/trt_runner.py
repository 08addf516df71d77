"""Run a TensorRT engine (model.plan) with the TensorRT 10/11 tensor-name API and cuda-python.

`TrtRunner` takes a deserialized engine (`trt.ICudaEngine`) or a loader returning one (`trt_engine_loader`,
called at activation); `TrtRunner.from_path(model.plan)` is both in one line. Given an engine, the runner
itself never imports tensorrt: tensor modes and data types are read from their enum names.

TensorRT is not installable on the machines gxr is developed on: this runner follows the documented API
(deserialize_cuda_engine, set_input_shape, set_tensor_address, execute_async_v3) and has not been run
there. Everything is imported lazily."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gxr.backends.base import Runner, TensorMeta, resolve
from gxr.core.errors import GxrError
from gxr.core.lazy import lazy_import

# trt.DataType member name -> numpy dtype name (what trt.nptype gives, without importing tensorrt)
_TRT_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "UINT8": "uint8", "INT32": "int32",
               "INT64": "int64", "BOOL": "bool"}


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError as exc:
            raise GxrError("tensorrt backend needs cuda-python: pip install 'gxr[gpu]'") from exc
    return cudart


def _check(result):
    err, *rest = result
    if int(err) != 0:
        raise GxrError(f"CUDA error {err}")
    return rest[0] if len(rest) == 1 else rest


def _enum_name(value: Any) -> str:
    """A TensorRT enum member's name (TensorIOMode.INPUT -> INPUT, DataType.FLOAT -> FLOAT)."""
    return getattr(value, "name", None) or str(value).rpartition(".")[2]


def trt_dtype(value: Any) -> str:
    """The numpy dtype name of a trt.DataType."""
    name = _enum_name(value)
    if name not in _TRT_DTYPES:
        raise GxrError(f"TensorRT data type {name} has no numpy equivalent gxr can feed or read")
    return _TRT_DTYPES[name]


def trt_engine_loader(path: str | Path) -> Callable[[], Any]:
    """A loader: a call deserializing the engine file `path` (TensorRT imported when called)."""
    path = Path(path)

    def load():
        trt = lazy_import("tensorrt", "the tensorrt backend")
        if not path.is_file():
            raise GxrError(f"{path}: TensorRT engine not found")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise GxrError(f"{path}: TensorRT cannot load this engine (built for another TensorRT or GPU?)")
        return engine

    return load


class TrtRunner(Runner):
    """`engine`: a deserialized TensorRT engine or a loader of one."""

    backend = "tensorrt"

    def __init__(self, engine: Any | Callable[[], Any], name: str = ""):
        super().__init__(name)
        self._engine_source = engine
        self.engine = self.context = self.stream = None
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.buffers: dict[str, tuple[int, int]] = {}   # name -> (device pointer, bytes)

    @classmethod
    def from_path(cls, path: str | Path) -> TrtRunner:
        return cls(trt_engine_loader(path), str(path))

    def _activate(self) -> None:
        self.engine = resolve(self._engine_source)
        self.cudart = _cudart()
        self.context = self.engine.create_execution_context()
        self.stream = _check(self.cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if _enum_name(self.engine.get_tensor_mode(n)) == "INPUT"]
        self.outputs = [n for n in names if n not in self.inputs]

    @property
    def provider(self) -> str:
        return "TensorRT (cuda)"

    def _meta(self, name: str) -> TensorMeta:
        shape = tuple(d if d >= 0 else ("batch" if i == 0 else "dynamic")
                      for i, d in enumerate(self.engine.get_tensor_shape(name)))
        return TensorMeta(name, trt_dtype(self.engine.get_tensor_dtype(name)), shape)

    def _input_metadata(self) -> list[TensorMeta]:
        return [self._meta(n) for n in self.inputs]

    def _output_metadata(self) -> list[TensorMeta]:
        return [self._meta(n) for n in self.outputs]

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self.buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                _check(self.cudart.cudaFree(ptr))
            ptr = _check(self.cudart.cudaMalloc(nbytes))
            self.buffers[name] = (ptr, nbytes)
        return int(ptr)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        h2d = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        host_inputs = {}
        for name in self.inputs:
            array = np.ascontiguousarray(feed[name])   # dtype and shape checked against the metadata already
            host_inputs[name] = array
            self.context.set_input_shape(name, array.shape)
            ptr = self._device_buffer(name, array.nbytes)
            _check(self.cudart.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes, h2d, self.stream))
            self.context.set_tensor_address(name, ptr)
        results = {}
        for meta in self._outputs:
            name = meta.name
            results[name] = np.empty(tuple(self.context.get_tensor_shape(name)), dtype=meta.dtype)
            self.context.set_tensor_address(name, self._device_buffer(name, results[name].nbytes))
        if not self.context.execute_async_v3(self.stream):
            raise GxrError(f"{self.name}: TensorRT execution failed")
        for name, array in results.items():
            src = self.buffers[name][0]
            _check(self.cudart.cudaMemcpyAsync(array.ctypes.data, src, array.nbytes, d2h, self.stream))
        self.synchronize()
        del host_inputs   # kept alive until the copies above completed
        return results

    def synchronize(self) -> None:
        if self.stream is not None:
            _check(self.cudart.cudaStreamSynchronize(self.stream))

    def _deactivate(self) -> None:
        for ptr, _ in self.buffers.values():
            self.cudart.cudaFree(ptr)
        self.buffers.clear()
        if self.stream is not None:
            self.cudart.cudaStreamDestroy(self.stream)
        self.engine = self.context = self.stream = None   # a given engine stays its owner's
