"""`folder:DIR` or `folder:FILE.zip`: class sub-folders (CLASS/img.png), optionally under split folders
(SPLIT/CLASS/img.png, SPLIT one of train, val|valid|validation, test: the ImageNet layout).

The class of an image is its folder's name. Every class folder must hold images: an empty one would
silently drop a class (and can turn a 3-class task binary), so it is an error naming the folder. Patient
ids come from NIH-style file names (PPPPPPPP_FFF.png) when every image has one; the split folders are the
given split, completed by the split policy (e.g. val held out of train when there is no val/ folder).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from gxr.core.errors import GxrError
from gxr.data.nih import nih_patients
from gxr.data.source import DataSource, build_source, classification_targets
from gxr.data.spec import DataSpec
from gxr.data.splits import split_code
from gxr.data.stores import FileStore, ImageStore, ZipStore

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def open_folder(spec: DataSpec) -> DataSource:
    """Class sub-folders, optionally under train/ val/ test/; DIR or a .zip of it."""
    root = spec.path
    if root.is_file() and root.suffix.lower() == ".zip":
        relpaths, dirs, store = _list_zip(root)
    elif root.is_dir():
        relpaths, dirs, store = _list_dir(root)
    else:
        raise GxrError(f"{root}: image folder (or .zip) not found")
    parts = [path.split("/") for path in relpaths]
    has_split_dirs = all(len(p) >= 3 and split_code(p[0]) is not None for p in parts)
    depth = 2 if has_split_dirs else 1   # how deep the class folders sit
    if any(len(p) <= depth for p in parts):
        raise GxrError(f"{root}: images must sit in class sub-folders (CLASS/img.png or SPLIT/CLASS/img.png)")
    _check_class_folders(root, dirs, parts, depth)
    class_of = [p[depth - 1] for p in parts]
    classes = sorted(set(class_of))
    if len(classes) < 2:
        raise GxrError(f"{root}: expected at least 2 class sub-folders, found {len(classes)}")
    index = {name: i for i, name in enumerate(classes)}
    task, labels, classes, targets = classification_targets(np.array([index[c] for c in class_of]), classes)
    given = np.array([split_code(p[0]) for p in parts]) if has_split_dirs else None
    return build_source(spec, store, targets, task, labels, classes, groups=nih_patients(relpaths), given=given)


def _visible(relpath: str) -> bool:
    """False for hidden files and folders (.DS_Store, .ipynb_checkpoints) and macOS zip debris (__MACOSX)."""
    return not any(part.startswith(".") or part == "__MACOSX" for part in relpath.split("/"))


def _list_dir(root: Path) -> tuple[list[str], set[str], ImageStore]:
    """(image paths relative to root, folder paths relative to root, a store of the images), sorted."""
    files, dirs = [], set()
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if not _visible(rel):
            continue
        if path.is_dir():
            dirs.add(rel)
        elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            files.append(path)
    files.sort()
    if not files:
        raise GxrError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return [p.relative_to(root).as_posix() for p in files], dirs, FileStore(files)


def _list_zip(archive: Path) -> tuple[list[str], set[str], ImageStore]:
    """(image member names, folder names, a store of the images) of a zip, sorted."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [name for name in zf.namelist() if _visible(name.rstrip("/"))]
    except (zipfile.BadZipFile, OSError) as exc:
        raise GxrError(f"{archive}: not a readable zip ({exc})") from exc
    names = sorted(n for n in members if n.lower().endswith(IMAGE_SUFFIXES) and not n.endswith("/"))
    if not names:
        raise GxrError(f"{archive}: no images ({', '.join(IMAGE_SUFFIXES)}) inside")
    dirs = set()
    for member in members:   # folders: explicit "a/b/" entries and every parent of a member
        parts = member.rstrip("/").split("/")
        stop = len(parts) if member.endswith("/") else len(parts) - 1
        dirs.update("/".join(parts[:k]) for k in range(1, stop + 1))
    return names, dirs, ZipStore(archive, names)


def _check_class_folders(root: Path, dirs: set[str], parts: list[list[str]], depth: int) -> None:
    """Every folder at the class level must hold at least one image."""
    class_dirs = {d for d in dirs
                  if d.count("/") == depth - 1 and (depth == 1 or split_code(d.split("/")[0]) is not None)}
    empty = sorted(class_dirs - {"/".join(p[:depth]) for p in parts})
    if empty:
        where = f"{root}:{empty[0]}/" if root.is_file() else str(root / empty[0])
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise GxrError(f"{where}: class folder has no images ({', '.join(IMAGE_SUFFIXES)}){more}; "
                       "add its images or remove it")
