"""Full-size test files in other formats, made at benchmark time from real images (never kept): JPEG and
12-bit DICOM (MONOCHROME2 and MONOCHROME1; uncompressed, RLE Lossless, JPEG-LS Lossless, JPEG 2000 Lossless).

The 12-bit pixels are the image's 8-bit gray values spread over 0..4095 (v * 4095 / 255, rounded), the
way a 12-bit detector's output looks after the vendor's processing; each file carries a full-range window
(center 2048, width 4096) as DX images do, so gxr's VOI step runs. MONOCHROME1 stores 4095 - v."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.lazy import lazy_import

DICOM_SYNTAXES = {"uncompressed": "ExplicitVRLittleEndian", "rle": "RLELossless", "jpegls": "JPEGLSLossless",
                  "j2k": "JPEG2000Lossless"}
FORMATS = ("jpeg", *(f"dicom-{p}-{s}" for p in ("mono2", "mono1") for s in DICOM_SYNTAXES))
JPEG_QUALITY = 95


def parse_formats(text: str) -> tuple[str, ...]:
    """`jpeg,dicom-mono2-rle,...`; `dicom` stands for every DICOM variant, `all` for every format."""
    out: list[str] = []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        picked = FORMATS if word == "all" else [f for f in FORMATS if f.startswith("dicom-")] if word == "dicom" \
            else [word]
        for fmt in picked:
            if fmt not in FORMATS:
                raise GxrError(f"--formats {text!r}: unknown format {fmt!r}; choose from {', '.join(FORMATS)}, "
                               "dicom or all")
            if fmt not in out:
                out.append(fmt)
    return tuple(out)


def make_files(sources: Sequence[Path], fmt: str, folder: Path,
               on_file: Callable[[], None] | None = None) -> list[Path]:
    """`sources` written as `fmt` into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(sources):
        with Image.open(src) as im:
            gray = im.convert("L")
        path = folder / f"{i:03d}.{'jpg' if fmt == 'jpeg' else 'dcm'}"
        if fmt == "jpeg":
            gray.save(path, "JPEG", quality=JPEG_QUALITY)
        else:
            _, photometric, syntax = fmt.split("-")
            write_dicom(np.asarray(gray), path, photometric.upper().replace("MONO", "MONOCHROME"),
                        DICOM_SYNTAXES[syntax])
        out.append(path)
        if on_file:
            on_file()
    return out


def to_12bit(gray: np.ndarray) -> np.ndarray:
    """8-bit gray -> 0..4095 (uint16)."""
    return np.rint(gray.astype(np.float64) * (4095.0 / 255.0)).astype(np.uint16)


def write_dicom(gray: np.ndarray, path: Path, photometric: str, syntax: str) -> None:
    """A 12-bit DX image with a full-range window, written in transfer syntax `syntax` (a pydicom.uid name)."""
    pydicom = lazy_import("pydicom", "writing benchmark DICOM files")
    from pydicom.dataset import Dataset, FileMetaDataset

    values = to_12bit(gray)
    if photometric == "MONOCHROME1":
        values = (4095 - values).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.SOPClassUID = pydicom.uid.DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "DX"
    ds.set_pixel_data(values, photometric, 12)
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    uid = getattr(pydicom.uid, syntax)
    if uid != pydicom.uid.ExplicitVRLittleEndian:
        ds.compress(uid)
    ds.save_as(path, enforce_file_format=True)
