"""The runner interface (after Polygraphy's runners): activate, infer, deactivate, I/O metadata.

Runners take loaded objects or loaders (a module, an ONNX file, an engine file) and nothing about where a
model came from: the runtime resolves repository paths and manifests. Optional capabilities are declared
here, so callers never probe runners with `hasattr`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gxr.core.errors import GxrError


@dataclass(frozen=True)
class TensorMeta:
    name: str
    dtype: str                          # numpy dtype name
    shape: tuple[int | str, ...]        # str for dynamic axes


class Runner(ABC):
    """Run a model on numpy feeds. Use as a context manager, or call activate()/deactivate()."""

    backend: str = ""
    device_resident: bool = False       # can time a forward with its input already on the device
    concurrent_infer: bool = False      # infer() may be called from several threads at once

    def __init__(self) -> None:
        self.active = False
        self.fallback_note = ""         # set when the runner runs somewhere else than asked (e.g. CPU for CUDA)

    def activate(self) -> Runner:
        if not self.active:
            self._activate()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self._deactivate()
            self.active = False

    def __enter__(self) -> Runner:
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.active:
            raise GxrError(f"{self.backend} runner is not active (closed, or never activated)")
        return self._infer(feed)

    def device_callable(self, feed: dict[str, np.ndarray]) -> Callable[[], Any]:
        """A no-argument call running the model on `feed` already on the device (`device_resident` runners)."""
        raise GxrError(f"the {self.backend} backend cannot time device-resident inputs")

    @property
    @abstractmethod
    def provider(self) -> str:
        """Where the work really runs (e.g. CPUExecutionProvider, cuda:0)."""

    @abstractmethod
    def input_metadata(self) -> list[TensorMeta]: ...

    @abstractmethod
    def output_metadata(self) -> list[TensorMeta]: ...

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def _deactivate(self) -> None:
        pass

    def synchronize(self) -> None:
        """Wait for queued device work (timing helpers call it); a no-op on the CPU."""
