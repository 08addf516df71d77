"""The DataSource every command consumes, and `build_source`, the one builder every opener ends in.

An opener (npz, nih, folder, csv) reads its files into one pool: an image store, a target per item, the
patient id per item when known and the data set's own split when it has one. `build_source` applies the
spec's split options (`split`, `seed`) through the split policy in `gxr.data.splits`, cuts the pool into
`Split`s and fingerprints the result. `split_pixels` turns a split into model input (uint8 N x C x H x W).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from gxr.core.errors import GxrError
from gxr.core.preprocess import to_model_pixels
from gxr.data.spec import DataSpec
from gxr.data.splits import SPLITS, assign_splits
from gxr.data.stores import ImageStore

SPLIT_OPTIONS = ("split", "seed")   # read by build_source; every data kind accepts them


@dataclass
class Split:
    images: ImageStore
    targets: np.ndarray            # float32: N x L (multi-label / binary) or N (class index, multiclass)
    groups: np.ndarray | None = None   # patient ids, when known

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray) -> Split:
        return Split(self.images.subset(indices), self.targets[indices],
                     None if self.groups is None else self.groups[indices])


@dataclass
class DataSource:
    spec: str
    task: str                      # binary | multiclass | multilabel
    labels: list[str]              # one per model output
    splits: dict[str, Split]
    classes: list[str] = field(default_factory=list)   # binary: [negative, positive]
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""

    def split(self, name: str) -> Split:
        """The named split; an error when it is missing or empty (naming the splits that have images)."""
        if name not in self.splits or len(self.splits[name]) == 0:
            present = [key for key, split in self.splits.items() if len(split)]
            raise GxrError(f"{self.spec}: has no {name!r} split (has: {', '.join(present) or 'none'})")
        return self.splits[name]

    def empty_splits(self) -> list[str]:
        return [name for name, split in self.splits.items() if len(split) == 0]


def fingerprint(splits: dict[str, Split], *extra: object) -> str:
    """sha256 identifying a data set as trained on: per split, its image names (in order) and targets,
    plus `extra` (e.g. the pixels of in-memory arrays)."""
    digest = hashlib.sha256()
    parts: list[object] = list(extra)
    for name, split in splits.items():
        parts += [name, "\n".join(split.images.name(i) for i in range(len(split))), split.targets]
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(str(part).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def spec_seed(spec: DataSpec) -> int:
    """The spec's `seed` option (default 0)."""
    text = spec.option("seed", "0")
    try:
        return int(text)
    except ValueError as exc:
        raise GxrError(f"data spec {spec.text!r}: seed={text!r} is not an integer") from exc


def classification_targets(class_index: np.ndarray, classes: list[str]) -> tuple[str, list[str], list[str], np.ndarray]:
    """(task, output labels, classes, targets) for one class per item: two classes are a binary task with
    one output (the second class); more are multiclass with class indices as targets."""
    if len(classes) == 2:
        return "binary", [classes[1]], list(classes), class_index[:, None].astype(np.float32)
    return "multiclass", list(classes), [], class_index.astype(np.float32)


def build_source(spec: DataSpec, store: ImageStore, targets: np.ndarray, task: str, labels: list[str],
                 classes: Sequence[str] = (), *, groups: np.ndarray | None = None, given: np.ndarray | None = None,
                 notes: Sequence[str] = (), extra: Sequence[object] = ()) -> DataSource:
    """Split one pool of images under the spec's split options and fingerprint it (with `extra`, e.g. pixels)."""
    notes = list(notes)
    assignment = assign_splits(str(spec.path), len(store), groups, given, spec.option("split", "auto"),
                               spec_seed(spec), notes)
    splits = {}
    for code, name in enumerate(SPLITS):
        idx = np.flatnonzero(assignment == code)
        splits[name] = Split(store.subset(idx), targets[idx], None if groups is None else np.asarray(groups)[idx])
    return DataSource(spec.text, task, list(labels), splits, list(classes), notes, fingerprint(splits, *extra))


def split_pixels(split: Split, channels: int, size: int, limit: int | None = None) -> np.ndarray:
    """The first `limit` (default all) images of a split as model input, uint8 N x C x H x W."""
    n = len(split) if limit is None else min(limit, len(split))
    return np.stack([to_model_pixels(split.images.open(i), channels, size) for i in range(n)])
