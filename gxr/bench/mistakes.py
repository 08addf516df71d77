"""Look at the mistakes: every misclassified image of a split, per label, most confident first.

Per label L: a false positive is an image predicted L that is not L; a false negative is an image that is L
and was not predicted L. Decisions are the models' own (p >= 0.5 per label; argmax for multi-class), and a
mistake's confidence is the probability the model gave to its wrong answer."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.scores import Scores, one_hot_targets
from gxr.data import Split
from gxr.runtime import Model, score_split

KINDS = ("false positive", "false negative")


@dataclass
class Mistake:
    index: int                  # position in the split
    image: str                  # the image's name in its data set (file, archive member or array index)
    label: str
    kind: str                   # false positive | false negative
    probability: float          # the model's probability of `label`
    confidence: float           # probability of the wrong answer: p for false positives, 1 - p for false negatives
    true_labels: list[str]


@dataclass
class MistakeReport:
    model: str
    data: str
    split: str
    images: int
    labels: list[str]
    mistakes: list[Mistake]

    def top(self, label: str, kind: str, k: int) -> list[Mistake]:
        """The `k` most confident mistakes of one kind for one label."""
        chosen = [m for m in self.mistakes if m.label == label and m.kind == kind]
        return sorted(chosen, key=lambda m: (-m.confidence, m.index))[:k]

    def counts(self) -> dict[str, dict[str, int]]:
        return {label: {kind: sum(1 for m in self.mistakes if m.label == label and m.kind == kind) for kind in KINDS}
                for label in self.labels}

    def to_json(self) -> dict[str, Any]:
        return {"kind": "mistakes", "model": self.model, "data": self.data, "split": self.split,
                "images": self.images, "counts": self.counts(), "mistakes": [asdict(m) for m in self.mistakes]}


def decisions(scores: Scores) -> np.ndarray:
    """N x L 0/1: what the model says per label (one-vs-rest for multi-class)."""
    pred = scores.decisions()
    if scores.task == "multiclass":
        return one_hot_targets(pred, scores.task, len(scores.labels))
    return pred.reshape(scores.logits.shape)


def find_mistakes(model: Model, split: Split, labels: list[str] | None = None,
                  limit: int | None = None) -> tuple[list[Mistake], int]:
    """Every mistake on `split` (for `labels`, default all of the model's), and how many images were seen."""
    info = model.info
    unknown = [name for name in labels or [] if name not in info.labels]
    if unknown:
        raise GxrError(f"{model.source}: label {unknown[0]!r} is not one of its labels ({', '.join(info.labels)})")
    scores = score_split(model, split, limit)
    probs, truth, said = scores.probabilities(), scores.truth, decisions(scores)
    mistakes = []
    for j, label in enumerate(info.labels):
        if labels and label not in labels:
            continue
        for i in np.flatnonzero(said[:, j] != truth[:, j]):
            kind = KINDS[0] if said[i, j] else KINDS[1]
            p = float(probs[i, j])
            mistakes.append(Mistake(int(i), scores.image_ids[i], label, kind, p,
                                    p if kind == KINDS[0] else 1.0 - p, _true_labels(truth[i], info)))
    return mistakes, len(scores)


def _true_labels(row: np.ndarray, info) -> list[str]:
    """The image's true labels; a binary task names its negative class too (e.g. "normal")."""
    if info.task == "binary" and len(info.classes) == 2:
        return [info.classes[int(row[0])]]
    return [label for label, v in zip(info.labels, row) if v]


def mistakes_csv(report: MistakeReport) -> str:
    """All mistakes, most confident first within each label and kind."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "kind", "image", "index", "probability", "confidence", "true_labels"])
    for label in report.labels:
        for kind in KINDS:
            for m in report.top(label, kind, len(report.mistakes)):
                writer.writerow([m.label, m.kind, m.image, m.index, f"{m.probability:.6f}", f"{m.confidence:.6f}",
                                 "|".join(m.true_labels) or "none"])
    return buffer.getvalue()


def caption(m: Mistake) -> str:
    """A tile caption: file name, true labels, and the probability of the label it got wrong."""
    name = m.image.replace("\\", "/").rsplit("/", 1)[-1]     # archive members: the member's file name
    truth = ", ".join(m.true_labels) or "none"
    return f"{name}\ntrue: {truth}\np({m.label}) = {m.probability:.3f}"


def write_mistakes(report: MistakeReport, split: Split, out: Path, k: int) -> list[Path]:
    """OUT/mistakes.csv (every mistake), OUT/mistakes.json and OUT/contact-sheet.png (top `k` per label and
    kind); returns the paths written."""
    from gxr.bench.plots import contact_sheet
    from gxr.core.fileio import write_json, write_text

    rows = []
    for label in report.labels:
        for kind in KINDS:
            top = report.top(label, kind, k)
            rows.append((f"{label}: {kind}s ({len(top)} of {report.counts()[label][kind]})",
                         [(split.images.open(m.index), caption(m)) for m in top]))
    title = f"most confident mistakes: {Path(report.model).name} on {report.split} ({report.images} images)"
    paths = [out / "contact-sheet.png", out / "mistakes.csv", out / "mistakes.json"]
    contact_sheet(rows, k, title, paths[0])
    write_text(paths[1], mistakes_csv(report))
    write_json(paths[2], report.to_json())
    return paths
