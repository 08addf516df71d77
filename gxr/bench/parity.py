"""Parity between two runners on the same real images: errors, label agreement, AUC difference."""

from __future__ import annotations

from typing import Any

from gxr.core.errors import GxrError
from gxr.core.metrics import compare_logits, evaluate
from gxr.core.modelinfo import probabilities
from gxr.data import Split, split_pixels


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
