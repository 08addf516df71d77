"""DICOM images to the 8 bits the models were trained on, with pydicom (the `dicom` extra).

Grayscale (MONOCHROME1/2) pixels go through the display pipeline of DICOM PS3.3 C.11, using pydicom's own
`apply_modality_lut` and `apply_voi_lut`:

1. stored values -> Modality LUT Sequence, or Rescale Slope/Intercept;
2. -> the first VOI LUT of the VOI LUT Sequence, else the first Window Center/Width (LINEAR, LINEAR_EXACT
   or SIGMOID per VOI LUT Function). `apply_voi=False` skips this step;
3. -> 8 bits by the output range of the previous step: a VOI LUT's range is 0..2**n - 1 with n its LUT
   Descriptor's bits per entry; a window's is the range that Bits Stored and Pixel Representation allow,
   passed through step 1 (what pydicom's windowing uses). Without a VOI step (none in the file, or
   `apply_voi=False`) the image's own min..max after step 1 is mapped linearly onto 0..255: the stored range
   would leave e.g. a nuclear-medicine image (signed 16-bit, values 0..278) one flat gray. min..max, not a
   percentile range, so no value is clipped and the order of values is kept; a constant image becomes 0.
   Unsigned data of Bits Stored <= 8 with no modality transform is display-ready and kept as is (0..255,
   like an 8-bit PNG). The per-image `meta["scaling"]` says which rule ran ("voi_lut", "window",
   "bits_stored" or "image_min_max", the last with `meta["image_range"]`, the values that became 0 and 255);
4. MONOCHROME1 (bright = low attenuation) is inverted to MONOCHROME2 (255 - v).

The mapping is pointwise, so for <= 16-bit data it is computed once on every possible stored value (at most
65,536 of them) and applied to the image as a uint8 lookup table: no float64 copy of a 4k x 4k radiograph.

Colour: RGB/YBR images are converted to RGB by pydicom and scaled by Bits Stored ("bits_stored"); 32-bit
RGB (Bits Stored above 16, which no 8-bit display scale fits) is mapped by its own min..max over all three
channels together, so the colour balance is kept ("image_min_max"). PALETTE COLOR goes through its Red/
Green/Blue Palette Color LUTs, read here in the file's byte order (pydicom 3.0's `apply_color_lut` reads
non-segmented LUT Data in the machine's order, so an Explicit VR Big Endian file got byte-swapped colours;
segmented LUTs are left to pydicom, which gets them right), and scaled by the LUT's bits ("palette").
Multi-frame files: only the first frame is decoded, and a note says so.

Rows x Columns is checked against gxr's pixel limit (`check_size`) before any decoder runs.

Decoders, all permissively licensed (the README's "DICOM decoders and licences" table): uncompressed and RLE
by pydicom itself (MIT); JPEG 2000 and HTJ2K by pylibjpeg-openjpeg (MIT); JPEG-LS by pyjpegls (MIT, CharLS
BSD-3); JPEG baseline, extended (12-bit) and lossless by imagecodecs (BSD-3, libjpeg-turbo) through the
plugin in `gxr.core.dicom_jpeg`. pylibjpeg-libjpeg (GPL-3.0) is no longer used; if it is installed anyway,
PREFERRED_PLUGINS still picks the permissive decoder first. A syntax no installed plugin handles is a
one-line error naming it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from gxr.core.errors import GxrError, one_line
from gxr.core.imagefile import check_size
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


# pydicom plugin labels in gxr's order of preference: the `dicom` extra's own first, so JPEG and JPEG-LS never go to
# pylibjpeg's GPL-3.0 libjpeg plugin when it happens to be installed (pylibjpeg stays first for JPEG 2000 and RLE)
PREFERRED_PLUGINS = ("pyjpegls", "imagecodecs", "pylibjpeg", "pydicom", "pillow")


def choose_plugin(syntax) -> str:
    """The preferred installed decoding plugin for `syntax`, or "" (let pydicom pick, or say none fits)."""
    from pydicom.pixels import get_decoder

    from gxr.core import dicom_jpeg

    dicom_jpeg.register()
    try:
        available = get_decoder(syntax).available_plugins
    except NotImplementedError:
        return ""   # no decoder for this syntax at all: pixel_array says so
    return next((label for label in PREFERRED_PLUGINS if label in available), "")


def first_frame(ds, name: str) -> np.ndarray:
    """The first frame's stored values, decoded by the preferred plugin for its transfer syntax."""
    from pydicom.pixels import pixel_array

    syntax = _syntax(ds)
    plugin = choose_plugin(syntax) if syntax is not None and syntax.is_compressed else ""
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
        return "no installed decoder handles it (pip install 'gxr[dicom]' adds the decoders)"
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


