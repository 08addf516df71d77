"""Training: fine-tuning and pre-training gray and color models (recipes as dataclasses).

Modules, from the entry point down:
- `run_training(...)` (here): the one library call other packages and the CLI use.
- trainer.py: `Trainer`, one run in one run directory (build: data, model, resume state; fit: epochs,
  best checkpoint, early stopping, test evaluation); reports through a reporter, never prints.
- steps.py: the pure steps (`train_one_epoch`, `evaluate`, optimizer/loss builders, `freeze_until`).
- state.py: the run directory's files (last.pt, model.pt, metrics.json), resume checks, stale temp files.
- pipeline.py: decoded uint8 splits, seeded batches, device-side augmentation (crops from a larger decode) and
  normalization; scoring.py: `score_run`, a run's Scores on a split with its recipe's evaluation transform.
- distributed.py: torchrun/DDP as a context manager. recipes.py: the recipes (torch-free).
- report.py: `Reporter` (silent, records) and `ConsoleReporter` (rich) (torch-free).
Importing this package imports no torch; `run_training` does when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gxr.train.recipes import Recipe
    from gxr.train.report import Reporter


def run_training(recipe: Recipe, data_spec: str, out_dir: Path, *, init: Path | None = None,
                 resume: bool = False, reporter: Reporter | None = None) -> dict[str, Any]:
    """Train `recipe` (a FinetuneRecipe or PretrainRecipe) on `data_spec` into `out_dir`; returns the
    dict that out_dir/metrics.json holds. `init`: starting weights (torchvision .pth or gxr model.pt,
    the stem converted when channel counts differ). `resume`: continue the interrupted run in `out_dir`
    (a finished run is left unchanged and its metrics returned). `reporter`: receives notes, epoch rows
    and the result (gxr.train.report.ConsoleReporter prints them; default: silent)."""
    from gxr.core.lazy import lazy_import

    lazy_import("torch", "training")
    from gxr.train.trainer import Trainer

    return Trainer(recipe, data_spec, Path(out_dir), init=init, resume=resume, reporter=reporter).run()
