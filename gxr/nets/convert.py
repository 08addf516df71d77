"""Checkpoint-level stem conversion with a numerical check of the identity it relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from gxr.core.errors import GxrError
from gxr.core.modelinfo import ModelInfo
from gxr.core.normalization import LUMA
from gxr.nets import check_channels
from gxr.nets.checkpoint import load_model, save_model
from gxr.nets.factory import create_model
from gxr.nets.stem import convert_state_dict

TOLERANCE = 1e-4   # relative to the largest logit


def identity_check(original: nn.Module, converted: nn.Module, from_channels: int, size: int,
                   n: int = 4, seed: int = 0) -> tuple[float, float]:
    """Max abs and max relative (to the largest logit) difference on random inputs for which the
    conversion is exact: gray replicated to 3 channels (3 -> 1), any color tensor (1 -> 3)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if from_channels == 3:
            gray = torch.randn(n, 1, size, size, generator=gen)
            ref, out = original(gray.repeat(1, 3, 1, 1)), converted(gray)
        else:
            color = torch.randn(n, 3, size, size, generator=gen)
            luma = torch.tensor(LUMA).view(1, 3, 1, 1)
            ref, out = original((color * luma).sum(dim=1, keepdim=True)), converted(color)
    max_abs = float((ref - out).abs().max())
    return max_abs, max_abs / max(float(ref.abs().max()), 1e-12)


def convert_checkpoint(ckpt: Path, to_channels: int, out: Path, mode: str = "sum") -> dict[str, Any]:
    check_channels(to_channels)
    model, info, payload = load_model(ckpt)
    if info.channels == to_channels:
        raise GxrError(f"{ckpt}: already has {to_channels} channel(s)")
    state = convert_state_dict(model.state_dict(), info.arch, to_channels, mode)
    converted = create_model(info.arch, to_channels, info.num_outputs)
    converted.load_state_dict(state)
    converted.eval()
    max_abs, max_rel = identity_check(model, converted, info.channels, info.image_size)
    exact = not (info.channels == 3 and mode == "luma")
    if exact and max_rel > TOLERANCE:
        raise GxrError(f"{ckpt}: converted model differs by {max_rel:.3g} (relative) from the original; "
                       "refusing to write it")
    new_info = ModelInfo(info.arch, to_channels, info.image_size, info.task, info.labels, info.classes,
                         info.norm.for_channels(to_channels).to_dict())
    extra = {k: v for k, v in payload.items() if k not in ("format", "gxr_version", "saved_at", "info",
                                                           "state_dict", "path")}
    identity = ("gray replicated to 3 channels" if info.channels == 3 else "color vs its Luma gray")
    report = {"from_channels": info.channels, "to_channels": to_channels, "mode": mode,
              "identity": identity if exact else "luma mode: approximate, not an identity",
              "max_abs_diff": max_abs, "max_rel_diff": max_rel, "checked_images": 4, "source": str(ckpt)}
    extra["conversions"] = list(extra.get("conversions") or []) + [report]
    save_model(out, converted, new_info, **extra)
    return report
