"""The runner interface (after Polygraphy's runners: activate, infer, deactivate)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorMeta:
    name: str
    dtype: str                          # numpy dtype name
    shape: tuple[int | str, ...]        # str for dynamic axes


class Runner(ABC):
    """Run a model on numpy feeds. Use as a context manager, or call activate()/deactivate()."""

    backend: str = ""

    def __init__(self) -> None:
        self.active = False

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
            self.activate()
        return self._infer(feed)

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
