"""`folder:DIR` (class sub-folders, optionally under train/ val/ test/) and `csv:FILE` (path + labels)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from gxr.data.base import DataSource, FileStore, assign_splits, fingerprint
from gxr.data.spec import DataSpec
from gxr.errors import GxrError

FOLDER_OPTIONS = ("split", "seed")
CSV_OPTIONS = ("split", "seed", "path", "labels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_SPLIT_DIRS = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


def _class_dirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def open_folder(spec: DataSpec) -> DataSource:
    root = spec.path
    if not root.is_dir():
        raise GxrError(f"{root}: image folder not found")
    split_dirs = {d: _SPLIT_DIRS[d.name.lower()] for d in _class_dirs(root) if d.name.lower() in _SPLIT_DIRS}
    roots = split_dirs or {root: -1}
    classes = sorted({c.name for r in roots for c in _class_dirs(r)})
    if len(classes) < 2:
        raise GxrError(f"{root}: expected at least 2 class sub-folders, found {len(classes)}")
    paths, targets, given = [], [], []
    for split_root, code in roots.items():
        for c in _class_dirs(split_root):
            files = _images_in(c)
            paths += files
            targets += [classes.index(c.name)] * len(files)
            given += [code] * len(files)
    if not paths:
        raise GxrError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return _classification_source(spec, paths, np.array(targets), classes,
                                  np.array(given) if split_dirs else None, None)


def _classification_source(spec: DataSpec, paths: list[Path], targets: np.ndarray, classes: list[str],
                            given: np.ndarray | None, groups: np.ndarray | None) -> DataSource:
    if len(classes) == 2:
        task, labels, target = "binary", [classes[1]], targets[:, None].astype(np.float32)
    else:
        task, labels, target = "multiclass", classes, targets.astype(np.float32)
    notes: list[str] = []
    seed = int(spec.option("seed", "0"))
    splits = assign_splits(str(spec.path), FileStore(paths), target, groups, given,
                           spec.option("split", "auto"), seed, notes)
    return DataSource(spec.text, task, labels, splits, classes if task == "binary" else [], notes, fingerprint(splits))


def open_csv(spec: DataSpec) -> DataSource:
    """Columns: `path` (relative to the CSV), then either `label` (class names) or 0/1 columns (multi-label);
    optional `split` (train/val/test) and `patient` columns."""
    path = spec.path
    if not path.is_file():
        raise GxrError(f"{path}: CSV file not found")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GxrError(f"{path}: cannot read CSV ({exc})") from None
    path_col = spec.option("path", "path")
    if not rows or path_col not in rows[0]:
        raise GxrError(f"{path}: needs a {path_col!r} column and at least one row")
    columns = list(rows[0])
    paths = [(path.parent / r[path_col]).resolve() for r in rows]
    given = None
    if "split" in columns:
        try:
            given = np.array([_SPLIT_DIRS[r["split"].strip().lower()] for r in rows])
        except KeyError as exc:
            raise GxrError(f"{path}: split column has {exc.args[0]!r}; use train, val or test") from None
    groups = np.array([r["patient"] for r in rows]) if "patient" in columns else None
    if "label" in columns:
        classes = sorted({r["label"] for r in rows})
        targets = np.array([classes.index(r["label"]) for r in rows])
        return _classification_source(spec, paths, targets, classes, given, groups)
    label_cols = spec.option("labels")
    names = label_cols.split(",") if label_cols else [c for c in columns if c not in (path_col, "split", "patient")]
    if not names:
        raise GxrError(f"{path}: no label columns (need 'label' or one 0/1 column per label)")
    try:
        target = np.array([[float(r[c]) for c in names] for r in rows], dtype=np.float32)
    except (KeyError, ValueError) as exc:
        raise GxrError(f"{path}: label columns must hold 0/1 values ({exc})") from None
    notes: list[str] = []
    seed = int(spec.option("seed", "0"))
    splits = assign_splits(str(path), FileStore(paths), target, groups, given,
                           spec.option("split", "auto"), seed, notes)
    return DataSource(spec.text, "multilabel", names, splits, [], notes, fingerprint(splits))
