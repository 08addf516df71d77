"""The one comparator (in the spirit of Polygraphy's): everything that judges or compares models' outputs on a
labelled split, computed from `Scores` (logits at full precision), with one rule for which labels count.

Comparisons, each a function of Scores returning a typed result:
- `auc_summary(scores)`: AUC per label, mean AUC over the labels with enough cases, accuracy, calibration;
- `tensor_parity(ref, cand)`: max abs / relative logit error, label agreement (export and precision checks);
- `auc_parity(ref, cand)`: AUC difference per label and mean (the low-precision AUC gate, `bench parity|matrix`);
- `delong_comparison(a, b)`: paired DeLong test per label with Holm-adjusted p-values (gray vs color);
- `bootstrap_difference(pairs)`: mean-AUC difference a - b with a paired bootstrap CI over test images, averaged
  over seeds.
`compare(ref, cand, checks)` runs any of them by name.

The rule: a label needs >= `min_positives` positives and as many negatives (default 10) for a p-value and a
place in a mean; other labels are shown, marked, and left out, and every table that applies the rule says so."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.metrics import (
    MIN_POSITIVES,
    brier_score,
    class_counts,
    delong_test,
    expected_calibration_error,
    holm,
    roc_auc,
    stars,
)
from gxr.core.modelinfo import predicted_labels, probabilities
from gxr.core.scores import Scores


def _num(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def eligible(positives: int, negatives: int, min_positives: int) -> bool:
    return positives >= min_positives and negatives >= min_positives


def rule_text(min_positives: int) -> str:
    return (f"labels with fewer than {min_positives} positives or {min_positives} negatives get no p-value and are "
            "left out of the mean AUC")


def left_out_note(rows: Sequence[Any], min_positives: int) -> str:
    """'left out of the mean (...): Hernia (3 positives, 197 negatives), ...' or '' when none is."""
    out = [r for r in rows if not r.eligible]
    if not out:
        return ""
    names = ", ".join(f"{r.label} ({r.positives} positives, {r.negatives} negatives)" for r in out)
    return f"left out of the mean and without p-value (fewer than {min_positives} positives or negatives): {names}"


# ---- one model ----------------------------------------------------------------------------------------------
@dataclass
class LabelAuc:
    label: str
    positives: int
    negatives: int
    auc: float | None        # None when undefined (one class only)
    eligible: bool           # counted in the mean (enough positives and negatives)


@dataclass
class AucSummary:
    """AUC per label and mean of one model on one split, with accuracy and calibration."""

    source: str
    images: int
    labels: list[LabelAuc]
    mean_auc: float | None
    accuracy: float | None
    ece: float | None
    brier: float | None
    max_abs_logit: float
    min_positives: int

    @property
    def left_out(self) -> list[str]:
        return [r.label for r in self.labels if not r.eligible]

    def auc(self, label: str) -> float | None:
        return next(r.auc for r in self.labels if r.label == label)

    def note(self) -> str:
        return left_out_note(self.labels, self.min_positives)

    def to_json(self) -> dict[str, Any]:
        """The fields, plus `auc` (label -> AUC) and `left_out` for readers that want them by name."""
        return asdict(self) | {"auc": {r.label: r.auc for r in self.labels}, "left_out": self.left_out}

    def to_metrics(self) -> dict[str, Any]:
        """The `metrics.json` form of a split's evaluation (training history and test metrics)."""
        out = {"n": self.images, "auc": {r.label: r.auc for r in self.labels}, "mean_auc": self.mean_auc,
               "accuracy": self.accuracy, "ece": self.ece, "brier": self.brier, "min_positives": self.min_positives}
        undefined = [r.label for r in self.labels if r.auc is None]
        if undefined:
            out["auc_undefined"] = undefined   # labels with no positive (or no negative) case
        if self.left_out:
            out["left_out_of_mean"] = self.left_out
        return out


def label_aucs(scores: Scores, min_positives: int) -> list[LabelAuc]:
    truth, ranks = scores.truth, scores.ranks
    rows = []
    for j, label in enumerate(scores.labels):
        pos, neg = class_counts(truth[:, j])
        rows.append(LabelAuc(label, pos, neg, _num(roc_auc(truth[:, j], ranks[:, j])),
                             eligible(pos, neg, min_positives)))
    return rows


def mean_of_eligible(rows: Sequence[LabelAuc]) -> float | None:
    return _mean([r.auc for r in rows if r.eligible])


def auc_summary(scores: Scores, min_positives: int = MIN_POSITIVES) -> AucSummary:
    rows = label_aucs(scores, min_positives)
    finite = len(scores) > 0 and bool(np.isfinite(scores.logits).all())
    probs = scores.probabilities() if finite else None
    return AucSummary(scores.source, len(scores), rows, mean_of_eligible(rows), scores.accuracy(),
                      expected_calibration_error(scores.truth, probs) if finite else None,
                      brier_score(scores.truth, probs) if finite else None, scores.max_abs_logit(), min_positives)


