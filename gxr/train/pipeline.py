"""Torch side of the data: decoded uint8 pixels, batching, flips and normalization on the device.

`SplitPixels` decodes a split once (shared preprocessing, gxr.core.preprocess) into a uint8 tensor;
`batches` yields (pixels, targets) in a seeded order; `DeviceTransform` augments on the device and
normalizes with `Normalization.arrays` (the same statistics as the host path and the exports)."""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from gxr.core.errors import GxrError
from gxr.core.normalization import LUMA, Normalization
from gxr.core.preprocess import to_model_pixels
from gxr.data import Split
from gxr.train.report import Task

CACHE_LIMIT_BYTES = 4 << 30
ProgressFactory = Callable[[str, int], Task]   # (description, total) -> a progress bar, e.g. Reporter.task


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise GxrError("device cuda: no CUDA GPU is visible to torch")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class SplitPixels(torch.utils.data.Dataset):
    """One split as (uint8 C x S x S, target) pairs, decoded once into memory when it fits."""

    def __init__(self, split: Split, channels: int, size: int, progress: ProgressFactory | None = None,
                 description: str = "decode"):
        self.split, self.channels, self.size = split, channels, size
        self.targets = torch.as_tensor(np.asarray(split.targets, dtype=np.float32))
        self.cache: torch.Tensor | None = None
        if len(split) * channels * size * size <= CACHE_LIMIT_BYTES:
            self.cache = self._decode_all(progress, description)

    def _decode_all(self, progress: ProgressFactory | None, description: str) -> torch.Tensor:
        out = torch.empty((len(self.split), self.channels, self.size, self.size), dtype=torch.uint8)
        task = progress(description, len(self.split)) if progress else None
        for i in range(len(self.split)):
            out[i] = torch.from_numpy(self._decode(i))
            if task is not None:
                task.advance()
        if task is not None:
            task.close()
        return out

    def _decode(self, index: int) -> np.ndarray:
        return to_model_pixels(self.split.images.open(index), self.channels, self.size)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = self.cache[index] if self.cache is not None else torch.from_numpy(self._decode(index))
        return pixels, self.targets[index]


def batches(data: SplitPixels, batch_size: int, shuffle: bool, seed: int, workers: int = 0,
            shard: Callable[[torch.Tensor], torch.Tensor] | None = None
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (uint8 pixels, targets). `shard` picks this process's share of the order (DDP)."""
    order = (torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)) if shuffle
             else torch.arange(len(data)))
    if shard is not None:
        order = shard(order)
    if data.cache is not None:   # in memory: index directly, no collate overhead
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield data.cache[idx], data.targets[idx]
        return
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, order.tolist()), batch_size=batch_size,
                                         num_workers=workers, pin_memory=torch.cuda.is_available())
    yield from loader


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, hflip: bool,
                        scale: tuple[float, float] = (0.25, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        size: int | None = None) -> torch.Tensor:
    """Per-sample random crop (area fraction `scale`, aspect `ratio`) resized to `size` x `size` (default: the
    input's size), with optional horizontal flip: one affine grid for the whole batch."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale, generator=generator)
    aspect = torch.exp(torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator))
    w, h = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - h)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if hflip else torch.ones(n)
    zeros = torch.zeros(n)
    theta = torch.stack([torch.stack([w * sign, zeros, cx], 1), torch.stack([zeros, h, cy], 1)], 1)
    out = list(x.shape[:2]) + [size or x.shape[-2], size or x.shape[-1]]
    grid = F.affine_grid(theta.to(x.device), out, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def decode_size(image_size: int, crop_ratio: float) -> int:
    """The side images are decoded at so that a centre crop of `image_size` keeps `crop_ratio` of it (torchvision's
    ImageNet evaluation: resize 256, crop 224 = 0.875); 1.0 = the model size, the whole image."""
    return image_size if crop_ratio >= 1.0 else int(round(image_size / crop_ratio))


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size` x `size` window of an N x C x H x W batch (the batch itself when it already fits)."""
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x if top <= 0 and left <= 0 else x[..., top:top + size, left:left + size]


class DeviceTransform:
    """uint8 batch on the host -> normalized float batch on the device. In training: random h-flip or
    random-resized crop (area `crop_scale`..1 of the decoded image, resized to `size`) + flip, then (RGB input,
    gray model) Luma conversion after the augmentation. In evaluation: the centre `size` crop of a batch decoded
    larger (resize + centre crop), the batch itself otherwise."""

    def __init__(self, norm: Normalization, channels: int, device: torch.device, hflip: bool = False,
                 crop: bool = False, size: int | None = None, crop_scale: float = 0.25):
        mean, std = norm.arrays(channels)
        self.mean, self.std = torch.from_numpy(mean).to(device), torch.from_numpy(std).to(device)
        self.luma = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1).to(device)
        self.device, self.channels, self.hflip, self.crop = device, channels, hflip, crop
        self.size, self.crop_scale = size, crop_scale

    def __call__(self, pixels: torch.Tensor, train: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        x = pixels.to(self.device, non_blocking=True).float().div_(255.0)
        if train and self.crop:
            x = random_resized_crop(x, generator, self.hflip, (self.crop_scale, 1.0), size=self.size)
        elif self.size is not None:
            x = center_crop(x, self.size)
        if train and self.hflip and not self.crop:
            flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(self.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if x.shape[1] == 3 and self.channels == 1:
            x = (x * self.luma).sum(dim=1, keepdim=True)
        return (x - self.mean) / self.std
