"""Real DICOM Part 10 files built with pydicom for the tests (no file leaves tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")   # the `dicom` extra

from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid  # noqa: E402


def dicom_dataset(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12) -> Dataset:
    """A DX image dataset holding `pixels` (rows x cols, or frames x rows x cols) uncompressed."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.set_pixel_data(pixels, photometric, bits_stored)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def voi_lut_item(lut: np.ndarray, first_mapped: int = 0, bits: int = 16) -> Dataset:
    """One VOI LUT Sequence item: Descriptor (entries, first mapped value, bits per entry) and Data as US."""
    item = Dataset()
    item.add_new(0x00283002, "US", [len(lut), first_mapped, bits])
    item.add_new(0x00283006, "US", [int(v) for v in lut])
    return item


def palette_dataset(indices: np.ndarray, luts: np.ndarray, first_mapped: int = 0) -> Dataset:
    """A PALETTE COLOR image: 8-bit `indices` and a (3, entries) uint16 Red/Green/Blue LUT, Data as OW bytes
    (little-endian here; `native_bytes` rewrites them for a big-endian file)."""
    ds = dicom_dataset(indices, "MONOCHROME2", 8)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    for color, lut in zip(("Red", "Green", "Blue"), luts):
        ds.add_new(f"{color}PaletteColorLookupTableDescriptor", "US", [len(lut), first_mapped, 16])
        ds.add_new(f"{color}PaletteColorLookupTableData", "OW", lut.astype("<u2").tobytes())
    return ds


NATIVE = ("ImplicitVRLittleEndian", "ExplicitVRLittleEndian", "ExplicitVRBigEndian",
          "DeflatedExplicitVRLittleEndian")


def in_syntax(ds: Dataset, syntax: str) -> Dataset:
    """`ds` (uncompressed, little-endian) in `syntax`: a native one by name, or compressed with a pydicom
    encoder (RLE, JPEG-LS, JPEG 2000). OW data is rewritten in the target byte order, as a big-endian file
    holds it (pydicom writes OW bytes as they are)."""
    import pydicom.uid

    uid = getattr(pydicom.uid, syntax)
    if syntax not in NATIVE:
        ds.compress(uid)
        return ds
    ds.file_meta.TransferSyntaxUID = uid
    if not uid.is_little_endian:
        for elem in ds:
            if elem.VR == "OW" and isinstance(elem.value, bytes):
                elem.value = np.frombuffer(elem.value, "<u2").astype(">u2").tobytes()
    return ds


def encapsulated(ds: Dataset, syntax: str, frame: bytes) -> Dataset:
    """`ds` holding one already-encoded frame (e.g. a JPEG stream from imagecodecs) in `syntax`."""
    import pydicom.uid
    from pydicom.encaps import encapsulate

    ds.file_meta.TransferSyntaxUID = getattr(pydicom.uid, syntax)
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    return ds