def voi_to_uint8(out: np.ndarray, ds, kind: str | None, image_range: tuple[float, float]) -> np.ndarray:
    """Modality-mapped values -> uint8 (steps 2-4 of the module docstring); `image_range` is used without VOI."""
    from pydicom.pixels import apply_voi_lut

    if kind == "lut":
        if out.dtype.kind == "f" and np.all(out == np.rint(out)):
            out = out.astype(np.int64)   # integer input indexes the VOI LUT exactly (pydicom warns on floats)
        low, high = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
        _widen_8bit_voi_lut(ds)
        out = apply_voi_lut(out, ds, index=0, prefer_lut=True)
    elif kind == "window":
        low, high = modality_output_range(ds)
        out = apply_voi_lut(out, ds, index=0, prefer_lut=False)
    else:
        low, high = image_range
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


def gray_to_uint8(arr: np.ndarray, ds, apply_voi: bool) -> tuple[np.ndarray, dict]:
    """Grayscale pixels -> (uint8, scaling meta), through a table over every possible stored value when the
    data is <= 16-bit; 32-bit or float pixel data is computed directly."""
    from pydicom.pixels import apply_modality_lut

    kind = voi_kind(ds, apply_voi)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2:
        unsigned = np.dtype(f"u{arr.dtype.itemsize}")
        index = arr.view(unsigned)
        domain = np.arange(2 ** (8 * arr.dtype.itemsize), dtype=unsigned).view(arr.dtype)
        values = apply_modality_lut(domain, ds)
        present = np.zeros(domain.size, bool)
        present[index] = True
        image_range = stored_range(ds) if plain_8bit(ds) else _value_range(values[present])
        pixels = voi_to_uint8(values, ds, kind, image_range)[index]
    else:
        values = apply_modality_lut(arr, ds)
        image_range = _value_range(values)
        pixels = voi_to_uint8(values, ds, kind, image_range)
    if kind is not None:
        return pixels, {"scaling": "voi_lut" if kind == "lut" else "window"}
    if plain_8bit(ds):
        return pixels, {"scaling": "bits_stored"}
    return pixels, {"scaling": "image_min_max", "image_range": list(image_range)}


def plain_8bit(ds) -> bool:
    """Unsigned 8-bit data without a modality transform is display-ready: used as is, like an 8-bit PNG."""
    identity = float(ds.get("RescaleSlope", 1) or 1) == 1 and float(ds.get("RescaleIntercept", 0) or 0) == 0
    return (int(ds.BitsStored) <= 8 and int(ds.get("PixelRepresentation", 0)) == 0 and identity
            and not ds.get("ModalityLUTSequence"))


