"""ROC AUC and DeLong's test for two correlated ROC curves (numpy only).

DeLong, DeLong & Clarke-Pearson (1988), computed with midranks as in Sun & Xu (2014): O(n log n)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gxr.core.modelinfo import predicted_labels, probabilities


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (x must be finite)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(sorted_x[1:] != sorted_x[:-1]) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(0.5 * (starts + ends - 1) + 1.0, ends - starts)
    return ranks


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney); NaN when only one class is present."""
    y = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0 or not np.isfinite(score).all():   # undefined: one class, or a diverged model
        return float("nan")
    ranks = _midranks(score)
    return float((ranks[y].sum() - m * (m + 1) / 2.0) / (m * n))


@dataclass
class DelongResult:
    auc_a: float
    auc_b: float
    z: float
    p_value: float
    variance: float    # variance of auc_a - auc_b


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> DelongResult:
    """Two-sided DeLong test that two models' AUCs on the same cases are equal."""
    y = np.asarray(y_true).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    finite = np.isfinite(np.asarray(score_a, np.float64)).all() and np.isfinite(np.asarray(score_b, np.float64)).all()
    if m < 2 or n < 2 or not finite:
        nan = float("nan")
        return DelongResult(roc_auc(y, score_a), roc_auc(y, score_b), nan, nan, nan)
    aucs, v10, v01 = [], [], []
    for score in (np.asarray(score_a, np.float64), np.asarray(score_b, np.float64)):
        pos, neg = score[y], score[~y]
        rank_all = _midranks(np.concatenate([pos, neg]))
        rank_pos, rank_neg = _midranks(pos), _midranks(neg)
        aucs.append((rank_all[:m].sum() - m * (m + 1) / 2.0) / (m * n))
        v10.append((rank_all[:m] - rank_pos) / n)          # per-positive placement
        v01.append(1.0 - (rank_all[m:] - rank_neg) / m)    # per-negative placement
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)
    diff = aucs[0] - aucs[1]
    if variance <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / math.sqrt(variance)
        p = math.erfc(abs(z) / math.sqrt(2.0))
    return DelongResult(float(aucs[0]), float(aucs[1]), float(z), float(p), variance)


def stars(p: float) -> str:
    """'**' for p < 0.01, '*' for p < 0.05, '' otherwise (the paper's Table 2 convention)."""
    if p is None or math.isnan(p):
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""


def one_hot_targets(targets: np.ndarray, task: str, num_outputs: int) -> np.ndarray:
    """N x L 0/1 targets for AUC: class indices become one-vs-rest columns."""
    if task == "multiclass":
        return np.eye(num_outputs, dtype=np.float32)[np.asarray(targets).astype(np.int64)]
    return np.asarray(targets, dtype=np.float32).reshape(len(targets), num_outputs)


def evaluate(task: str, labels: list[str], targets: np.ndarray, probs: np.ndarray) -> dict:
    """Per-label AUC, mean AUC (over labels with both classes present) and accuracy (single-label tasks)."""
    y = one_hot_targets(targets, task, len(labels))
    aucs = {label: roc_auc(y[:, i], probs[:, i]) for i, label in enumerate(labels)}
    defined = [v for v in aucs.values() if not math.isnan(v)]
    result = {"n": int(len(y)), "auc": {k: (None if math.isnan(v) else v) for k, v in aucs.items()},
              "mean_auc": float(np.mean(defined)) if defined else None, "accuracy": None}
    if task in ("binary", "multiclass"):
        pred = predicted_labels(probs, task)
        truth = np.asarray(targets).astype(np.int64).reshape(pred.shape)
        result["accuracy"] = float((pred == truth).mean())
    undefined = [k for k, v in aucs.items() if math.isnan(v)]
    if undefined:
        result["auc_undefined"] = undefined   # labels with no positive (or no negative) case
    return result


def compare_logits(ref: np.ndarray, out: np.ndarray, task: str) -> dict[str, float]:
    """Max abs error, max error relative to the largest reference logit, and label agreement."""
    max_abs = float(np.abs(ref - out).max())
    agree = predicted_labels(probabilities(ref, task), task) == predicted_labels(probabilities(out, task), task)
    return {"max_abs_error": max_abs, "max_rel_error": max_abs / max(float(np.abs(ref).max()), 1e-12),
            "label_agreement": float(agree.mean())}