# ---- two runs of one network (export, precision) ---------------------------------------------------------------
@dataclass
class TensorParity:
    images: int
    max_abs_error: float
    max_rel_error: float            # relative to the largest reference logit
    label_agreement: float          # fraction of images (multi-class) or image-labels with the same decision
    max_abs_prob_error: float


def _check_same(ref: Scores, cand: Scores) -> None:
    if ref.logits.shape != cand.logits.shape or ref.labels != cand.labels or ref.task != cand.task:
        raise GxrError(f"{cand.source or 'candidate'}: not comparable with {ref.source or 'reference'} "
                       f"(shapes {ref.logits.shape} vs {cand.logits.shape}, or labels/task differ)")


def tensor_parity(ref: Scores, cand: Scores) -> TensorParity:
    _check_same(ref, cand)
    return logit_parity(ref.logits, cand.logits, ref.task)


def logit_parity(ref_logits: np.ndarray, cand_logits: np.ndarray, task: str) -> TensorParity:
    """Tensor parity of two N x L logit arrays of one task (where no labels are at hand, e.g. an export check)."""
    a, b = np.asarray(ref_logits, np.float64), np.asarray(cand_logits, np.float64)
    if a.shape != b.shape:
        raise GxrError(f"logits of shape {b.shape} cannot be compared with {a.shape}")
    if not a.size:
        return TensorParity(0, 0.0, 0.0, 1.0, 0.0)
    max_abs = float(np.abs(a - b).max())
    pa, pb = probabilities(a, task), probabilities(b, task)
    agree = predicted_labels(pa, task) == predicted_labels(pb, task)
    return TensorParity(len(a), max_abs, max_abs / max(float(np.abs(a).max()), 1e-12), float(agree.mean()),
                        float(np.abs(pa - pb).max()))


@dataclass
class AucParity:
    """Candidate minus reference AUC on the same images (labels under the rule left out of the mean)."""

    images: int
    reference_mean_auc: float | None
    candidate_mean_auc: float | None
    mean_delta: float | None
    per_label_delta: dict[str, float | None]
    left_out: list[str]
    min_positives: int


def auc_parity(ref: Scores, cand: Scores, min_positives: int = MIN_POSITIVES) -> AucParity:
    _check_same(ref, cand)
    a, b = label_aucs(ref, min_positives), label_aucs(cand, min_positives)
    deltas = {ra.label: None if ra.auc is None or rb.auc is None else rb.auc - ra.auc for ra, rb in zip(a, b)}
    ma, mb = mean_of_eligible(a), mean_of_eligible(b)
    return AucParity(len(ref), ma, mb, None if ma is None or mb is None else mb - ma, deltas,
                     [r.label for r in a if not r.eligible], min_positives)


def check_auc_gate(parity: AucParity, tolerance: float, what: str) -> None:
    """Refuse a candidate whose mean AUC dropped more than `tolerance` below the reference's."""
    if parity.mean_delta is None:
        raise GxrError(f"{what}: cannot check the AUC tolerance: no label has {parity.min_positives} positives and "
                       f"{parity.min_positives} negatives among the {parity.images} parity images; nothing written")
    if -parity.mean_delta > tolerance:
        raise GxrError(f"{what}: mean AUC drops {-parity.mean_delta:.4f} vs FP32 on {parity.images} held-out images "
                       f"({parity.reference_mean_auc:.4f} -> {parity.candidate_mean_auc:.4f}), more than the "
                       f"tolerance {tolerance:g}; nothing written")


# ---- two models on the same images (gray vs color, arms of a study) --------------------------------------------
@dataclass
class PairedLabel:
    label: str
    positives: int
    negatives: int
    auc_a: float | None
    auc_b: float | None
    z: float | None
    p_value: float | None           # raw two-sided DeLong p; None for labels under the rule
    p_holm: float | None            # Holm-adjusted over the family (this comparison's labels, or a wider one)
    stars: str                      # from the adjusted p-value
    eligible: bool


@dataclass
class PairedAuc:
    """Model a vs model b on the same images: per-label AUCs and DeLong tests, mean AUCs under the rule."""

    name_a: str
    name_b: str
    images: int
    rows: list[PairedLabel]
    mean_auc_a: float | None
    mean_auc_b: float | None
    min_positives: int

    @property
    def left_out(self) -> list[str]:
        return [r.label for r in self.rows if not r.eligible]

    def note(self) -> str:
        return left_out_note(self.rows, self.min_positives)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"left_out": self.left_out}


def delong_comparison(a: Scores, b: Scores, min_positives: int = MIN_POSITIVES, name_a: str = "a",
                      name_b: str = "b") -> PairedAuc:
    """Per-label paired DeLong test on the same images; Holm over this comparison's eligible labels."""
    if not a.same_images(b):
        raise GxrError(f"{b.source or name_b}: scored other images or labels than {a.source or name_a}; compare "
                       "models on the same split")
    truth, ra, rb = a.truth, a.ranks, b.ranks
    rows = []
    for j, label in enumerate(a.labels):
        pos, neg = class_counts(truth[:, j])
        ok = eligible(pos, neg, min_positives)
        r = delong_test(truth[:, j], ra[:, j], rb[:, j])
        rows.append(PairedLabel(label, pos, neg, _num(r.auc_a), _num(r.auc_b), _num(r.z) if ok else None,
                                _num(r.p_value) if ok else None, None, "", ok))
    apply_holm(rows)
    return PairedAuc(name_a, name_b, len(a), rows, _mean([r.auc_a for r in rows if r.eligible]),
                     _mean([r.auc_b for r in rows if r.eligible]), min_positives)


