"""Encoded image files (PNG, JPEG, TIFF, BMP, ...) through Pillow, under gxr's own rules.

- Size limits are gxr's: at most MAX_PIXELS pixels (150 million: a 43 x 43 cm detector at 50 um is 74 million)
  and at least MIN_SIDE pixels per side. Sizes are checked from the header before any pixel is decoded, so a
  621-byte PNG declaring 50000 x 50000 is a one-line error. Pillow's own DecompressionBombWarning is silenced
  (gxr's limit replaces it); beyond 2 x PIL.Image.MAX_IMAGE_PIXELS Pillow refuses first, with the same error.
- EXIF orientation is applied (phone photos of films and some exported JPEGs carry it).
- Full-size JPEGs are decoded in draft mode when the model size is known: libjpeg's DCT scaling at the
  smallest factor (1/2, 1/4 or 1/8) whose result is still at least the model size on both sides. For a gray
  model (`channels=1`) a colour JPEG is decoded straight to its luminance plane (Y = 0.299 R + 0.587 G +
  0.114 B, the same weights as Luma), skipping the colour conversion.
- 8-bit L/RGB/RGBA PNGs are decoded by libspng when the `fast` extra is installed (gxr.core.fastdecode),
  after the header has been read and checked here; Pillow decodes everything else, and any file libspng
  refuses.
- Modes: 16/32-bit integer and 32-bit float images become 8-bit gray by gxr.core.pixeldepth's rules (a PNG's
  sBIT chunk gives the bit depth where present); LAB (TIFF) becomes sRGB through LittleCMS; everything else
  (1, L, P, LA, RGB, RGBA, CMYK, YCbCr, ...) is left for the gray/RGB conversion.
- 16-bit-per-channel RGB PNGs are reduced to 8 bits by Pillow itself (it keeps the high byte).
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from gxr.core.errors import GxrError, one_line  # one_line re-exported for older imports
from gxr.core.fastdecode import decode_png
from gxr.core.pixeldepth import to_uint8

MAX_PIXELS = 150_000_000
MIN_SIDE = 8
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
EXIF_ORIENTATION = 0x0112

warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# converting a palette PNG with a tRNS chunk warns on every image; gxr drops alpha by design (to_model_pixels)
warnings.filterwarnings("ignore", message="Palette images with Transparency", category=UserWarning)


def check_size(size: tuple[int, int], name: str) -> None:
    """Refuse images smaller than MIN_SIDE per side or larger than MAX_PIXELS."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise GxrError(f"{name}: image of {width} x {height} pixels is over gxr's limit of {MAX_PIXELS:,} pixels")
    if min(width, height) < MIN_SIDE:
        raise GxrError(f"{name}: image of {width} x {height} pixels is too small (at least {MIN_SIDE} per side)")


def png_significant_bits(data: bytes) -> int | None:
    """The bit depth a PNG's sBIT chunk declares (largest over its channels), or None without one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"sBIT":
            body = data[pos + 8:pos + 8 + length]
            return max(body) if body else None
        if kind in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def _bomb_pixels(exc: Exception) -> str:
    """The pixel count in Pillow's DecompressionBombError message, for ours."""
    words = str(exc).replace("(", " ").split()
    return next((f"{int(w):,} pixels" for w in words if w.isdigit()), "too many pixels")


def open_encoded(data: bytes, name: str, model_size: int | None = None, channels: int | None = None,
                 decoders: str = "auto") -> tuple[Image.Image, list[str], tuple[int, int], str]:
    """Encoded bytes -> a loaded PIL image (size-checked, draft-decoded, EXIF-oriented), notes about it, the
    size the file declares and its format (PNG, JPEG, ...). The header is read and checked before any decoder
    runs; `decoders="auto"` lets the `fast` extra's decoders take the files they handle."""
    notes: list[str] = []
    img = _open_header(data, name)
    full_size, fmt = img.size, img.format
    check_size(full_size, name)
    fast = decode_png(data, img) if decoders == "auto" and img.format == "PNG" else None
    if fast is not None:
        img, notes = fast, ["decoded by libspng"]
    else:
        if model_size and img.format == "JPEG":
            notes += _draft(img, model_size, "L" if channels == 1 else img.mode)
        try:
            img.load()
        except Exception as exc:   # truncated or corrupt data: OSError, SyntaxError, struct.error, ...
            raise GxrError(f"{name}: cannot decode image ({one_line(exc)})") from exc
    img, oriented = apply_exif_orientation(img)
    return img, notes + oriented, full_size, fmt


def _open_header(data: bytes, name: str) -> Image.Image:
    """Pillow's lazy open: format, mode and size from the header, no pixel decoded yet."""
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise GxrError(f"{name}: image of {_bomb_pixels(exc)} is over gxr's limit of {MAX_PIXELS:,} pixels") from exc
    except UnidentifiedImageError as exc:
        raise GxrError(f"{name}: not an image file gxr can read (PNG, JPEG, TIFF, BMP or DICOM)") from exc
    except Exception as exc:   # Pillow plugins raise many kinds on malformed headers
        raise GxrError(f"{name}: cannot decode image ({one_line(exc)})") from exc


def _draft(img: Image.Image, model_size: int, mode: str) -> list[str]:
    """Ask libjpeg for the strongest DCT reduction (1/2, 1/4, 1/8) that still gives >= model_size per side,
    in `mode` (L: the luminance plane of a colour JPEG)."""
    full = img.size
    drafted = img.draft(mode, (model_size, model_size))
    if drafted is None or img.size == full:
        return []
    scale = round(full[0] / drafted[1][2])
    return [f"JPEG decoded at 1/{scale} scale ({full[0]} x {full[1]} -> {img.size[0]} x {img.size[1]}, draft mode)"]


def apply_exif_orientation(img: Image.Image) -> tuple[Image.Image, list[str]]:
    """Rotate/flip by the EXIF Orientation tag (2-8); images without one are returned as they are."""
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:   # unreadable EXIF is no reason to refuse the pixels
        return img, []
    if orientation not in range(2, 9):
        return img, []
    return ImageOps.exif_transpose(img), [f"EXIF orientation {orientation} applied"]


def to_8bit_image(img: Image.Image, name: str, bits: int | None = None) -> tuple[Image.Image, int]:
    """High-depth gray and float images -> 8-bit "L" (pixeldepth rules); LAB -> RGB; others unchanged."""
    if img.mode in HIGH_DEPTH_MODES:
        arr, used = to_uint8(np.asarray(img), name, bits)
        return Image.fromarray(arr, "L"), used
    if img.mode == "LAB":
        return lab_to_rgb(img, name), 8
    return img, 8


def lab_to_rgb(img: Image.Image, name: str) -> Image.Image:
    """CIE L*a*b* -> sRGB with LittleCMS (Pillow's convert() cannot)."""
    try:
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(img, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))
    except Exception as exc:   # ImageCms.PyCMSError, or Pillow built without LittleCMS
        raise GxrError(f"{name}: cannot convert its LAB colors to RGB ({one_line(exc)})") from exc
