"""Statistics on scores (numpy only): ROC AUC, ROC points, DeLong's test for two correlated ROC curves, Holm's
step-down adjustment, calibration (reliability bins, ECE, Brier).

DeLong, DeLong & Clarke-Pearson (1988), computed with midranks as in Sun & Xu (2014): O(n log n). Every
function takes scores that rank images (logits, see gxr.core.scores.rank_scores), never rounded
probabilities, except the calibration functions, which take probabilities by definition."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gxr.core.scores import one_hot_targets

__all__ = ["roc_auc", "roc_points", "delong_test", "DelongResult", "holm", "stars", "class_counts", "MIN_POSITIVES",
           "reliability", "expected_calibration_error", "brier_score", "one_hot_targets"]

MIN_POSITIVES = 10   # a label needs this many positives AND negatives for a p-value and a place in a mean


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (x must be finite)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(sorted_x[1:] != sorted_x[:-1]) + 1]
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(0.5 * (starts + ends - 1) + 1.0, ends - starts)
    return ranks


def class_counts(y_true: np.ndarray) -> tuple[int, int]:
    """(positives, negatives) of a 0/1 column."""
    y = np.asarray(y_true).astype(bool)
    return int(y.sum()), int((~y).sum())


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney); NaN when only one class is present or a score is not finite."""
    y = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    m, n = class_counts(y)
    if m == 0 or n == 0 or not np.isfinite(score).all():   # undefined: one class, or a diverged model
        return float("nan")
    ranks = _midranks(score)
    return float((ranks[y].sum() - m * (m + 1) / 2.0) / (m * n))


def roc_points(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct threshold, from (0, 0) to (1, 1); tied
    scores move both rates at once (the diagonal step whose area is the tie's half-credit in the AUC)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tps, fps = np.cumsum(y)[last_of_tie], np.cumsum(~y)[last_of_tie]
    return np.r_[0.0, fps / max(int((~y).sum()), 1)], np.r_[0.0, tps / max(int(y.sum()), 1)]


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
    m, n = class_counts(y)
    a, b = np.asarray(score_a, np.float64), np.asarray(score_b, np.float64)
    if m < 2 or n < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        nan = float("nan")
        return DelongResult(roc_auc(y, a), roc_auc(y, b), nan, nan, nan)
    aucs, v10, v01 = [], [], []
    for score in (a, b):
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


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order; None stays None and is not
    counted in the family."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    k = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (k - rank) * p))
        adjusted[i] = running
    return adjusted


def stars(p: float | None) -> str:
    """'**' for p < 0.01, '*' for p < 0.05, '' otherwise (the paper's Table 2 convention)."""
    if p is None or math.isnan(p):
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""


def reliability(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width probability bin: mean predicted probability, observed frequency, count (empty bins
    are left out)."""
    y, prob = np.asarray(y, float).ravel(), np.asarray(prob, float).ravel()
    which = np.clip((prob * bins).astype(int), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    keep = counts > 0
    mean_p = np.bincount(which, prob, bins)[keep] / counts[keep]
    observed = np.bincount(which, y, bins)[keep] / counts[keep]
    return mean_p, observed, counts[keep]


def expected_calibration_error(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean probability - observed frequency| over equal-width bins."""
    mean_p, observed, counts = reliability(y, prob, bins)
    return float(np.sum(counts * np.abs(mean_p - observed)) / max(counts.sum(), 1))


def brier_score(y: np.ndarray, prob: np.ndarray) -> float:
    """Mean squared error of the probabilities against the 0/1 outcomes (all labels pooled)."""
    y, prob = np.asarray(y, float).ravel(), np.asarray(prob, float).ravel()
    return float(np.mean((prob - y) ** 2)) if len(y) else float("nan")
