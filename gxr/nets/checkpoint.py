"""Self-describing checkpoints (`model.pt`): weights + everything later commands need to use them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gxr import __version__
from gxr.core.errors import GxrError, one_line
from gxr.core.fileio import atomic_path
from gxr.core.modelinfo import (
    ModelInfo,
    resolve_model_pt,  # noqa: F401  (re-exported: gxr.nets.checkpoint API)
)
from gxr.nets.factory import create_model

FORMAT = "gxr.model/1"


def save_model(path: str | Path, model: nn.Module, info: ModelInfo, **extra: Any) -> None:
    """Write model.pt atomically. `extra` holds recipe, data fingerprint, metrics, ... (plain values)."""
    payload = {"format": FORMAT, "gxr_version": __version__, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "info": info.to_dict(), **extra,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = resolve_model_pt(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GxrError(f"{path}: not a readable gxr checkpoint ({one_line(exc)})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GxrError(f"{path}: not a gxr model checkpoint (expected format {FORMAT}); "
                       "use --init to start from a plain torchvision state_dict")
    payload["path"] = str(path)
    return payload


def load_model(path: str | Path) -> tuple[nn.Module, ModelInfo, dict[str, Any]]:
    """model.pt (or its run dir) -> (model in eval mode, info, the whole payload)."""
    payload = read_checkpoint(path)
    info = ModelInfo.from_dict(payload["info"], source=payload["path"])
    model = create_model(info.arch, info.channels, info.num_outputs)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        detail = next((one_line(ln) for ln in str(exc).splitlines() if "size mismatch" in ln or "Missing" in ln
                       or "Unexpected" in ln), one_line(exc))
        raise GxrError(f"{payload['path']}: weights do not match {info.arch} with {info.channels} channel(s) "
                       f"and {info.num_outputs} output(s) ({detail})") from exc
    return model.eval(), info, payload
