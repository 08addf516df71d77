"""Which files to predict: explicit files, folders (recursive) and list files, in a stable order.

Explicit files are always tried (a bad one becomes a per-image error); inside folders only image files are
taken: known image suffixes, or DICOM files without a suffix (recognised by the `DICM` preamble)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gxr.core.errors import GxrError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".dcm", ".dicom"})


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_dicom_without_suffix(path: Path) -> bool:
    """A suffix-less file with the DICOM preamble: 128 bytes, then b"DICM"."""
    if path.suffix:
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or is_dicom_without_suffix(path)


def images_in_folder(folder: Path) -> tuple[list[Path], int]:
    """Image files under `folder` at any depth (hidden files and folders skipped), sorted; and how many other
    files were passed over."""
    found, others = [], 0
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        if is_image_file(path):
            found.append(path)
        else:
            others += 1
    return found, others


def read_list_file(list_file: Path) -> list[Path]:
    """One path per line; blank lines and lines starting with # are ignored; relative paths are relative to
    the list file's folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise GxrError(f"{list_file}: list file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GxrError(f"{list_file}: cannot read list file ({exc})") from exc
    paths = [Path(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [p if p.is_absolute() else list_file.parent / p for p in paths]


def collect_inputs(paths: Sequence[Path], list_file: Path | None = None) -> Inputs:
    """Files to predict from `paths` (files or folders) and an optional list file, duplicates removed."""
    out = Inputs()
    given: list[Path] = list(paths) + (read_list_file(list_file) if list_file is not None else [])
    for path in given:
        if path.is_dir():
            found, others = images_in_folder(path)
            out.files += found
            if not found:
                out.notes.append(f"{path}: no image files in this folder")
            if others:
                out.notes.append(f"{path}: passed over {others} file{'s' if others > 1 else ''} that "
                                 f"{'are not images' if others > 1 else 'is not an image'}")
        else:
            out.files.append(path)   # missing or unreadable: reported per image by the decoder
    out.files = list(_unique(out.files))
    if not out.files:
        raise GxrError(f"{_describe(given, list_file)}: no images to predict")
    return out


def _unique(paths: Iterable[Path]) -> Iterable[Path]:
    seen: set[Path] = set()
    for p in paths:
        if p not in seen:
            seen.add(p)
            yield p


def _describe(given: Sequence[Path], list_file: Path | None) -> str:
    if list_file is not None and not given:
        return str(list_file)
    return str(given[0]) if len(given) == 1 else f"{len(given)} paths"
