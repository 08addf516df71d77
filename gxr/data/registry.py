"""The registry of data kinds: `KIND` -> (opener, allowed options), written once; `open_source` uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gxr.data.csvfile import open_csv
from gxr.data.folder import open_folder
from gxr.data.nih import open_nih
from gxr.data.npz import open_npz
from gxr.data.source import SPLIT_OPTIONS, DataSource
from gxr.data.spec import DataSpec, parse_spec


@dataclass(frozen=True)
class DataKind:
    opener: Callable[[DataSpec], DataSource]
    options: tuple[str, ...]


_NPZ = DataKind(open_npz, ("task", "labels", *SPLIT_OPTIONS))
KINDS: dict[str, DataKind] = {
    "medmnist": _NPZ,
    "npz": _NPZ,
    "nih": DataKind(open_nih, SPLIT_OPTIONS),
    "folder": DataKind(open_folder, SPLIT_OPTIONS),
    "csv": DataKind(open_csv, ("path", "labels", *SPLIT_OPTIONS)),
}


def open_source(text: str) -> DataSource:
    """Parse a spec and open its source; errors name the file and the problem."""
    spec = parse_spec(text, {kind: entry.options for kind, entry in KINDS.items()})
    return KINDS[spec.kind].opener(spec)