def apply_holm(rows: Sequence[PairedLabel]) -> None:
    """Set p_holm and stars of `rows` as one family (rows without a p-value are not counted)."""
    for row, adjusted in zip(rows, holm([r.p_value for r in rows])):
        row.p_holm, row.stars = adjusted, stars(adjusted)


def holm_family(comparisons: Sequence[PairedAuc]) -> None:
    """Re-adjust several comparisons (e.g. every pair of arms on one task) as one family of tests."""
    apply_holm([row for c in comparisons for row in c.rows])


@dataclass
class DifferenceCI:
    """Mean AUC of a minus b, averaged over seeds, with a paired bootstrap CI over test images."""

    name_a: str
    name_b: str
    estimate: float | None
    low: float | None
    high: float | None
    level: float
    resamples: int
    seeds: int
    images: int
    labels: list[str]               # the labels in the mean (the rule applied on the whole split)


def _mean_auc_columns(truth: np.ndarray, ranks: np.ndarray, columns: list[int]) -> float:
    values = [roc_auc(truth[:, j], ranks[:, j]) for j in columns]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def bootstrap_difference(pairs: Sequence[tuple[Scores, Scores]], resamples: int = 1000, level: float = 0.95,
                         seed: int = 0, min_positives: int = MIN_POSITIVES, name_a: str = "a",
                         name_b: str = "b") -> DifferenceCI:
    """`pairs`: one (a, b) pair of Scores per seed, all on the same test images. Each resample draws the test
    images with replacement once and uses the same draw for every seed and both arms (paired)."""
    if not pairs:
        raise GxrError("bootstrap: no (a, b) pairs of scores")
    first = pairs[0][0]
    for a, b in pairs:
        if not (first.same_images(a) and first.same_images(b)):
            raise GxrError(f"{b.source or name_b}: every seed and arm must score the same test images")
    truth = first.truth
    columns = [j for j in range(len(first.labels)) if eligible(*class_counts(truth[:, j]), min_positives)]
    labels = [first.labels[j] for j in columns]
    if not columns:
        return DifferenceCI(name_a, name_b, None, None, None, level, 0, len(pairs), len(first), labels)
    ranks = [(a.ranks, b.ranks) for a, b in pairs]

    def difference(index: np.ndarray) -> float:
        t = truth[index]
        return float(np.mean([_mean_auc_columns(t, ra[index], columns) - _mean_auc_columns(t, rb[index], columns)
                              for ra, rb in ranks]))

    everything = np.arange(len(first))
    rng = np.random.default_rng(seed)
    draws = np.array([difference(rng.integers(0, len(first), len(first))) for _ in range(resamples)])
    draws = draws[np.isfinite(draws)]
    tail = (1.0 - level) / 2.0
    low, high = (float(np.quantile(draws, tail)), float(np.quantile(draws, 1.0 - tail))) if len(draws) else (None, None)
    return DifferenceCI(name_a, name_b, _num(difference(everything)), low, high, level, int(len(draws)), len(pairs),
                        len(first), labels)


# ---- the comparator -----------------------------------------------------------------------------------------
@dataclass
class ComparatorResult:
    reference: str
    candidate: str
    tensor: TensorParity | None = None
    auc: AucParity | None = None
    delong: PairedAuc | None = None
    extra: dict[str, Any] = field(default_factory=dict)    # results of custom comparisons, by name

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Comparison = Callable[[Scores, Scores, int], Any]
COMPARISONS: dict[str, Comparison] = {
    "tensor": lambda ref, cand, _k: tensor_parity(ref, cand),
    "auc": lambda ref, cand, k: auc_parity(ref, cand, k),
    "delong": lambda ref, cand, k: delong_comparison(ref, cand, k, ref.source or "reference",
                                                     cand.source or "candidate"),
}


def compare(ref: Scores, cand: Scores, checks: Sequence[str | tuple[str, Comparison]] = ("tensor", "auc"),
            min_positives: int = MIN_POSITIVES) -> ComparatorResult:
    """Run the named comparisons (or ("name", function) pairs for custom ones) of `cand` against `ref`."""
    result = ComparatorResult(ref.source, cand.source)
    for check in checks:
        name, fn = check if isinstance(check, tuple) else (check, COMPARISONS.get(check))
        if fn is None:
            raise GxrError(f"comparison {name!r}: choose from {', '.join(COMPARISONS)}")
        value = fn(ref, cand, min_positives)
        if name in ("tensor", "auc", "delong") and not isinstance(check, tuple):
            setattr(result, name, value)
        else:
            result.extra[name] = value
    return result
