"""Data sources: `medmnist:`/`npz:`, `nih:`, `folder:`, `csv:` specs -> a DataSource with train/val/test.

Layout of the package (numpy + PIL only, no torch):
- `spec.py`      the `KIND:PATH?options` syntax (DataSpec, parse_spec);
- `registry.py`  the data kinds, each with its opener and allowed options, and `open_source`;
- `npz.py`, `nih.py`, `folder.py`, `csvfile.py`  the openers: read files into one pool of images;
- `stores.py`    where images live (arrays, files, tar and zip members) behind one ImageStore interface;
- `splits.py`    the split policy (split names, patient-disjoint random splits, completing a given split);
- `source.py`    Split, DataSource, fingerprint, split_pixels and `build_source`, the builder every opener ends in.
Other packages import from `gxr.data` only.
"""

from __future__ import annotations

import os
from pathlib import Path

from gxr.data.registry import KINDS, open_source
from gxr.data.source import DataSource, Split, split_pixels
from gxr.data.spec import DataSpec

__all__ = ["DataSource", "Split", "split_pixels", "DataSpec", "open_source", "data_root", "KINDS"]


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
