"""Evaluating trained models on a split through the runtime (the production path): `Scores` (logits at full
precision) and top-k accuracy. AUC, DeLong, ROC and calibration come from gxr.core.comparator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gxr.core.scores import Scores


def split_scores(run_dir: Path | str, data_spec: str, split: str, device: str) -> Scores:
    """Scores of the model in `run_dir` on `split` of `data_spec`, decoded with the model's own preprocessing
    (a gray model sees Luma images)."""
    from gxr.runtime import load, score_data

    with load(run_dir, backend="torch", device=device) as model:
        return score_data(model, data_spec, split)


def top_k_accuracy(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the k largest logits."""
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == np.asarray(targets).astype(np.int64)[:, None]).any(axis=1).mean())
