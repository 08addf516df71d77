"""Parity between two runners on the same real images: errors, label agreement, AUC difference."""

from __future__ import annotations

from typing import Any

import numpy as np

from gxr.bench.metrics import evaluate
from gxr.data.base import Split
from gxr.errors import GxrError
from gxr.modelinfo import predicted_labels, probabilities


def compare_logits(ref: np.ndarray, out: np.ndarray, task: str) -> dict[str, float]:
    """Max abs error, max error relative to the largest reference logit, and label agreement."""
    max_abs = float(np.abs(ref - out).max())
    agree = predicted_labels(probabilities(ref, task), task) == predicted_labels(probabilities(out, task), task)
    return {"max_abs_error": max_abs, "max_rel_error": max_abs / max(float(np.abs(ref).max()), 1e-12),
            "label_agreement": float(agree.mean())}


def split_pixels(split: Split, channels: int, size: int, limit: int | None = None) -> np.ndarray:
    from gxr.preprocess import to_model_pixels

    n = len(split) if limit is None else min(limit, len(split))
    return np.stack([to_model_pixels(split.images.open(i), channels, size) for i in range(n)])


def parity(ref, cand, split: Split, limit: int | None = None) -> dict[str, Any]:
    """`ref` and `cand` are runtime Models of the same network (e.g. model.pt vs model.onnx)."""
    a, b = ref.info, cand.info
    if (a.channels, a.image_size, a.labels) != (b.channels, b.image_size, b.labels):
        raise GxrError(f"{cand.source}: not the same model as {ref.source} (channels, size or labels differ)")
    pixels = split_pixels(split, a.channels, a.image_size, limit)
    ref_logits, cand_logits = ref.logits_from_pixels(pixels), cand.logits_from_pixels(pixels)
    result = compare_logits(ref_logits, cand_logits, a.task)
    targets = split.targets[:len(pixels)]
    auc_ref = evaluate(a.task, a.labels, targets, probabilities(ref_logits, a.task))["mean_auc"]
    auc_cand = evaluate(a.task, a.labels, targets, probabilities(cand_logits, a.task))["mean_auc"]
    result.update(images=len(pixels), ref=ref.source, candidate=cand.source, ref_backend=ref.backend,
                  candidate_backend=cand.backend, ref_mean_auc=auc_ref, candidate_mean_auc=auc_cand,
                  auc_difference=None if auc_ref is None or auc_cand is None else auc_cand - auc_ref)
    return result
