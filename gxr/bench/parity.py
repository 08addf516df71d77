"""Parity between two runners of one network on the same real images (e.g. model.pt vs its ONNX export, or
FP32 vs INT8): the comparator's tensor parity and AUC parity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gxr.core.comparator import MIN_POSITIVES, ComparatorResult, compare
from gxr.core.errors import GxrError
from gxr.core.provenance import machine_info
from gxr.runtime import Model, data_spec_for, load, score_data


@dataclass
class ParityReport:
    reference: str
    candidate: str
    reference_backend: str
    candidate_backend: str
    data: str
    split: str
    result: ComparatorResult
    machine: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        t, a = self.result.tensor, self.result.auc
        return {"kind": "parity", "ref": self.reference, "candidate": self.candidate,
                "ref_backend": self.reference_backend, "candidate_backend": self.candidate_backend,
                "data": self.data, "split": self.split, "images": t.images, "max_abs_error": t.max_abs_error,
                "max_rel_error": t.max_rel_error, "label_agreement": t.label_agreement,
                "ref_mean_auc": a.reference_mean_auc, "candidate_mean_auc": a.candidate_mean_auc,
                "auc_difference": a.mean_delta, "comparison": self.result.to_json(), "machine": self.machine}


def parity(ref: Model, cand: Model, data: str, split: str = "test", limit: int | None = None,
           min_positives: int = MIN_POSITIVES) -> ComparatorResult:
    """`ref` and `cand` are runtime Models of the same network; both score the same images."""
    a, b = ref.info, cand.info
    if (a.channels, a.image_size, a.labels) != (b.channels, b.image_size, b.labels):
        raise GxrError(f"{cand.source}: not the same model as {ref.source} (channels, size or labels differ)")
    return compare(score_data(ref, data, split, limit), score_data(cand, data, split, limit), ("tensor", "auc"),
                   min_positives)


def run_parity(ref: Path, candidate: Path, *, data: str | None = None, split: str = "test",
               limit: int | None = None) -> ParityReport:
    """Two runners of one network (e.g. model.pt vs its ONNX export) on the same real images."""
    with load(ref) as r, load(candidate) as c:
        spec = data_spec_for(data, r, c)
        result = parity(r, c, spec, split, limit)
        backends = (r.backend, c.backend)
    return ParityReport(str(ref), str(candidate), *backends, spec, split, result, machine_info())
