"""Evaluating trained models on a split: logits through the runtime (the production path), top-k accuracy,
per-label AUC, ROC points and DeLong comparisons between arms (numpy only here)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.metrics import delong_test, evaluate, one_hot_targets, stars
from gxr.core.modelinfo import probabilities
from gxr.data import open_source, split_pixels


def split_logits(run_dir: Path, data_spec: str, split: str, device: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(logits, targets, model info dict) of the model in `run_dir` on `split` of `data_spec`, decoded
    with the model's own preprocessing (a gray model sees Luma images)."""
    from gxr.runtime import load

    data = open_source(data_spec).split(split)
    with load(run_dir, backend="torch", device=device) as model:
        pixels = split_pixels(data, model.info.channels, model.info.image_size)
        logits = model.logits_from_pixels(pixels)
        info = model.info.to_dict()
    return logits, np.asarray(data.targets), info


def top_k_accuracy(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the k largest logits."""
    top = np.argsort(-logits, axis=1)[:, :k]
    return float((top == np.asarray(targets).astype(np.int64)[:, None]).any(axis=1).mean())


def score_split(logits: np.ndarray, targets: np.ndarray, task: str, labels: list[str]) -> dict[str, Any]:
    """Per-label AUC, mean AUC, accuracy, and the probabilities themselves (for DeLong and ROC curves)."""
    probs = probabilities(logits, task)
    result = evaluate(task, labels, targets, probs)
    result["max_abs_logit"] = float(np.abs(logits).max())
    result["probabilities"] = np.round(probs, 6).tolist()
    result["targets"] = np.asarray(targets).tolist()
    return result


def roc_points(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y = np.asarray(y_true).astype(bool)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    s, y = np.asarray(score, dtype=np.float64)[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tps, fps = np.cumsum(y)[last_of_tie], np.cumsum(~y)[last_of_tie]
    tpr = np.r_[0.0, tps / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fps / max(int((~y).sum()), 1)]
    return fpr, tpr


def delong_pair(a: dict[str, Any], b: dict[str, Any], task: str, labels: list[str]) -> list[dict[str, Any]]:
    """Per-label DeLong test of arm `a` against arm `b` (two `score_split` results on the same images)."""
    y = one_hot_targets(np.asarray(a["targets"]), task, len(labels))
    pa, pb = np.asarray(a["probabilities"]), np.asarray(b["probabilities"])
    rows = []
    for i, label in enumerate(labels):
        r = delong_test(y[:, i], pa[:, i], pb[:, i])
        rows.append({"label": label, "positives": int(y[:, i].sum()), "auc_a": _num(r.auc_a),
                     "auc_b": _num(r.auc_b), "z": _num(r.z), "p_value": _num(r.p_value), "stars": stars(r.p_value)})
    return rows


def strip_arrays(result: dict[str, Any]) -> dict[str, Any]:
    """A `score_split` result without its per-image arrays (for tables and summaries)."""
    return {k: v for k, v in result.items() if k not in ("probabilities", "targets")}


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)
