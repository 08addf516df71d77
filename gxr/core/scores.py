"""What a model said about a labelled split: logits at full precision, targets, labels, task and image ids.

`Scores` is the one thing every evaluation in gxr computes from (AUC, DeLong, ROC, parity, calibration):
`gxr.runtime.score_split` makes it by predicting a split through the runtime. AUC is rank-based, so it is
computed from the logits (log-softmax for multi-class tasks, which ranks like the softmax probability without
ever rounding to 0 or 1); probabilities are derived only where one is shown. Pure numpy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.modelinfo import TASKS, predicted_labels, probabilities


def one_hot_targets(targets: np.ndarray, task: str, num_outputs: int) -> np.ndarray:
    """N x L 0/1 targets: class indices become one-vs-rest columns."""
    if task == "multiclass":
        return np.eye(num_outputs, dtype=np.float32)[np.asarray(targets).astype(np.int64)]
    return np.asarray(targets, dtype=np.float32).reshape(len(targets), num_outputs)


def rank_scores(logits: np.ndarray, task: str) -> np.ndarray:
    """float64 scores that rank images exactly as the model's probabilities do, without saturating:
    the logits themselves (sigmoid is monotone), or log-softmax for multi-class tasks."""
    x = np.asarray(logits, dtype=np.float64)
    if task != "multiclass" or x.size == 0:
        return x.copy()
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass
class Scores:
    """One model's logits on one labelled split (row i is image `image_ids[i]`)."""

    logits: np.ndarray                    # N x L, float32 or float64, exactly as the model produced them
    targets: np.ndarray                   # N (class index: multi-class) or N x L (0/1: binary, multi-label)
    labels: list[str]
    task: str
    image_ids: list[str]
    source: str = ""                      # what produced them, e.g. "models/covid-gray/1 (onnxruntime)"
    data: str = ""                        # data spec
    split: str = ""
    meta: dict[str, Any] = field(default_factory=dict)   # e.g. {"seed": 1} for one seed of an arm

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits)
        if self.task not in TASKS:
            raise GxrError(f"{self.source or 'scores'}: unknown task {self.task!r}")
        if not np.issubdtype(self.logits.dtype, np.floating) or self.logits.ndim != 2:
            raise GxrError(f"{self.source or 'scores'}: logits must be a float N x L array, got "
                           f"{self.logits.dtype} {self.logits.shape}")
        n, width = self.logits.shape
        if width != len(self.labels) or len(self.targets) != n or len(self.image_ids) != n:
            raise GxrError(f"{self.source or 'scores'}: {n} x {width} logits for {len(self.labels)} labels, "
                           f"{len(self.targets)} targets and {len(self.image_ids)} image ids")

    def __len__(self) -> int:
        return len(self.logits)

    @property
    def truth(self) -> np.ndarray:
        """N x L 0/1 targets (one-vs-rest columns for multi-class)."""
        return one_hot_targets(self.targets, self.task, len(self.labels))

    @property
    def ranks(self) -> np.ndarray:
        """N x L float64 scores for AUC, DeLong and ROC (see `rank_scores`)."""
        return rank_scores(self.logits, self.task)

    def probabilities(self) -> np.ndarray:
        """N x L probabilities (sigmoid; softmax for multi-class), for what is shown as a probability."""
        return probabilities(self.logits, self.task)

    def decisions(self) -> np.ndarray:
        """Hard decisions: class index (multi-class) or 0/1 per label (p >= 0.5, i.e. logit >= 0)."""
        return predicted_labels(self.probabilities(), self.task)

    def accuracy(self) -> float | None:
        """Top-1 accuracy for single-label tasks; None for multi-label."""
        if self.task == "multilabel" or not len(self):
            return None
        truth = np.asarray(self.targets).astype(np.int64).reshape(self.decisions().shape)
        return float((self.decisions() == truth).mean())

    def max_abs_logit(self) -> float:
        return float(np.abs(self.logits).max()) if self.logits.size else 0.0

    def rows(self, indices: np.ndarray) -> Scores:
        """The same scores on a subset (or resample) of the images."""
        indices = np.asarray(indices, dtype=np.int64)
        return replace(self, logits=self.logits[indices], targets=np.asarray(self.targets)[indices],
                       image_ids=[self.image_ids[i] for i in indices], meta=dict(self.meta))

    def same_images(self, other: Scores) -> bool:
        return self.image_ids == other.image_ids and self.labels == other.labels and self.task == other.task

    def to_json(self, targets: bool = True) -> dict[str, Any]:
        """Exact: float32/float64 logits survive a JSON round trip bit for bit (float32 in its shortest decimal
        form). `targets=False` leaves the labels out (what a committed file keeps: the labels stay in the data,
        re-joined by image id, see `gxr.study.evaluation.scores_from_record`)."""
        out = {"logits": exact_floats(self.logits), "logits_dtype": self.logits.dtype.name,
               "targets": np.asarray(self.targets).tolist(), "labels": list(self.labels), "task": self.task,
               "image_ids": list(self.image_ids), "source": self.source, "data": self.data, "split": self.split,
               "meta": self.meta}
        if not targets:
            del out["targets"]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], targets: np.ndarray | None = None) -> Scores:
        """Scores from `to_json`'s dict; `targets` (row i for image i) when the dict was written without them."""
        if targets is None and "targets" not in d:
            raise GxrError(f"{d.get('source') or 'scores'}: no targets stored with these logits; re-join them from "
                           f"the data by image id (gxr.study.evaluation.scores_from_record)")
        logits = np.asarray(d["logits"], dtype=d.get("logits_dtype", "float32"))
        labels = list(d["labels"])
        kept = np.asarray(d["targets"] if targets is None else targets, dtype=np.float32)
        return cls(logits.reshape(len(logits), len(labels)), kept, labels, d["task"], list(d["image_ids"]),
                   d.get("source", ""), d.get("data", ""), d.get("split", ""), dict(d.get("meta") or {}))


def exact_floats(values: np.ndarray) -> list:
    """Nested lists of Python floats that convert back to `values` exactly: float32 in its shortest decimal form
    (about half the characters of the float64 repr of the same number), other dtypes as they are."""
    values = np.asarray(values)
    if values.dtype == np.float32:
        return np.vectorize(float, otypes=[object])(values.astype(str)).tolist() if values.size else values.tolist()
    return values.tolist()
