"""Data sources: `medmnist:`/`npz:`, `nih:`, `folder:`, `csv:` specs -> DataSource with train/val/test."""

from __future__ import annotations

import os
from pathlib import Path

from gxr.data.base import DataSource, Split, split_pixels
from gxr.data.spec import DataSpec, parse_spec

__all__ = ["DataSource", "Split", "split_pixels", "DataSpec", "open_source", "data_root"]


def open_source(text: str) -> DataSource:
    """Parse a spec and open its source; errors name the file and the problem."""
    from gxr.data import folder, nih, npz

    kind = text.partition(":")[0]
    openers = {"medmnist": (npz.open_npz, npz.OPTIONS), "npz": (npz.open_npz, npz.OPTIONS),
               "nih": (nih.open_nih, nih.OPTIONS), "folder": (folder.open_folder, folder.FOLDER_OPTIONS),
               "csv": (folder.open_csv, folder.CSV_OPTIONS)}
    opener, allowed = openers.get(kind, (None, ()))
    spec = parse_spec(text, allowed)
    return opener(spec)


def data_root() -> Path | None:
    """$GXR_DATA, else ../shared/data beside the checkout (or the working directory), if present."""
    env = os.environ.get("GXR_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None