def _value_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) as plain numbers (int where the values are integers), (0, 0) for no values."""
    if not values.size:
        return 0.0, 0.0
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        raise GxrError("pixel values are not finite")
    as_int = values.dtype.kind in "iu" or (low == np.rint(low) and high == np.rint(high))
    return (int(low), int(high)) if as_int else (float(low), float(high))


def palette_to_uint8(arr: np.ndarray, ds, name: str) -> np.ndarray:
    """PALETTE COLOR indices -> uint8 RGB through the Red/Green/Blue LUTs, read in the file's byte order."""
    if "RedPaletteColorLookupTableData" not in ds:   # segmented LUTs: pydicom reads them correctly
        from pydicom.pixels import apply_color_lut

        rgb = apply_color_lut(arr, ds)[..., :3]
        return to_uint8(rgb, name, 8 if rgb.dtype == np.uint8 else 16)[0]
    entries, first_mapped, bits = (int(v) for v in ds.RedPaletteColorLookupTableDescriptor)
    entries = entries or 65536
    big_endian = _is_big_endian(ds)
    luts = [_lut_entries(ds[f"{color}PaletteColorLookupTableData"].value, entries, big_endian)
            for color in ("Red", "Green", "Blue")]
    table = np.stack(luts, axis=-1)
    top = 255 if bits == 8 and int(table.max()) <= 255 else 65535
    table8 = np.rint(table.astype(np.float64) * (255.0 / top)).astype(np.uint8)
    return table8[np.clip(arr.astype(np.int64) - first_mapped, 0, len(table8) - 1)]


def _is_big_endian(ds) -> bool:
    syntax = _syntax(ds)
    if syntax is not None and syntax.is_transfer_syntax:
        return not syntax.is_little_endian
    return getattr(ds, "original_encoding", (None, True))[1] is False


def _lut_entries(value, entries: int, big_endian: bool) -> np.ndarray:
    """LUT Data as read by pydicom (raw OW bytes, or a list of US numbers) -> its entries as integers."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) == entries:   # 8-bit entries packed one per byte (seen in old files)
            return np.frombuffer(value, np.uint8)
        return np.frombuffer(value, ">u2" if big_endian else "<u2")[:entries]
    return np.asarray(value if not isinstance(value, int) else [value], dtype=np.int64)[:entries]


def color_to_uint8(arr: np.ndarray, ds, name: str) -> tuple[np.ndarray, dict]:
    """RGB (YBR already converted by pydicom) or PALETTE COLOR -> (uint8 H x W x 3, scaling meta)."""
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        return palette_to_uint8(arr, ds, name), {"scaling": "palette"}
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise GxrError(f"{name}: unsupported DICOM Photometric Interpretation {ds.PhotometricInterpretation!r}")
    if arr.dtype.kind in "iu" and int(ds.BitsStored) > 16:
        low, high = _value_range(arr)
        span = float(high - low) or 1.0
        pixels = np.rint((arr.astype(np.float64) - low) * (255.0 / span)).astype(np.uint8)
        return pixels, {"scaling": "image_min_max", "image_range": [low, high]}
    return to_uint8(arr, name, int(ds.BitsStored))[0], {"scaling": "bits_stored"}


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


def check_dimensions(ds, name: str) -> None:
    """Rows x Columns against gxr's pixel limits, before any decoder runs (a decompression bomb stays packed)."""
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise GxrError(f"{name}: DICOM file lacks valid Rows / Columns") from exc
    check_size((columns, rows), name)


def decode_dicom(data: bytes, name: str, apply_voi: bool = True) -> DicomPixels:
    """DICOM bytes -> the first frame as uint8, following the module docstring's rules."""
    ds = read_dataset(data, name)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise GxrError(f"{name}: DICOM file has no pixel data (7FE0,0010)")
    if "BitsStored" not in ds or "PhotometricInterpretation" not in ds:
        raise GxrError(f"{name}: DICOM file lacks Bits Stored or Photometric Interpretation")
    check_dimensions(ds, name)
    arr = first_frame(ds, name)
    try:
        if ds.PhotometricInterpretation in GRAY:
            pixels, scaling = gray_to_uint8(arr, ds, apply_voi)
        else:
            pixels, scaling = color_to_uint8(arr, ds, name)
        meta, notes = describe(ds, apply_voi)
    except GxrError as exc:
        message = str(exc)
        raise GxrError(message if message.startswith(name) else f"{name}: {message}") from exc
    except Exception as exc:   # damaged LUTs, windows of width 0, odd VRs
        raise GxrError(f"{name}: cannot apply the DICOM pixel transforms ({one_line(exc)})") from exc
    return DicomPixels(np.ascontiguousarray(pixels), {**meta, **scaling}, notes)
