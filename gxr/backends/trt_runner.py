"""Run a TensorRT engine (model.plan) with the TensorRT 10/11 tensor-name API and cuda-python.

TensorRT is not installable on the machines gxr is developed on: this runner follows the documented API
(deserialize_cuda_engine, set_input_shape, set_tensor_address, execute_async_v3) and has not been run
there. Everything is imported lazily."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gxr.backends.base import Runner, TensorMeta
from gxr.core.errors import GxrError
from gxr.core.lazy import lazy_import


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


class TrtRunner(Runner):
    backend = "tensorrt"

    def __init__(self, plan: str | Path):
        super().__init__()
        self.path = Path(plan)
        self.engine = self.context = self.stream = None
        self.buffers: dict[str, tuple[int, int]] = {}   # name -> (device pointer, bytes)

    def _activate(self) -> None:
        trt = lazy_import("tensorrt", "the tensorrt backend")
        self.trt, self.cudart = trt, _cudart()
        if not self.path.is_file():
            raise GxrError(f"{self.path}: TensorRT engine not found")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise GxrError(f"{self.path}: TensorRT cannot load this engine (built for another TensorRT or GPU?)")
        self.context = self.engine.create_execution_context()
        self.stream = _check(self.cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]

    @property
    def provider(self) -> str:
        return "TensorRT (cuda)"

    def _meta(self, name: str) -> TensorMeta:
        dtype = np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name))).name
        shape = tuple(d if d >= 0 else "dynamic" for d in self.engine.get_tensor_shape(name))
        return TensorMeta(name, dtype, shape)

    def input_metadata(self) -> list[TensorMeta]:
        self.activate()
        return [self._meta(n) for n in self.inputs]

    def output_metadata(self) -> list[TensorMeta]:
        self.activate()
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
            dtype = np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))
            array = np.ascontiguousarray(feed[name], dtype=dtype)
            host_inputs[name] = array
            self.context.set_input_shape(name, array.shape)
            ptr = self._device_buffer(name, array.nbytes)
            _check(self.cudart.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes, h2d, self.stream))
            self.context.set_tensor_address(name, ptr)
        results = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            results[name] = np.empty(shape, dtype=self.trt.nptype(self.engine.get_tensor_dtype(name)))
            self.context.set_tensor_address(name, self._device_buffer(name, results[name].nbytes))
        if not self.context.execute_async_v3(self.stream):
            raise GxrError(f"{self.path}: TensorRT execution failed")
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
        self.engine = self.context = self.stream = None
