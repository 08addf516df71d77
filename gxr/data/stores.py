"""Image stores: random access to the decoded images of one split, wherever they live.

`ArrayStore` (uint8 arrays in memory), `FileStore` (files on disk), `TarStore` (members of an uncompressed
.tar, read with pread), `ZipStore` (members of a .zip), and the views `SubsetStore` (some items of a store)
and `ConcatStore` (several stores as one). Every store names its items so errors name the file.
The split policy lives in `gxr.data.splits`; `gxr.data.source` turns a store and its targets into a DataSource.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.preprocess import open_image


class ImageStore:
    """Random access to decoded images of one split."""

    def __len__(self) -> int:
        raise NotImplementedError

    def open(self, index: int) -> Image.Image:
        raise NotImplementedError

    def name(self, index: int) -> str:
        raise NotImplementedError

    def encoded(self, index: int) -> bytes | None:
        """The image file's bytes when the store holds encoded files, else None."""
        return None

    def subset(self, indices: np.ndarray) -> ImageStore:
        return SubsetStore(self, indices)


class ArrayStore(ImageStore):
    """uint8 images in memory: N x H x W (gray) or N x H x W x 3 (RGB)."""

    def __init__(self, images: np.ndarray, names: Sequence[str] | None = None, origin: str = "array"):
        self.images, self.origin = images, origin
        self.names = list(names) if names is not None else [f"{origin}[{i}]" for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def open(self, index: int) -> Image.Image:
        return open_image(self.images[index], self.names[index])

    def name(self, index: int) -> str:
        return self.names[index]


class FileStore(ImageStore):
    """Encoded image files on disk."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def open(self, index: int) -> Image.Image:
        return open_image(self.paths[index])

    def name(self, index: int) -> str:
        return str(self.paths[index])

    def encoded(self, index: int) -> bytes:
        try:
            return self.paths[index].read_bytes()
        except OSError as exc:
            raise GxrError(f"{self.paths[index]}: cannot read image ({exc.strerror})") from exc


@dataclass(frozen=True)
class TarMember:
    archive: Path
    name: str
    offset: int
    size: int


class TarStore(ImageStore):
    """Images inside an uncompressed .tar, read with pread so forked data-loader workers stay safe."""

    def __init__(self, members: Sequence[TarMember]):
        self.members = list(members)

    def __len__(self) -> int:
        return len(self.members)

    def name(self, index: int) -> str:
        m = self.members[index]
        return f"{m.archive}:{m.name}"

    def encoded(self, index: int) -> bytes:
        m = self.members[index]
        fd = os.open(m.archive, os.O_RDONLY)
        try:
            data = os.pread(fd, m.size, m.offset)
        finally:
            os.close(fd)
        if len(data) != m.size:
            raise GxrError(f"{self.name(index)}: truncated archive member")
        return data

    def open(self, index: int) -> Image.Image:
        return open_image(self.encoded(index), self.name(index))


def index_tar(archive: Path, suffixes: tuple[str, ...]) -> list[TarMember]:
    """List the image members of an uncompressed tar with their byte offsets."""
    try:
        with tarfile.open(archive, "r:") as tar:
            return [TarMember(archive, m.name, m.offset_data, m.size) for m in tar.getmembers()
                    if m.isfile() and m.name.lower().endswith(suffixes)]
    except (tarfile.TarError, OSError) as exc:
        raise GxrError(f"{archive}: cannot read tar archive ({exc}); compressed archives must be unpacked") from exc


class ZipStore(ImageStore):
    """Images inside a .zip; each process opens its own handle (safe with forked data-loader workers)."""

    def __init__(self, archive: Path, names: Sequence[str]):
        self.archive, self.names = Path(archive), list(names)
        self._handle: tuple[int, zipfile.ZipFile] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return f"{self.archive}:{self.names[index]}"

    def _zip(self) -> zipfile.ZipFile:
        if self._handle is None or self._handle[0] != os.getpid():
            self._handle = (os.getpid(), zipfile.ZipFile(self.archive))
        return self._handle[1]

    def encoded(self, index: int) -> bytes:
        try:
            return self._zip().read(self.names[index])
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise GxrError(f"{self.name(index)}: cannot read from zip ({exc})") from exc

    def open(self, index: int) -> Image.Image:
        return open_image(self.encoded(index), self.name(index))

    def __getstate__(self):
        return {"archive": self.archive, "names": self.names, "_handle": None}


class SubsetStore(ImageStore):
    """Some items of another store, in the given order."""

    def __init__(self, base: ImageStore, indices: np.ndarray):
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def open(self, index: int) -> Image.Image:
        return self.base.open(int(self.indices[index]))

    def name(self, index: int) -> str:
        return self.base.name(int(self.indices[index]))

    def encoded(self, index: int) -> bytes | None:
        return self.base.encoded(int(self.indices[index]))


class ConcatStore(ImageStore):
    """Several stores seen as one (e.g. loose files and tar members in one NIH folder)."""

    def __init__(self, parts: Sequence[tuple[ImageStore, int]]):
        self.parts = list(parts)   # (store, index in that store) per item

    def __len__(self) -> int:
        return len(self.parts)

    def open(self, index: int) -> Image.Image:
        store, i = self.parts[index]
        return store.open(i)

    def name(self, index: int) -> str:
        store, i = self.parts[index]
        return store.name(i)

    def encoded(self, index: int) -> bytes | None:
        store, i = self.parts[index]
        return store.encoded(i)
