"""Splits, image stores and the DataSource every command consumes (numpy + PIL only)."""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.preprocess import open_image, to_model_pixels

SPLITS = ("train", "val", "test")


class ImageStore:
    """Random access to decoded images of one split."""

    def __len__(self) -> int:
        raise NotImplementedError

    def open(self, index: int) -> Image.Image:
        raise NotImplementedError

    def name(self, index: int) -> str:
        raise NotImplementedError

    def encoded(self, index: int) -> bytes | None:
        """The image file's bytes when the store holds encoded files, else None."""
        return None

    def subset(self, indices: np.ndarray) -> ImageStore:
        return SubsetStore(self, indices)


class ArrayStore(ImageStore):
    """uint8 images in memory: N x H x W (gray) or N x H x W x 3 (RGB)."""

    def __init__(self, images: np.ndarray, names: Sequence[str] | None = None, origin: str = "array"):
        self.images, self.origin = images, origin
        self.names = list(names) if names is not None else [f"{origin}[{i}]" for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def open(self, index: int) -> Image.Image:
        return open_image(self.images[index], self.names[index])

    def name(self, index: int) -> str:
        return self.names[index]


class FileStore(ImageStore):
    """Encoded image files on disk."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def open(self, index: int) -> Image.Image:
        return open_image(self.paths[index])

    def name(self, index: int) -> str:
        return str(self.paths[index])

    def encoded(self, index: int) -> bytes:
        try:
            return self.paths[index].read_bytes()
        except OSError as exc:
            raise GxrError(f"{self.paths[index]}: cannot read image ({exc.strerror})") from None


@dataclass(frozen=True)
class TarMember:
    archive: Path
    name: str
    offset: int
    size: int


class TarStore(ImageStore):
    """Images inside an uncompressed .tar, read with pread so forked data-loader workers stay safe."""

    def __init__(self, members: Sequence[TarMember]):
        self.members = list(members)

    def __len__(self) -> int:
        return len(self.members)

    def name(self, index: int) -> str:
        m = self.members[index]
        return f"{m.archive}:{m.name}"

    def encoded(self, index: int) -> bytes:
        m = self.members[index]
        fd = os.open(m.archive, os.O_RDONLY)
        try:
            data = os.pread(fd, m.size, m.offset)
        finally:
            os.close(fd)
        if len(data) != m.size:
            raise GxrError(f"{self.name(index)}: truncated archive member")
        return data

    def open(self, index: int) -> Image.Image:
        return open_image(self.encoded(index), self.name(index))


def index_tar(archive: Path, suffixes: tuple[str, ...]) -> list[TarMember]:
    """List the image members of an uncompressed tar with their byte offsets."""
    try:
        with tarfile.open(archive, "r:") as tar:
            return [TarMember(archive, m.name, m.offset_data, m.size) for m in tar.getmembers()
                    if m.isfile() and m.name.lower().endswith(suffixes)]
    except (tarfile.TarError, OSError) as exc:
        raise GxrError(f"{archive}: cannot read tar archive ({exc}); compressed archives must be unpacked") from None


class ZipStore(ImageStore):
    """Images inside a .zip; each process opens its own handle (safe with forked data-loader workers)."""

    def __init__(self, archive: Path, names: Sequence[str]):
        self.archive, self.names = Path(archive), list(names)
        self._handle: tuple[int, zipfile.ZipFile] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return f"{self.archive}:{self.names[index]}"

    def _zip(self) -> zipfile.ZipFile:
        if self._handle is None or self._handle[0] != os.getpid():
            self._handle = (os.getpid(), zipfile.ZipFile(self.archive))
        return self._handle[1]

    def encoded(self, index: int) -> bytes:
        try:
            return self._zip().read(self.names[index])
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise GxrError(f"{self.name(index)}: cannot read from zip ({exc})") from None

    def open(self, index: int) -> Image.Image:
        return open_image(self.encoded(index), self.name(index))

    def __getstate__(self):
        return {"archive": self.archive, "names": self.names, "_handle": None}


class SubsetStore(ImageStore):
    def __init__(self, base: ImageStore, indices: np.ndarray):
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def open(self, index: int) -> Image.Image:
        return self.base.open(int(self.indices[index]))

    def name(self, index: int) -> str:
        return self.base.name(int(self.indices[index]))

    def encoded(self, index: int) -> bytes | None:
        return self.base.encoded(int(self.indices[index]))


class ConcatStore(ImageStore):
    """Several stores seen as one (e.g. loose files and tar members in one NIH folder)."""

    def __init__(self, parts: Sequence[tuple[ImageStore, int]]):
        self.parts = list(parts)   # (store, index in that store) per item

    def __len__(self) -> int:
        return len(self.parts)

    def open(self, index: int) -> Image.Image:
        store, i = self.parts[index]
        return store.open(i)

    def name(self, index: int) -> str:
        store, i = self.parts[index]
        return store.name(i)

    def encoded(self, index: int) -> bytes | None:
        store, i = self.parts[index]
        return store.encoded(i)


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
        if name not in self.splits or len(self.splits[name]) == 0:
            raise GxrError(f"{self.spec}: has no {name!r} split (has: {', '.join(self.splits) or 'none'})")
        return self.splits[name]


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


def random_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 groups: np.ndarray | None = None) -> np.ndarray:
    """Assign each item to 0/1/2 (train/val/test) in the given fractions of items.

    With `groups` (patient ids) whole groups move together: groups are visited in a seeded random
    order and each goes to the split furthest below its target item count."""
    rng = np.random.default_rng(seed)
    keys = np.asarray(groups) if groups is not None else np.arange(n)
    unique, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    targets = np.asarray(fractions, dtype=np.float64) * n
    filled = np.zeros(3)
    group_split = np.empty(len(unique), dtype=np.int64)
    for g in rng.permutation(len(unique)):
        k = int(np.argmax(targets - filled))
        group_split[g] = k
        filled[k] += sizes[g]
    return group_split[inverse]


def overlapping_groups(assignment: np.ndarray, groups: np.ndarray) -> int:
    """How many groups (patients) appear in more than one split."""
    pairs = np.unique(np.stack([np.asarray(groups).astype(str), assignment.astype(str)], axis=1), axis=0)
    _, counts = np.unique(pairs[:, 0], return_counts=True)
    return int((counts > 1).sum())


SPLIT_POLICIES = ("auto", "given", "random")


def assign_splits(label: str, store: ImageStore, targets: np.ndarray, groups: np.ndarray | None,
                  given: np.ndarray | None, policy: str, seed: int, notes: list[str]) -> dict[str, Split]:
    """Turn one pool of images into train/val/test.

    `given` is the data set's own split (0/1/2 per item) or None. Policy "auto" keeps it when it is
    patient-disjoint and otherwise re-splits patient-disjoint 70/10/20; "given" refuses a leaky split;
    "random" always re-splits (patient-aware when `groups` is known)."""
    if policy not in SPLIT_POLICIES:
        raise GxrError(f"{label}: split={policy!r}; choose one of {', '.join(SPLIT_POLICIES)}")
    assignment = given
    if given is not None and groups is not None and policy != "random":
        leaks = overlapping_groups(given, groups)
        if leaks and policy == "given":
            raise GxrError(f"{label}: its own split puts {leaks} patients in more than one subset; "
                           "use split=auto or split=random for a patient-disjoint split")
        if leaks:
            notes.append(f"its own split puts {leaks} patients in more than one subset: "
                         f"re-split patient-disjoint 70/10/20 (seed {seed})")
            assignment = None
    if assignment is None or policy == "random":
        assignment = random_split(len(store), seed, groups=groups)
        if given is None:
            kind = "patient-disjoint " if groups is not None else ""
            notes.append(f"no predefined split: {kind}random 70/10/20 (seed {seed})")
    splits = {}
    for code, name in enumerate(SPLITS):
        idx = np.flatnonzero(assignment == code)
        splits[name] = Split(store.subset(idx), targets[idx], None if groups is None else groups[idx])
    return splits


def split_pixels(split: Split, channels: int, size: int, limit: int | None = None) -> np.ndarray:
    n = len(split) if limit is None else min(limit, len(split))
    return np.stack([to_model_pixels(split.images.open(i), channels, size) for i in range(n)])
