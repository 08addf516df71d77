"""Pixel normalization, written once for every path (numpy only; torch code builds its tensors from it).

A model's input is `(pixels / 255 - mean) / std` per channel. `Normalization` holds the statistics a
model was trained with (recorded in model.pt and manifest.json):
- `default(channels)`: ImageNet statistics for color; their Luma-weighted average for gray.
- `for_channels(n)`: the same statistics for a model converted to n channels (3 -> 1 is the Luma
  average, 1 -> 3 replicates the single value), as `gxr convert` does with the stem.
- `arrays(channels)`: float32 (1, C, 1, 1) mean and std; the host (`apply`), the training transform
  on the device and the uint8-input export wrapper all normalize with these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from gxr.core.errors import GxrError

LUMA = (0.299, 0.587, 0.114)           # ITU-R 601, what PIL's convert("L") uses
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def luma_average(values: Sequence[float]) -> float:
    """Luma-weighted average of three per-channel values (R, G, B)."""
    return float(sum(weight * value for weight, value in zip(LUMA, values)))


def _spread(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    """One value per channel: a single (gray) value is repeated; otherwise the counts must agree."""
    if len(values) == channels:
        return values
    if len(values) == 1:
        return values * channels
    raise GxrError(f"normalization has {len(values)} values per statistic, cannot apply it to {channels} channel(s)")


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std (one value for gray models, three for color)."""
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def default(cls, channels: int) -> Normalization:
        """ImageNet statistics for color; their Luma-weighted average for gray."""
        return cls(IMAGENET_MEAN, IMAGENET_STD).for_channels(channels)

    def for_channels(self, channels: int) -> Normalization:
        """These statistics for a model with `channels` inputs: 3 -> 1 collapses to the Luma average,
        1 -> 3 replicates, the same count is returned unchanged."""
        if len(self.mean) == channels:
            return self
        if channels == 1:
            return Normalization((luma_average(_spread(self.mean, 3)),), (luma_average(_spread(self.std, 3)),))
        return Normalization(_spread(self.mean, channels), _spread(self.std, channels))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalization:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    def arrays(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """float32 (1, C, 1, 1) mean and std for inputs with `channels` channels (a gray value spreads
        to three channels: a gray model's statistics applied to a gray image fed to a color model)."""
        mean = np.asarray(_spread(self.mean, channels), np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(_spread(self.std, channels), np.float32).reshape(1, -1, 1, 1)
        return mean, std

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N x C x H x W -> float32 normalized."""
        mean, std = self.arrays(pixels.shape[1])
        return ((pixels.astype(np.float32) / np.float32(255.0)) - mean) / std


def model_input(pixels: np.ndarray, norm: Normalization, normalized_in_graph: bool) -> np.ndarray:
    """uint8 N x C x S x S pixels -> what a graph takes: the raw pixels when it normalizes them itself
    (`--input uint8` exports), else float32 normalized here. The one place this choice is made."""
    return pixels if normalized_in_graph else norm.apply(pixels)
