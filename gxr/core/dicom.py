"""DICOM images to the 8 bits the models were trained on, with pydicom (the `dicom` extra).

Grayscale (MONOCHROME1/2) pixels go through the display pipeline of DICOM PS3.3 C.11, using pydicom's own
`apply_modality_lut` and `apply_voi_lut`:

1. stored values -> Modality LUT Sequence, or Rescale Slope/Intercept;
2. -> the first VOI LUT of the VOI LUT Sequence, else the first Window Center/Width (LINEAR, LINEAR_EXACT
   or SIGMOID per VOI LUT Function). `apply_voi=False` skips this step (the whole stored range is shown);
3. -> 8 bits by the output range of the previous step (never the image's own min/max): a VOI LUT's range is
   0..2**n - 1 with n its LUT Descriptor's bits per entry; a window's, or no VOI at all, is the range that
   Bits Stored and Pixel Representation allow, passed through step 1 (what pydicom's windowing uses);
4. MONOCHROME1 (bright = low attenuation) is inverted to MONOCHROME2 (255 - v).

The mapping is pointwise, so it is computed once on every possible stored value (at most 65,536 of them)
and applied to the image as a uint8 lookup table: no float64 copy of a 4k x 4k radiograph.
RGB/YBR images are converted to RGB by pydicom and PALETTE COLOR through its palette; both are scaled by
Bits Stored (or the palette's bits). Multi-frame files: only the first frame is decoded, and a note says so.

Compressed transfer syntaxes are decoded with the pylibjpeg plugins when they are installed (the `dicom`
extra installs them): pip wheels for every platform without system libraries, covering JPEG baseline,
extended and lossless and JPEG-LS (pylibjpeg-libjpeg, GPL-3.0) and JPEG 2000 / HTJ2K (pylibjpeg-openjpeg,
MIT); RLE is decoded by pydicom itself. We prefer it to pydicom's Pillow plugin, which lacks lossless JPEG
and JPEG-LS and has had precision problems with >8-bit JPEG 2000, and to GDCM, a large C++ toolkit for a job
these small decoders already do. A syntax no installed plugin handles is a one-line error naming it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from gxr.core.errors import GxrError, one_line
from gxr.core.lazy import lazy_import
from gxr.core.pixeldepth import to_uint8

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")

# pydicom warns (UserWarning) about every irregularity of a damaged or non-conformant file; printed, they
# would precede gxr's one-line error or clutter results. A file gxr cannot use is a GxrError instead.
warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
GRAY = ("MONOCHROME1", "MONOCHROME2")


@dataclass
class DicomPixels:
    """A decoded DICOM frame (uint8, H x W or H x W x 3) with what a result should record about it."""

    pixels: np.ndarray
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def looks_like_dicom(data: bytes, name: str = "") -> bool:
    """DICOM Part 10 files carry 'DICM' after a 128-byte preamble; bare datasets are known by their suffix."""
    return data[128:132] == b"DICM" or name.lower().endswith(DICOM_SUFFIXES)


def read_dataset(data: bytes, name: str):
    pydicom = lazy_import("pydicom", "reading DICOM files")
    try:
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:   # pydicom raises many kinds on damaged files
        raise GxrError(f"{name}: not a readable DICOM file ({one_line(exc)})") from exc


def first_frame(ds, name: str) -> np.ndarray:
    """The first frame's stored values, decoded by the pylibjpeg plugins where they handle the syntax."""
    from pydicom.pixels import get_decoder, pixel_array

    syntax = _syntax(ds)
    plugin = ""
    try:
        if syntax is not None and "pylibjpeg" in get_decoder(syntax).available_plugins:
            plugin = "pylibjpeg"
    except NotImplementedError:
        pass   # no decoder for this syntax at all: pixel_array below says so
    try:
        return pixel_array(ds, index=0, decoding_plugin=plugin)
    except Exception as exc:
        syntax_name = f"{syntax.name} ({syntax})" if syntax is not None else "unknown transfer syntax"
        raise GxrError(f"{name}: cannot decode DICOM pixel data in {syntax_name}: {_decode_reason(exc)}") from exc


def _syntax(ds):
    """The Transfer Syntax UID from the file meta information, if any."""
    meta = getattr(ds, "file_meta", None)
    return meta.get("TransferSyntaxUID") if meta is not None else None


def _decode_reason(exc: Exception) -> str:
    if isinstance(exc, NotImplementedError) or "missing dependencies" in str(exc) or "no pixel data decoders" in str(
            exc).lower():
        return "no installed decoder handles it (pip install 'gxr[dicom]' adds pylibjpeg)"
    return one_line(exc)


