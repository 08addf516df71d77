"""What a model is (arch, channels, input size, normalization, task, labels): shared by model.pt,
manifest.json and the runtime. Pure Python + numpy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.normalization import Normalization

TASKS = ("binary", "multiclass", "multilabel")


@dataclass
class ModelInfo:
    arch: str
    channels: int
    image_size: int
    task: str
    labels: list[str]                       # one per output; binary: [positive class]
    classes: list[str] = field(default_factory=list)   # binary: [negative, positive]
    normalization: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise GxrError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if not self.normalization:
            self.normalization = Normalization.default(self.channels).to_dict()

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def norm(self) -> Normalization:
        return Normalization.from_dict(self.normalization)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "model") -> ModelInfo:
        try:
            return cls(arch=d["arch"], channels=int(d["channels"]), image_size=int(d["image_size"]),
                       task=d["task"], labels=list(d["labels"]), classes=list(d.get("classes") or []),
                       normalization=dict(d.get("normalization") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise GxrError(f"{source}: incomplete model description ({exc!r})") from exc


def probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    """Logits -> probabilities: softmax for multiclass, sigmoid otherwise. Both are computed without
    overflow for any finite logit (no `overflow encountered in exp` warnings)."""
    logits = np.asarray(logits, dtype=np.float64)
    if task == "multiclass":
        return softmax(logits)
    return sigmoid(logits)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) evaluated as exp(-|x|) / (1 + exp(-|x|)) for negative x, so exp never overflows."""
    x = np.asarray(x, dtype=np.float64)
    small = np.exp(-np.abs(x))                     # in (0, 1]: cannot overflow
    return np.where(x >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax after subtracting each row's maximum (every exponent <= 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    exp = np.exp(x - x.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def predicted_labels(probs: np.ndarray, task: str) -> np.ndarray:
    """Hard decisions: argmax for multiclass, p >= 0.5 per output otherwise."""
    if task == "multiclass":
        return probs.argmax(axis=1)
    return (probs >= 0.5).astype(np.int64)


def resolve_model_pt(path: str | Path) -> Path:
    """A run directory or a model.pt path -> the model.pt path (torch-free, so commands can refuse a missing
    checkpoint before importing torch)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise GxrError(f"{path}: model checkpoint not found")
    return path
