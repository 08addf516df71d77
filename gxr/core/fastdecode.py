"""Optional fast decoders (the `fast` extra), used only after Pillow has read the header and gxr's size limits
passed, with Pillow as the fallback for everything else.

- PNG: libspng through imagecodecs (BSD-3-Clause; libspng BSD-2-Clause), for 8-bit gray, RGB and RGBA files
  (palette, 1/2/4-bit, 16-bit and gray+alpha PNGs stay with Pillow). imagecodecs releases the GIL while it
  decodes, so the decode pool's threads run in parallel. `pyspng` was measured too: a little faster per file,
  but it holds the GIL (bench/README.md, "The input path").
- JPEG: Pillow's own draft mode already is libjpeg-turbo's DCT-domain scaling (1/2, 1/4, 1/8); for gray models
  the draft asks libjpeg-turbo for the luminance plane (Y) directly (`gxr.core.imagefile`).

The pixels are the same as Pillow's (tests/core/test_fastdecode.py checks them on the real full-size files).
When a fast decoder fails on a file (libspng checks every chunk's CRC, Pillow does not check IDAT's), Pillow
decodes it, so a file Pillow reads is never refused. `GXR_DECODERS=pillow` (or `decoders="pillow"`) turns
the fast path off."""

from __future__ import annotations

import functools
import os
import struct

import numpy as np
from PIL import Image

from gxr.core.lazy import available, lazy_import

DECODER_CHOICES = ("auto", "pillow")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPNG_COLOR_TYPES = {0: "L", 2: "RGB", 6: "RGBA"}     # PNG colour type -> Pillow mode, 8 bits per sample


def default_decoders() -> str:
    """`GXR_DECODERS` (auto | pillow), auto when unset."""
    choice = os.environ.get("GXR_DECODERS", "auto").strip().lower() or "auto"
    return choice if choice in DECODER_CHOICES else "auto"


@functools.cache
def fast_png_available() -> bool:
    """Whether the `fast` extra's PNG decoder is installed (looked up once)."""
    return available("imagecodecs")


def png_spng_mode(data: bytes) -> str | None:
    """The Pillow mode libspng would decode this PNG to (8-bit L, RGB or RGBA), or None if it stays with Pillow."""
    if data[:8] != PNG_SIGNATURE or len(data) < 29 or data[12:16] != b"IHDR":
        return None
    bit_depth, color_type = struct.unpack(">BB", data[24:26])
    return SPNG_COLOR_TYPES.get(color_type) if bit_depth == 8 else None


def decode_png(data: bytes, img: Image.Image) -> Image.Image | None:
    """A PNG through libspng, after `img` (Pillow's lazily opened file, size already checked) said what it is;
    None when the extra is absent, the file is not 8-bit L/RGB/RGBA, or libspng fails (Pillow then decodes it)."""
    mode = png_spng_mode(data)
    if mode is None or mode != img.mode or not fast_png_available():
        return None
    imagecodecs = lazy_import("imagecodecs", "fast PNG decoding")
    try:
        arr = imagecodecs.spng_decode(data)
    except Exception:   # imagecodecs.SpngError on CRC errors, truncation, ...: Pillow gets its turn
        return None
    expected = (img.height, img.width) + (() if mode == "L" else (len(mode),))
    if arr.dtype != np.uint8 or arr.shape != expected:
        return None
    out = Image.fromarray(arr, mode)
    if "exif" in img.info:   # an eXIf chunk precedes IDAT, so Pillow's header pass has read it
        out.info["exif"] = img.info["exif"]
    return out
