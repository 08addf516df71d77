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
