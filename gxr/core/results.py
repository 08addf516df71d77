"""Per-image prediction results and their file formats (JSON, JSON Lines, CSV). Pure Python + numpy.

A result is either a prediction (probabilities per label) or an error saying why that one image could not be
read; `meta` carries what the decoder learned about the image (size, mode, format; DICOM fields later)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

FORMATS = ("table", "json", "jsonl", "csv")


@dataclass
class ImageResult:
    source: str                                  # the path as given, or e.g. "array[2]" for in-memory images
    probabilities: dict[str, float] | None = None
    error: str | None = None                     # one line: "<source>: <problem>"
    meta: dict[str, Any] = field(default_factory=dict)
    top1: tuple[str, float] | None = None        # single-label models: (class, its probability)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.source}
        if self.ok:
            out["probabilities"] = self.probabilities
            if self.top1 is not None:
                out["prediction"] = {"class": self.top1[0], "probability": self.top1[1]}
        else:
            out["error"] = self.error
        out["meta"] = self.meta
        return out


def top1(task: str, labels: Sequence[str], classes: Sequence[str], row: Sequence[float]) -> tuple[str, float] | None:
    """The predicted class of a single-label model and its probability; None for multi-label models.

    binary: the positive class when p >= 0.5 (its probability p), else the negative class (1 - p)."""
    if task == "binary":
        p = float(row[0])
        negative, positive = (classes[0], classes[1]) if len(classes) >= 2 else (f"not {labels[0]}", labels[0])
        return (positive, p) if p >= 0.5 else (negative, 1.0 - p)
    if task == "multiclass":
        best = max(range(len(row)), key=lambda i: row[i])
        return labels[best], float(row[best])
    return None


def positives(result: ImageResult, threshold: float = 0.5) -> list[str]:
    """Labels at or above `threshold` (for multi-label rows)."""
    return [k for k, v in (result.probabilities or {}).items() if v >= threshold]


def to_json_text(results: Sequence[ImageResult]) -> str:
    return json.dumps([r.to_json() for r in results], indent=2) + "\n"


def to_jsonl_text(results: Sequence[ImageResult]) -> str:
    return "".join(json.dumps(r.to_json()) + "\n" for r in results)


def to_csv_text(results: Sequence[ImageResult], labels: Sequence[str], single_label: bool) -> str:
    """One row per image: image, one column per label, prediction (+ its probability) for single-label
    models, error (empty when predicted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = ["prediction", "prediction_probability"] if single_label else []
    writer.writerow(["image", *labels, *extra, "error"])
    for r in results:
        probs = [f"{r.probabilities[k]:.6g}" for k in labels] if r.ok else [""] * len(labels)
        pred = ([r.top1[0], f"{r.top1[1]:.6g}"] if r.top1 else ["", ""]) if single_label else []
        writer.writerow([r.source, *probs, *pred, r.error or ""])
    return buffer.getvalue()


def format_results(results: Sequence[ImageResult], fmt: str, labels: Sequence[str], single_label: bool) -> str:
    """Results as text in one of the file formats (json, jsonl, csv)."""
    if fmt == "json":
        return to_json_text(results)
    if fmt == "jsonl":
        return to_jsonl_text(results)
    if fmt == "csv":
        return to_csv_text(results, labels, single_label)
    raise ValueError(f"not a file format: {fmt}")