def stored_range(ds) -> tuple[int, int]:
    """The stored values Bits Stored and Pixel Representation allow."""
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def modality_output_range(ds) -> tuple[float, float]:
    """Output range of the modality step, as pydicom's windowing uses it (PS3.3 C.11.1)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    low, high = stored_range(ds)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        return low * slope + intercept, high * slope + intercept
    return float(low), float(high)


def voi_kind(ds, apply_voi: bool) -> str | None:
    """'lut', 'window' or None: the VOI step that will run (the LUT wins when both are present)."""
    if not apply_voi:
        return None
    seq = ds.get("VOILUTSequence")
    if seq and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None:
        return "lut"
    if ds.get("WindowCenter") not in (None, "") and ds.get("WindowWidth") not in (None, ""):
        return "window"
    return None


def gray_lut_values(values: np.ndarray, ds, apply_voi: bool) -> np.ndarray:
    """Stored values -> uint8 as the model sees them (steps 1-4 of the module docstring)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    out = apply_modality_lut(values, ds)
    low, high = modality_output_range(ds)
    kind = voi_kind(ds, apply_voi)
    if kind == "lut":
        if out.dtype.kind == "f" and np.all(out == np.rint(out)):
            out = out.astype(np.int64)   # integer input indexes the VOI LUT exactly (pydicom warns on floats)
        low, high = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
        _widen_8bit_voi_lut(ds)
        out = apply_voi_lut(out, ds, index=0, prefer_lut=True)
    elif kind == "window":
        out = apply_voi_lut(out, ds, index=0, prefer_lut=False)
    span = (high - low) or 1.0
    scaled = np.clip(np.rint((out.astype(np.float64) - low) * (255.0 / span)), 0, 255).astype(np.uint8)
    return 255 - scaled if ds.PhotometricInterpretation == "MONOCHROME1" else scaled


def _widen_8bit_voi_lut(ds) -> None:
    """pydicom 3.0 indexes an 8-bit VOI LUT through a uint8 array, so inputs above 255 wrap around (a
    4096-entry LUT maps 256 to its entry 0). Its entries are the same numbers read as 16-bit (PS3.3 C.11.2.1.1
    stores each entry in 16 bits), so the decode-local dataset is told 16; the output range stays 8-bit."""
    descriptor = ds.VOILUTSequence[0].LUTDescriptor
    if int(descriptor[2]) == 8:
        ds.VOILUTSequence[0].LUTDescriptor = [int(descriptor[0]), int(descriptor[1]), 16]


def gray_to_uint8(arr: np.ndarray, ds, apply_voi: bool) -> np.ndarray:
    """Apply the pipeline through a table over every possible stored value when the data is <= 16-bit."""
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2:
        unsigned = np.dtype(f"u{arr.dtype.itemsize}")
        domain = np.arange(2 ** (8 * arr.dtype.itemsize), dtype=unsigned).view(arr.dtype)
        return gray_lut_values(domain, ds, apply_voi)[arr.view(unsigned)]
    return gray_lut_values(arr, ds, apply_voi)   # 32-bit or float pixel data: computed directly


def color_to_uint8(arr: np.ndarray, ds, name: str) -> np.ndarray:
    """RGB (YBR already converted by pydicom) or PALETTE COLOR -> uint8 H x W x 3."""
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)[..., :3]
        return to_uint8(arr, name, 8 if arr.dtype == np.uint8 else 16)[0]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise GxrError(f"{name}: unsupported DICOM Photometric Interpretation {ds.PhotometricInterpretation!r}")
    return to_uint8(arr, name, int(ds.BitsStored))[0]


def describe(ds, apply_voi: bool) -> tuple[dict, list[str]]:
    """Per-image metadata (photometric, pixel spacing, bits, VOI used, frames) and notes for the result."""
    notes: list[str] = []
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        notes.append(f"multi-frame DICOM ({frames} frames): only the first frame was used")
    kind = voi_kind(ds, apply_voi)
    if kind == "window":
        center, width = (_first(ds.WindowCenter), _first(ds.WindowWidth))
        voi = f"window center {center:g}, width {width:g}"
    else:
        voi = "VOI LUT" if kind == "lut" else None
    if not apply_voi and voi_kind(ds, True):
        notes.append("the file's VOI LUT / window was ignored as asked")
    if ds.PhotometricInterpretation == "MONOCHROME1":
        notes.append("MONOCHROME1 inverted to MONOCHROME2")
    syntax = _syntax(ds)
    meta = {"photometric_interpretation": str(ds.PhotometricInterpretation), "bits_stored": int(ds.BitsStored),
            "pixel_spacing_mm": _spacing(ds), "voi": voi, "frames": frames,
            "transfer_syntax": syntax.name if syntax is not None else None, "modality": ds.get("Modality")}
    return meta, notes


def _first(value) -> float:
    """The first of a multi-valued element (several windows), or the single value."""
    from pydicom.multival import MultiValue

    return float(value[0]) if isinstance(value, (MultiValue, list, tuple)) else float(value)


def _spacing(ds) -> list[float] | None:
    """Pixel Spacing (0028,0030), else Imager Pixel Spacing (0018,1164) as CR/DX detectors record it; mm."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            return [float(value[0]), float(value[1])]
    return None


def decode_dicom(data: bytes, name: str, apply_voi: bool = True) -> DicomPixels:
    """DICOM bytes -> the first frame as uint8, following the module docstring's rules."""
    ds = read_dataset(data, name)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise GxrError(f"{name}: DICOM file has no pixel data (7FE0,0010)")
    if "BitsStored" not in ds or "PhotometricInterpretation" not in ds:
        raise GxrError(f"{name}: DICOM file lacks Bits Stored or Photometric Interpretation")
    arr = first_frame(ds, name)
    try:
        if ds.PhotometricInterpretation in GRAY:
            pixels = gray_to_uint8(arr, ds, apply_voi)
        else:
            pixels = color_to_uint8(arr, ds, name)
        meta, notes = describe(ds, apply_voi)
    except GxrError:
        raise
    except Exception as exc:   # damaged LUTs, windows of width 0, odd VRs
        raise GxrError(f"{name}: cannot apply the DICOM pixel transforms ({one_line(exc)})") from exc
    return DicomPixels(np.ascontiguousarray(pixels), meta, notes)
