"""`medmnist:FILE.npz` / `npz:FILE.npz`: {train,val|valid|validation,test}_images + _labels arrays (an ArrayStore)."""

from __future__ import annotations

import zipfile

import numpy as np

from gxr.core.errors import GxrError
from gxr.data.nih import nih_patients
from gxr.data.source import DataSource, build_source
from gxr.data.spec import DataSpec
from gxr.data.splits import SPLIT_CODES, SPLITS
from gxr.data.stores import ArrayStore

# MedMNIST files carry no label names; these are the official ones for the 2D chest sets.
MEDMNIST_LABELS = {
    "pneumoniamnist": ["normal", "pneumonia"],
    "chestmnist": ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
                   "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
                   "pleural", "hernia"],
}
# Array key prefixes per split: every spelling of the split-name map (train, val|valid|validation, test).
_SPLIT_KEYS = {split: tuple(name for name, code in SPLIT_CODES.items() if code == index)
               for index, split in enumerate(SPLITS)}


def open_npz(spec: DataSpec) -> DataSource:
    """One pool of the three splits' arrays; the file's splits are the given split."""
    path = spec.path
    if not path.is_file():
        raise GxrError(f"{path}: npz file not found")
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise GxrError(f"{path}: not a readable .npz file ({exc})") from exc
    with archive:
        prefixes = {name: _find_prefix(path, keys, name) for name in _SPLIT_KEYS}
        images, targets, names = [], [], []
        for name, prefix in prefixes.items():
            imgs, labels = archive[f"{prefix}_images"], archive[f"{prefix}_labels"]
            _check_images(path, prefix, imgs, labels)
            images.append(imgs)
            targets.append(labels.reshape(len(labels), -1) if labels.ndim > 1 else labels[:, None])
            key = f"{prefix}_names"
            names.append(archive[key].astype(str) if key in keys else
                         np.array([f"{path.name}:{prefix}[{i}]" for i in range(len(imgs))]))
        label_names = [str(x) for x in archive["label_names"]] if "label_names" in keys else None
    all_images = np.concatenate(images)
    raw = np.concatenate(targets)
    all_names = np.concatenate(names)
    task, labels, classes, target = _interpret_labels(path, raw, label_names, spec)
    given = np.concatenate([np.full(len(x), code) for code, x in enumerate(images)])
    store = ArrayStore(all_images, list(all_names), path.name)
    return build_source(spec, store, target, task, labels, classes, groups=nih_patients(all_names), given=given,
                        extra=[all_images])


def _find_prefix(path, keys: set[str], split: str) -> str:
    for prefix in _SPLIT_KEYS[split]:
        if f"{prefix}_images" in keys and f"{prefix}_labels" in keys:
            return prefix
    wanted = " or ".join(f"{p}_images/{p}_labels" for p in _SPLIT_KEYS[split])
    raise GxrError(f"{path}: missing keys {wanted} (has: {', '.join(sorted(keys)) or 'none'})")


def _check_images(path, prefix: str, imgs: np.ndarray, labels: np.ndarray) -> None:
    if imgs.dtype != np.uint8 or imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[3] != 3):
        raise GxrError(f"{path}: {prefix}_images must be uint8 N x H x W or N x H x W x 3, "
                       f"got {imgs.dtype} {imgs.shape}")
    if len(labels) != len(imgs):
        raise GxrError(f"{path}: {prefix}_labels has {len(labels)} rows for {len(imgs)} images")


def _interpret_labels(path, raw: np.ndarray, names: list[str] | None, spec: DataSpec):
    """(task, output labels, classes, targets) from the label array's shape and values."""
    override = spec.option("labels")
    if override:
        names = [n.strip() for n in override.split(",")]
    if raw.shape[1] > 1:
        task = spec.option("task", "multilabel")
        names = names or MEDMNIST_LABELS.get(path.stem) or [f"label_{i}" for i in range(raw.shape[1])]
        if len(names) != raw.shape[1]:
            raise GxrError(f"{path}: {len(names)} label names for {raw.shape[1]} label columns")
        return task, names, [], raw.astype(np.float32)
    values = raw[:, 0].astype(np.int64)
    n_classes = int(values.max()) + 1
    names = names or MEDMNIST_LABELS.get(path.stem) or [f"class_{i}" for i in range(n_classes)]
    if len(names) < n_classes:
        raise GxrError(f"{path}: labels go up to {n_classes - 1} but only {len(names)} names are given")
    task = spec.option("task") or ("binary" if len(names) == 2 else "multiclass")
    if task == "binary":
        return task, [names[1]], names[:2], values[:, None].astype(np.float32)
    return "multiclass", names, [], values.astype(np.float32)
