"""`folder:DIR` (class sub-folders, optionally under train/ val/ test/) and `csv:FILE` (path + labels)."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from gxr.core.errors import GxrError
from gxr.data.base import DataSource, FileStore, ZipStore, assign_splits, fingerprint
from gxr.data.spec import DataSpec

FOLDER_OPTIONS = ("split", "seed")
CSV_OPTIONS = ("split", "seed", "path", "labels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_SPLIT_DIRS = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


def _images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(d).parts))


def open_folder(spec: DataSpec) -> DataSource:
    """Class sub-folders, optionally under train/ val/ test/ (the ImageNet layout); DIR or a .zip of it."""
    root = spec.path
    if root.is_file() and root.suffix.lower() == ".zip":
        relpaths, store = _zip_images(root)
    elif root.is_dir():
        files = _images_in(root)
        relpaths, store = [p.relative_to(root).as_posix() for p in files], FileStore(files)
    else:
        raise GxrError(f"{root}: image folder (or .zip) not found")
    parts = [path.split("/") for path in relpaths]
    has_split_dirs = bool(parts) and all(len(p) >= 3 and p[0].lower() in _SPLIT_DIRS for p in parts)
    class_of = [p[1] if has_split_dirs else p[0] for p in parts]
    if any(len(p) < (3 if has_split_dirs else 2) for p in parts):
        raise GxrError(f"{root}: images must sit in class sub-folders (CLASS/img.png or SPLIT/CLASS/img.png)")
    classes = sorted(set(class_of))
    if len(classes) < 2:
        raise GxrError(f"{root}: expected at least 2 class sub-folders, found {len(classes)}")
    targets = np.array([classes.index(c) for c in class_of])
    given, notes = None, []
    if has_split_dirs:
        given = np.array([_SPLIT_DIRS[p[0].lower()] for p in parts])
        if not (given == 2).any():   # ImageNet layout: val/ is the evaluation set
            given = _hold_out_validation(given, int(spec.option("seed", "0")))
            notes.append("no test/ folder: val/ is the test split and 10% of train/ is held out for validation")
    return _classification_source(spec, store, targets, classes, given, None, notes)


def _zip_images(archive: Path) -> tuple[list[str], ZipStore]:
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(IMAGE_SUFFIXES) and not n.endswith("/"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise GxrError(f"{archive}: not a readable zip ({exc})") from None
    if not names:
        raise GxrError(f"{archive}: no images ({', '.join(IMAGE_SUFFIXES)}) inside")
    return names, ZipStore(archive, names)


def _hold_out_validation(given: np.ndarray, seed: int, fraction: float = 0.1) -> np.ndarray:
    """train (0) / val (1) -> train / val carved from train / test (the former val)."""
    out = np.where(given == 1, 2, given)
    train = np.flatnonzero(out == 0)
    held = np.random.default_rng(seed).permutation(train)[:int(round(fraction * len(train)))]
    out[held] = 1
    return out


def _classification_source(spec: DataSpec, store, targets: np.ndarray, classes: list[str],
                            given: np.ndarray | None, groups: np.ndarray | None,
                            notes: list[str] | None = None) -> DataSource:
    if len(classes) == 2:
        task, labels, target = "binary", [classes[1]], targets[:, None].astype(np.float32)
    else:
        task, labels, target = "multiclass", classes, targets.astype(np.float32)
    notes = list(notes or [])
    seed = int(spec.option("seed", "0"))
    splits = assign_splits(str(spec.path), store, target, groups, given, spec.option("split", "auto"), seed, notes)
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
        return _classification_source(spec, FileStore(paths), targets, classes, given, groups)
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
