"""`nih:DIR`: NIH ChestX-ray14 — a Data_Entry_2017*.csv[.gz] plus images (loose PNGs or .tar, any depth).

The given split is the official train_val_list.txt / test_list.txt when present, else the split folders on
the images' paths. `nih_patients` reads patient ids from NIH file names for the npz and folder openers too.
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gxr.core.errors import GxrError
from gxr.data.source import DataSource, build_source, spec_seed
from gxr.data.spec import DataSpec
from gxr.data.splits import random_split, split_code
from gxr.data.stores import ConcatStore, FileStore, ImageStore, TarStore, index_tar

# The 14 findings in the order of Wang et al. 2017 and the paper's Table 2.
NIH_LABELS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
              "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
              "Hernia"]
NIH_NAME = re.compile(r"^(\d{8})_\d{3}\.png$")   # PPPPPPPP_FFF.png: patient P, follow-up F


@dataclass
class NihTable:
    names: np.ndarray      # image file names
    labels: np.ndarray     # float32 N x 14, multi-hot; "No Finding" = all zeros
    patients: np.ndarray   # patient ids (str)


def read_table(path: Path) -> NihTable:
    """Parse Data_Entry_2017*.csv[.gz]."""
    try:
        raw = gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="")
        with raw as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise GxrError(f"{path}: cannot read NIH table ({exc})") from exc
    needed = ("Image Index", "Finding Labels", "Patient ID")
    if not rows or any(col not in rows[0] for col in needed):
        raise GxrError(f"{path}: not an NIH Data_Entry table (needs columns {', '.join(needed)})")
    index = {name: i for i, name in enumerate(NIH_LABELS)}
    labels = np.zeros((len(rows), len(NIH_LABELS)), dtype=np.float32)
    for r, row in enumerate(rows):
        for finding in row["Finding Labels"].split("|"):
            if finding in index:
                labels[r, index[finding]] = 1.0
            elif finding != "No Finding":
                raise GxrError(f"{path}: row {r + 2} has unknown finding {finding!r}")
    names = np.array([row["Image Index"] for row in rows])
    patients = np.array([row["Patient ID"].strip().zfill(8) for row in rows])
    return NihTable(names, labels, patients)


def patient_split(table: NihTable, seed: int = 0) -> np.ndarray:
    """0/1/2 (train/val/test) per row, patient-disjoint 70/10/20 of patients."""
    return random_split(len(table.names), seed, groups=table.patients)


def official_split(table: NihTable, train_val: set[str], test: set[str], seed: int) -> np.ndarray:
    """The official lists: test_list.txt is test; train_val_list.txt is split 7:1 by patient."""
    assignment = np.full(len(table.names), -1)
    in_test = np.isin(table.names, list(test))
    in_train_val = np.isin(table.names, list(train_val))
    assignment[in_test] = 2
    sub = random_split(int(in_train_val.sum()), seed, (7 / 8, 1 / 8, 0.0), table.patients[in_train_val])
    assignment[in_train_val] = sub
    return assignment


def open_nih(spec: DataSpec) -> DataSource:
    """The table's images that are present, split by the official lists, split folders or patients."""
    root = spec.path
    if not root.is_dir():
        raise GxrError(f"{root}: NIH data folder not found")
    table_path = _find_one(root, ("Data_Entry_2017*.csv", "Data_Entry_2017*.csv.gz"))
    if table_path is None:
        raise GxrError(f"{root}: no Data_Entry_2017*.csv[.gz] table found (searched all sub-folders)")
    table = read_table(table_path)
    notes: list[str] = []
    locations = _index_images(root)
    present = np.array([name in locations for name in table.names])
    if not present.any():
        raise GxrError(f"{root}: none of the {len(table.names)} images of {table_path.name} were found "
                       "(loose .png files or inside a .tar, any depth)")
    if not present.all():
        notes.append(f"{int(present.sum())} of {len(table.names)} table images found; using those")
    table = NihTable(table.names[present], table.labels[present], table.patients[present])
    store = ConcatStore([locations[name][:2] for name in table.names])
    given = _given_split(root, table, locations, spec_seed(spec), notes)
    return build_source(spec, store, table.labels, "multilabel", NIH_LABELS, groups=table.patients, given=given,
                        notes=notes)


def _find_one(root: Path, patterns: tuple[str, ...]) -> Path | None:
    found = sorted(p for pattern in patterns for p in root.rglob(pattern) if p.is_file())
    return found[0] if found else None


def _index_images(root: Path) -> dict[str, tuple[ImageStore, int, str]]:
    """file name -> (store, index, path inside root) for loose PNGs and PNGs inside .tar archives."""
    locations: dict[str, tuple[ImageStore, int, str]] = {}
    loose = sorted(p for p in root.rglob("*.png") if p.is_file())
    files = FileStore(loose)
    for i, p in enumerate(loose):
        locations.setdefault(p.name, (files, i, str(p.relative_to(root))))
    for archive in sorted(root.rglob("*.tar")):
        members = index_tar(archive, (".png",))
        tar = TarStore(members)
        for i, m in enumerate(members):
            locations.setdefault(Path(m.name).name, (tar, i, m.name))
    return locations


def _given_split(root: Path, table: NihTable, locations, seed: int, notes: list[str]) -> np.ndarray | None:
    """The data's own split: official lists when present, else train/val/test folder names."""
    train_val, test = _find_one(root, ("train_val_list.txt",)), _find_one(root, ("test_list.txt",))
    if train_val and test:
        notes.append("using the official train_val_list.txt / test_list.txt")
        return official_split(table, set(train_val.read_text().split()), set(test.read_text().split()), seed)
    codes = [_folder_code(locations[name][2]) for name in table.names]
    if all(code is not None for code in codes):
        return np.array(codes)
    return None


def _folder_code(relpath: str) -> int | None:
    """The split named by the first split folder on an image's path (train/, valid/, ...), else None."""
    codes = (split_code(part) for part in Path(relpath).parts[:-1])
    return next((code for code in codes if code is not None), None)


def nih_patients(names) -> np.ndarray | None:
    """Patient ids when every name (a path or file name) is an NIH file name (PPPPPPPP_FFF.png), else None."""
    matches = [NIH_NAME.match(str(name).replace("\\", "/").rsplit("/", 1)[-1]) for name in names]
    if not matches or not all(matches):
        return None
    return np.array([m.group(1) for m in matches])
