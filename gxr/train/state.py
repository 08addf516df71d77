"""The files of a run directory and the rules around them.

RUN_DIR holds model.pt (best weights, self-describing), metrics.json (the result) and last.pt (the state
to resume from: weights, optimizer, scheduler, history, RNG). All three are written atomically (a hidden
`.NAME.*.tmp` beside the target, then a rename), so a killed run can leave such temp files behind:
`remove_stale_temp_files` deletes them at the start of the next run or resume in that folder.

A resumed run must have the same settings and data (`check_same_run`). A run with no epochs left whose
metrics.json already records every epoch is finished (`finished_metrics`): resuming it changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gxr.core.errors import GxrError, one_line
from gxr.core.fileio import atomic_path
from gxr.train.recipes import Recipe

STATE_FILE = "last.pt"
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
RUN_FILES = (STATE_FILE, MODEL_FILE, METRICS_FILE)


def check_run_dir(out_dir: Path, resume: bool) -> None:
    """A new run needs a folder without a run in it; a resumed one needs the state of one."""
    state = out_dir / STATE_FILE
    if state.exists() and not resume:
        raise GxrError(f"{out_dir}: already holds a run; resume it or choose another run directory")
    if resume and not state.exists():
        raise GxrError(f"{state}: nothing to resume (no interrupted run in {out_dir})")


def stale_temp_files(out_dir: Path) -> list[Path]:
    """Temp files that an interrupted atomic write of a run file left in `out_dir`."""
    if not out_dir.is_dir():
        return []
    return sorted(p for name in RUN_FILES for p in out_dir.glob(f".{name}.*.tmp") if p.is_file())


def remove_stale_temp_files(out_dir: Path) -> list[tuple[Path, int]]:
    """Delete them; returns (path, size in bytes) of each one removed."""
    removed = []
    for path in stale_temp_files(out_dir):
        size = path.stat().st_size
        path.unlink(missing_ok=True)
        removed.append((path, size))
    return removed


def save_state(path: Path, **state: Any) -> None:
    """Write last.pt atomically (plain tensors and Python values only: it loads with weights_only)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # torch raises many types for damaged files
        raise GxrError(f"{path}: unreadable run state ({one_line(exc)})") from exc


def check_same_run(state: dict[str, Any], path: Path, recipe: Recipe, fingerprint: str) -> None:
    """Resuming needs the recipe (epochs, patience, device and workers aside) and the data of the run."""
    saved = type(recipe).from_dict(state["recipe"])
    if saved.identity() != recipe.identity() or state["fingerprint"] != fingerprint:
        raise GxrError(f"{path}: the run was started with other settings or data; resume with the same settings")


def epochs_left(state: dict[str, Any], recipe: Recipe) -> bool:
    """True if the recipe asks for more epochs than the state has and early stopping has not ended it."""
    return int(state["epoch"]) + 1 < recipe.epochs and int(state["bad_epochs"]) < recipe.patience


def finished_metrics(out_dir: Path, state: dict[str, Any], recipe: Recipe) -> dict[str, Any] | None:
    """metrics.json of a run that has nothing left to do, else None (epochs left, or killed before the
    final test evaluation was written)."""
    if epochs_left(state, recipe):
        return None
    try:
        metrics = json.loads((out_dir / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or len(metrics.get("history") or []) != len(state["history"]):
        return None
    return metrics
