"""Raw uint8 pixels in, logits out: the input contract of `--input uint8` exports and of the torch
runner's uint8 mode (so both backends can be fed decoded gray X-ray pixels directly). The statistics
come from `Normalization.arrays`, the same arrays the host and the training transform use."""

from __future__ import annotations

import torch
from torch import nn

from gxr.core.normalization import Normalization


class PixelInput(nn.Module):
    """uint8 N x C x H x W -> cast, /255, normalize, and (color models) replicate 1 channel to 3."""

    def __init__(self, model: nn.Module, norm: Normalization, channels: int):
        super().__init__()
        self.model, self.channels = model, channels
        mean, std = norm.arrays(channels)
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.float() / 255.0
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1)   # 1 channel broadcasts to 3; 3 channels pass unchanged
        return self.model((x - self.mean) / self.std)
