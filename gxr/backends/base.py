"""The runner interface (after Polygraphy's runners): activate, infer, deactivate, I/O metadata.

A runner takes EITHER a loaded object (an onnxruntime session, an OpenVINO model, a TensorRT engine, a torch
module) OR a loader: a no-argument callable returning it, called at activate(). Loaders know files; runners
know nothing about where a model came from (the runtime resolves repository paths and manifests). `name` is
what error messages start with: the file, when there is one.

One rule for everything the base class does once, for every backend: metadata exists only while active
(read once at activation, cached), and `infer` checks each feed against it (names, dtype, rank, static
dimensions) before the backend sees it. Optional capabilities are declared here, so callers never probe
runners with `hasattr`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from gxr.core.errors import GxrError

T = TypeVar("T")


@dataclass(frozen=True)
class TensorMeta:
    name: str
    dtype: str                          # numpy dtype name
    shape: tuple[int | str, ...]        # str for dynamic axes

    def dynamic(self, axis: int) -> bool:
        """Any size goes on this axis (a named, unnamed (None) or negative dimension)."""
        size = self.shape[axis]
        return not isinstance(size, int) or size < 0


def resolve(source: T | Callable[[], T]) -> T:
    """A loaded object as it is, or what its loader returns (Polygraphy's invoke_if_callable)."""
    return source() if callable(source) else source


class Runner(ABC):
    """Run a model on numpy feeds. Use as a context manager, or call activate()/deactivate()."""

    backend: str = ""
    device_resident: bool = False       # can time a forward with its input already on the device
    concurrent_infer: bool = False      # infer() may be called from several threads at once

    def __init__(self, name: str = "") -> None:
        self.active = False
        self.name = name or f"{self.backend} runner"   # what errors start with: the file, when there is one
        self.fallback_note = ""         # set when the runner runs somewhere else than asked (e.g. CPU for CUDA)
        self._inputs: list[TensorMeta] = []
        self._outputs: list[TensorMeta] = []

    def activate(self) -> Runner:
        if not self.active:
            self._activate()
            try:
                self._inputs, self._outputs = self._input_metadata(), self._output_metadata()
            except BaseException:
                self._deactivate()
                raise
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self._deactivate()
            self._inputs, self._outputs = [], []
            self.active = False

    def __enter__(self) -> Runner:
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    def require_active(self) -> None:
        if not self.active:
            raise GxrError(f"{self.backend} runner is not active (closed, or never activated)")

    def input_metadata(self) -> list[TensorMeta]:
        """The inputs as the loaded model declares them (read at activation)."""
        self.require_active()
        return list(self._inputs)

    def output_metadata(self) -> list[TensorMeta]:
        """The outputs as the loaded model declares them (read at activation)."""
        self.require_active()
        return list(self._outputs)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.require_active()
        self.check_feed(feed)
        return self._infer(feed)

    def check_feed(self, feed: dict[str, np.ndarray]) -> None:
        """Every input present, nothing unknown, and each array's dtype, rank and static dimensions as declared."""
        names = [m.name for m in self._inputs]
        unknown = [n for n in feed if n not in names]
        if unknown or len(feed) != len(names):
            missing = [n for n in names if n not in feed]
            problem = f"unknown input {unknown[0]!r}" if unknown else f"missing input {missing[0]!r}"
            raise GxrError(f"{self.name}: {problem} (inputs: {', '.join(names)})")
        for meta in self._inputs:
            self._check_array(meta, feed[meta.name])

    def _check_array(self, meta: TensorMeta, array: Any) -> None:
        where = f"{self.name}: input {meta.name!r}"
        if not isinstance(array, np.ndarray):
            raise GxrError(f"{where} is a {type(array).__name__}, expected a numpy array")
        if array.dtype.name != meta.dtype:
            raise GxrError(f"{where} has dtype {array.dtype.name}, expected {meta.dtype}")
        if array.ndim != len(meta.shape):
            raise GxrError(f"{where} has {array.ndim} dimensions (shape {array.shape}), expected {len(meta.shape)}")
        for axis, size in enumerate(meta.shape):
            if not meta.dynamic(axis) and array.shape[axis] != size:
                what = f"{array.shape[axis]} channels" if axis == 1 and array.ndim == 4 \
                    else f"size {array.shape[axis]} on axis {axis}"
                raise GxrError(f"{where} has {what} (shape {array.shape}), expected {size}")

    def device_callable(self, feed: dict[str, np.ndarray]) -> Callable[[], Any]:
        """A no-argument call running the model on `feed` already on the device (`device_resident` runners)."""
        raise GxrError(f"the {self.backend} backend cannot time device-resident inputs")

    @property
    @abstractmethod
    def provider(self) -> str:
        """Where the work really runs (e.g. CPUExecutionProvider, cuda:0)."""

    @abstractmethod
    def _input_metadata(self) -> list[TensorMeta]:
        """Read from the loaded model, once per activation."""

    @abstractmethod
    def _output_metadata(self) -> list[TensorMeta]:
        """Read from the loaded model, once per activation."""

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def _deactivate(self) -> None:
        pass

    def synchronize(self) -> None:
        """Wait for queued device work (timing helpers call it); a no-op on the CPU."""
