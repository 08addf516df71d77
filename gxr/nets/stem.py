"""Converting the first convolution between 1 (gray) and 3 (color) input channels.

Identities (checked numerically in tests/nets/test_stem.py for every architecture):
- 3 -> 1, mode "sum": W1 = sum_c W3[:, c]. A color net fed gray replicated to 3 channels equals the gray
  net fed the gray image, exactly.
- 3 -> 1, mode "luma": W1 = 3 * sum_c luma_c W3[:, c]. Not an identity; it weights the color filters by
  how much each channel contributes to gray and keeps the response scale of the "sum" mode.
- 1 -> 3: W3[:, c] = luma_c * W1. The color net fed an RGB image equals the gray net fed its Luma gray.
Both identities are stated on the network's input tensor: they carry over to raw pixels when the
normalization is the same for every channel (the converted checkpoint records which one it uses).
"""

from __future__ import annotations

import torch
from torch import nn

from gxr.core.errors import GxrError
from gxr.core.normalization import LUMA
from gxr.nets import ARCHS

STEM_MODES = ("sum", "luma")


def get_stem(model: nn.Module, arch: str) -> nn.Conv2d:
    stem = model.get_submodule(ARCHS[arch][0])
    if not isinstance(stem, nn.Conv2d):
        raise GxrError(f"{arch}: expected a Conv2d at {ARCHS[arch][0]}, found {type(stem).__name__}")
    return stem


def replace_stem(model: nn.Module, arch: str, new: nn.Conv2d) -> None:
    parent_name, _, child = ARCHS[arch][0].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def adapt_stem_weight(weight: torch.Tensor, to_channels: int, mode: str = "sum") -> torch.Tensor:
    """Convert a first-conv weight (out, in, kh, kw) between 1 and 3 input channels."""
    if mode not in STEM_MODES:
        raise GxrError(f"unknown stem mode {mode!r}; choose one of: {', '.join(STEM_MODES)}")
    from_channels = weight.shape[1]
    if from_channels == to_channels:
        return weight.clone()
    luma = torch.tensor(LUMA, dtype=weight.dtype, device=weight.device).view(1, 3, 1, 1)
    if from_channels == 3 and to_channels == 1:
        if mode == "luma":
            return 3.0 * (weight * luma).sum(dim=1, keepdim=True)
        return weight.sum(dim=1, keepdim=True)
    if from_channels == 1 and to_channels == 3:
        return weight * luma
    raise GxrError(f"cannot convert a stem from {from_channels} to {to_channels} channels (only 1 <-> 3)")


def convert_state_dict(state: dict[str, torch.Tensor], arch: str, to_channels: int,
                       mode: str = "sum") -> dict[str, torch.Tensor]:
    """A copy of `state` whose stem takes `to_channels` channels; all other tensors are shared."""
    key = ARCHS[arch][0] + ".weight"
    if key not in state:
        raise GxrError(f"state_dict has no {key}: is it really a {arch}?")
    out = dict(state)
    out[key] = adapt_stem_weight(state[key], to_channels, mode)
    return out
