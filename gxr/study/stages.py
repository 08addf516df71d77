"""Cached stages: each stage writes into DIR/<name>/ and records its settings hash and result in
stage.json; a re-run with the same settings loads that result instead of recomputing it.

This module is also the one place where a study trains (`train_stage`), exports (`export_stage`) and
times models (`time_models`)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from gxr.core.errors import GxrError
from gxr.core.fileio import read_json, write_json

STAGE_FILE = "stage.json"


def settings_hash(settings: dict[str, Any]) -> str:
    """A short, stable hash of JSON-able settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class StageLog:
    """What happened to each stage in one invocation: 'ran' or 'skipped', with seconds spent (and, for a skipped
    stage, the seconds it took when it ran)."""
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, status: str, seconds: float, recorded: float | None = None) -> None:
        entry = {"stage": name, "status": status, "seconds": round(seconds, 2)}
        if recorded is not None:
            entry["recorded_seconds"] = round(recorded, 2)
        self.entries.append(entry)

    def stage_seconds(self) -> float:
        """Seconds of every stage of the study as it ran, in this invocation or an earlier one (what one fresh run
        of the whole study spends in its stages)."""
        return float(sum(e.get("recorded_seconds", e["seconds"]) for e in self.entries))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.entries:
            out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out


class Stages:
    """Runs named stages under `root`, skipping those already finished with the same settings."""

    def __init__(self, root: Path, console: Console):
        self.root, self.console, self.log = Path(root), console, StageLog()

    def folder(self, name: str) -> Path:
        return self.root / name

    def cached(self, name: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded result of stage `name` if it finished with these settings, else None."""
        record = self._record(name, settings)
        return None if record is None else record["result"]

    def _record(self, name: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        path = self.folder(name) / STAGE_FILE
        if not path.is_file():
            return None
        record = read_json(path, "stage record")
        if record.get("hash") != settings_hash(settings) or record.get("status") != "done":
            return None
        return record

    def run(self, name: str, settings: dict[str, Any], work: Callable[[Path, bool], dict[str, Any]]
            ) -> dict[str, Any]:
        """Result of `work(folder, resume)`, or the cached result. `resume` is True when the folder holds
        an unfinished attempt with the same settings (training continues it); a folder left by other
        settings is moved aside to <name>.stale-<hash>, never deleted."""
        record = self._record(name, settings)
        if record is not None:
            self.console.print(f"[dim]skip[/] {name}: already done with these settings")
            self.log.add(name, "skipped", 0.0, float(record.get("seconds", 0.0)))
            return record["result"]
        folder = self.folder(name)
        resume = self._prepare(folder, settings)
        started = time.perf_counter()
        result = work(folder, resume)
        seconds = time.perf_counter() - started
        write_json(folder / STAGE_FILE, {"stage": name, "hash": settings_hash(settings), "status": "done",
                                         "settings": settings, "seconds": seconds, "result": result})
        self.log.add(name, "ran", seconds)
        return result

    def _prepare(self, folder: Path, settings: dict[str, Any]) -> bool:
        """Make `folder` ready for a run with `settings`; True when an attempt with them can be resumed."""
        wanted = settings_hash(settings)
        marker = folder / "settings.json"
        if folder.is_dir() and any(folder.iterdir()):
            previous = read_json(marker, "stage settings").get("hash") if marker.is_file() else None
            if previous == wanted:
                return True
            stale = folder.with_name(f"{folder.name}.stale-{previous or 'unknown'}")
            if stale.exists():
                raise GxrError(f"{folder}: holds a stage run with other settings and {stale} exists too; "
                               "choose another output folder")
            folder.rename(stale)
            self.console.print(f"[yellow]note[/]: {folder} held other settings: moved to {stale.name}")
        folder.mkdir(parents=True, exist_ok=True)
        write_json(marker, {"hash": wanted, "settings": settings})
        return False


def train_stage(folder: Path, resume: bool, recipe, data_spec: str, console: Console,
                init: Path | None = None) -> dict[str, Any]:
    """Train (pre-train or fine-tune, as the recipe says) into `folder`; resumes an interrupted run.
    Returns the run's metrics (test metrics, per-epoch history, data fingerprint)."""
    from gxr.train import run_training
    from gxr.train.report import ConsoleReporter
    from gxr.train.state import STATE_FILE

    resume = resume and (folder / STATE_FILE).is_file()
    metrics = run_training(recipe, data_spec, folder, init=init, resume=resume, reporter=ConsoleReporter(console))
    return {key: metrics[key] for key in ("kind", "task", "labels", "arch", "channels", "image_size", "best_epoch",
                                          "test", "history", "data", "device")}


def export_stage(run_dir: Path, repo: Path, name: str, data_spec: str) -> dict[str, Any]:
    """Export a run to ONNX (uint8 input) with its parity check on real test images."""
    from gxr.export.onnx_export import export_model
    from gxr.export.options import ExportOptions

    path, manifest = export_model(run_dir, repo, ExportOptions(name=name, input_dtype="uint8", data_spec=data_spec))
    return {"path": str(path), "parity": manifest.parity}


def time_models(models: dict[str, Any], batch_sizes: list[int], warmup: int, iters: int) -> list:
    """Timings (ms/image p50/p90/p99) per loaded runtime model and batch size, each model in its own block."""
    from gxr.bench.latency import bench_model

    rows = []
    for label, model in models.items():
        rows += bench_model(label, model, batch_sizes, warmup, iters)
    return rows
