"""`csv:FILE`: one row per image.

Columns: `path` (relative to the CSV; option `path=COLUMN` names another column), then either `label` (a class
name per row) or one 0/1 column per label (multi-label; option `labels=a,b` picks the columns); optional
`split` (train, val|valid|validation, test) and `patient` columns. Every row is checked before anything is
used: a missing or extra field, an empty path or label, a label value other than 0/1 and an unknown split
name are each a one-line error naming the CSV and the line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from gxr.core.errors import GxrError
from gxr.data.source import DataSource, build_source, classification_targets
from gxr.data.spec import DataSpec
from gxr.data.splits import split_code
from gxr.data.stores import FileStore

Row = tuple[int, dict[str, str]]   # (line number in the file, the row's fields by column)


def open_csv(spec: DataSpec) -> DataSource:
    """Class labels (`label` column) or multi-label 0/1 columns, with an optional given split and patient ids."""
    path = spec.path
    columns, rows = _read_rows(path)
    path_col = spec.option("path", "path")
    if path_col not in columns:
        raise GxrError(f"{path}: needs a {path_col!r} column (has: {', '.join(columns)})")
    store = FileStore([(path.parent / _required(path, line, row, path_col)).resolve() for line, row in rows])
    given = np.array([_split_of(path, line, row["split"]) for line, row in rows]) if "split" in columns else None
    groups = np.array([row["patient"].strip() for _, row in rows]) if "patient" in columns else None
    if "label" in columns:
        names = [_required(path, line, row, "label") for line, row in rows]
        classes = sorted(set(names))
        if len(classes) < 2:
            raise GxrError(f"{path}: the label column holds {len(classes)} class ({classes[0]!r}); need at least 2")
        index = {name: i for i, name in enumerate(classes)}
        task, labels, classes, targets = classification_targets(np.array([index[n] for n in names]), classes)
        return build_source(spec, store, targets, task, labels, classes, groups=groups, given=given)
    label_cols = _label_columns(spec, path, columns, path_col)
    targets = np.array([[_zero_or_one(path, line, row, c) for c in label_cols] for line, row in rows], np.float32)
    return build_source(spec, store, targets, "multilabel", label_cols, groups=groups, given=given)


def _read_rows(path: Path) -> tuple[list[str], list[Row]]:
    """The header and every row with its line number; a row whose field count differs from the header's fails."""
    if not path.is_file():
        raise GxrError(f"{path}: CSV file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = [(reader.line_num, row) for row in reader]
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GxrError(f"{path}: cannot read CSV ({exc})") from exc
    if not rows:
        raise GxrError(f"{path}: needs a header and at least one row")
    for line, row in rows:
        fields = sum(value is not None for key, value in row.items() if key is not None) + len(row.get(None, []))
        if fields != len(columns):
            raise GxrError(f"{path}: line {line} has {fields} fields, the header has {len(columns)}")
    return columns, rows


def _required(path: Path, line: int, row: dict[str, str], column: str) -> str:
    value = row[column].strip()
    if not value:
        raise GxrError(f"{path}: line {line}: empty {column}")
    return value


def _split_of(path: Path, line: int, value: str) -> int:
    code = split_code(value)
    if code is None:
        raise GxrError(f"{path}: line {line}: split is {value!r}; use train, val or test")
    return code


def _label_columns(spec: DataSpec, path: Path, columns: list[str], path_col: str) -> list[str]:
    """The 0/1 label columns: the `labels` option's, else every column but path, split and patient."""
    chosen = spec.option("labels")
    names = [c.strip() for c in chosen.split(",")] if chosen else \
        [c for c in columns if c not in (path_col, "split", "patient")]
    missing = [c for c in names if c not in columns]
    if missing:
        raise GxrError(f"{path}: no column {missing[0]!r} (has: {', '.join(columns)})")
    if not names:
        raise GxrError(f"{path}: no label columns (need 'label' or one 0/1 column per label)")
    return names


def _zero_or_one(path: Path, line: int, row: dict[str, str], column: str) -> float:
    text = row[column].strip()
    try:
        value = float(text)
    except ValueError as exc:
        raise GxrError(f"{path}: line {line}: column {column!r} is {text!r}; label columns must hold 0 or 1") \
            from exc
    if value not in (0.0, 1.0):
        raise GxrError(f"{path}: line {line}: column {column!r} is {text!r}; label columns must hold 0 or 1")
    return value
