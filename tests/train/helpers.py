"""Helpers for in-process training tests: a small generated data set and a tiny recipe."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from gxr.train.recipes import FinetuneRecipe

SIZES = {"train": 96, "val": 32, "test": 48}


def make_blob_npz(path: Path, size: int = 32, seed: int = 0) -> str:
    """A medmnist-layout .npz of noisy gray images; label 1 = a bright square somewhere in the image.
    Returns its data spec."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in SIZES.items():
        images = np.clip(rng.normal(90, 25, (n, size, size)), 0, 255)
        labels = (np.arange(n) % 2).astype(np.uint8)
        for i in np.flatnonzero(labels):
            y, x = rng.integers(0, size - 10, 2)
            images[i, y:y + 10, x:x + 10] = 230
        arrays[f"{split}_images"] = images.astype(np.uint8)
        arrays[f"{split}_labels"] = labels[:, None]
    np.savez(path, **arrays)
    return f"medmnist:{path}"


def tiny_recipe(**overrides) -> FinetuneRecipe:
    """ResNet-18 at 32 px on the CPU, a few seconds per epoch."""
    settings = dict(arch="resnet18", channels=1, image_size=32, epochs=1, batch_size=32, lr=1e-3, device="cpu")
    return FinetuneRecipe(**{**settings, **overrides})


def file_stamp(path: Path) -> tuple[str, int]:
    """(sha256, mtime in ns): both must stay the same for a file that nothing touched."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def auc_by_ranks(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half, written independently of gxr.core.metrics."""
    pos, neg = scores[positive], scores[~positive]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))
