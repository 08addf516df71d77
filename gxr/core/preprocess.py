"""Image decoding and preprocessing shared by training, export checks and the runtime (numpy + PIL only).

The same functions feed every path, so a model sees identical pixels in training and in production, in
these stages (timed one by one by `gxr bench latency --end-to-end`):

read (file -> bytes) -> decode (bytes -> 8-bit pixels as stored; the header and gxr's size limits first) ->
convert (gray: Luma, ITU-R 601: 0.299 R + 0.587 G + 0.114 B; or RGB) -> resize to the model size (an integer
box `reduce` first, then bilinear) -> tensor (uint8 C x H x W). Normalization ((x/255 - mean) / std) is
applied to batches.

Gray conversion comes before the resize: one plane to resize instead of three. For R = G = B images (most
radiographs stored as RGB) the order does not matter at all; for colour images the two orders differ by at
most 1 grey level from rounding (bench/README.md, "The input path", gives the measured differences).

The reduce: when the image is more than REDUCING_GAP times the model size, Pillow first averages k x k blocks
(k = floor(scale / REDUCING_GAP) per axis, `Image.reduce`) and the bilinear resize covers the remaining factor
of at least REDUCING_GAP. This is Pillow's own `reducing_gap` option. It changes full-size pixels slightly
against a direct bilinear resize of the whole image (measured on the 12 real full-size radiographs at 299 px:
bench/README.md); images already near the model size (the training sets, upscaled) are resized exactly as
before. `reducing_gap=None` gives the direct resize.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gxr.core.dicom import decode_dicom, looks_like_dicom
from gxr.core.errors import GxrError, one_line
from gxr.core.fastdecode import default_decoders
from gxr.core.imagefile import (
    HIGH_DEPTH_MODES,
    apply_exif_orientation,
    check_size,
    open_encoded,
    png_significant_bits,
    to_8bit_image,
)
from gxr.core.pixeldepth import to_uint8

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray
REDUCING_GAP = 3.0


@dataclass
class DecodedImage:
    """A decoded image ready for `to_model_pixels` (8 bits per channel), and what a per-image result should
    record about it: format, original size and mode, bit depth used, DICOM fields (photometric interpretation,
    pixel spacing in mm, VOI used, frames) and notes (first frame of many, draft scale, EXIF orientation)."""

    image: Image.Image
    meta: dict = field(default_factory=dict)


def decode(src: ImageLike, name: str | None = None, *, model_size: int | None = None, channels: int | None = None,
           apply_voi: bool = True, decoders: str | None = None) -> DecodedImage:
    """Decode a path, encoded bytes (PNG, JPEG, TIFF, BMP, DICOM, ...), PIL image or numpy array.

    Bit depth and value ranges follow gxr.core.pixeldepth, files gxr.core.imagefile, DICOM gxr.core.dicom.
    `model_size` lets full-size JPEGs decode at a reduced DCT scale (still >= model_size per side).
    `channels=1` lets a colour JPEG decode straight to its luminance plane. `apply_voi=False` ignores a DICOM
    file's VOI LUT / window. `decoders` ("auto" | "pillow"; default GXR_DECODERS, else auto) says whether the
    `fast` extra's decoders may be used. Bad input raises a one-line GxrError naming it."""
    label = _label(src, name)
    if isinstance(src, Image.Image):
        return _from_pil(src, label)
    if isinstance(src, np.ndarray):
        return _from_array(src, label)
    return decode_bytes(read(src, label), label, model_size=model_size, channels=channels, apply_voi=apply_voi,
                        decoders=decoders)


def read(src: ImageLike, label: str) -> bytes:
    """The encoded bytes of a path or bytes-like source (the `read` stage)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        data = _read_file(Path(src), label)
    else:
        raise GxrError(f"{label}: expected an image file path, encoded bytes, a PIL image or a numpy array; "
                       f"got {type(src).__name__}")
    if not data:
        raise GxrError(f"{label}: empty file (0 bytes)")
    return data


def decode_bytes(data: bytes, label: str, *, model_size: int | None = None, channels: int | None = None,
                 apply_voi: bool = True, decoders: str | None = None) -> DecodedImage:
    """Encoded bytes (DICOM or any format Pillow reads) -> 8-bit pixels as stored (the `decode` stage)."""
    if looks_like_dicom(data, label):
        return _from_dicom(data, label, apply_voi)
    return _from_encoded(data, label, model_size, channels, decoders or default_decoders())


def _label(src, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, Image.Image):
        return getattr(src, "filename", "") or "PIL image"
    return {bytes: "image bytes", np.ndarray: "array"}.get(type(src), "image")


def _read_file(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise GxrError(f"{label}: image file not found") from exc
    except IsADirectoryError as exc:
        raise GxrError(f"{label}: is a directory, not an image") from exc
    except OSError as exc:
        raise GxrError(f"{label}: cannot read image ({exc.strerror or one_line(exc)})") from exc


def _from_encoded(data: bytes, label: str, model_size: int | None, channels: int | None,
                  decoders: str) -> DecodedImage:
    img, notes, full_size, fmt = open_encoded(data, label, model_size, channels, decoders)
    meta = {"format": fmt, "width": full_size[0], "height": full_size[1], "mode": img.mode}
    sbit = png_significant_bits(data) if fmt == "PNG" and img.mode in HIGH_DEPTH_MODES else None
    img, meta["bits"] = to_8bit_image(img, label, sbit)
    return DecodedImage(img, {**meta, "notes": notes})


def _from_dicom(data: bytes, label: str, apply_voi: bool) -> DecodedImage:
    dcm = decode_dicom(data, label, apply_voi)
    height, width = dcm.pixels.shape[:2]
    check_size((width, height), label)
    img = Image.fromarray(dcm.pixels, "L" if dcm.pixels.ndim == 2 else "RGB")
    return DecodedImage(img, {"format": "DICOM", "width": width, "height": height, **dcm.meta, "notes": dcm.notes})


def _from_array(arr: np.ndarray, label: str) -> DecodedImage:
    """H x W, H x W x 1|3|4 arrays of uint8, other integers or floats in [0, 1] (see gxr.core.pixeldepth)."""
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise GxrError(f"{label}: expected an H x W or H x W x 1|3|4 (channels last) array, got shape "
                       f"{tuple(arr.shape)}")
    check_size((arr.shape[1], arr.shape[0]), label)
    pixels, bits = to_uint8(arr, label)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    mode = "L" if pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    img = Image.fromarray(np.ascontiguousarray(pixels), mode)
    return DecodedImage(img, {"format": "array", "width": arr.shape[1], "height": arr.shape[0],
                              "dtype": str(arr.dtype), "bits": bits, "notes": []})


def _from_pil(img: Image.Image, label: str) -> DecodedImage:
    check_size(img.size, label)
    meta = {"format": img.format or "PIL", "width": img.width, "height": img.height, "mode": img.mode}
    try:
        img.load()   # a PIL image opened lazily by the caller is decoded here, so broken data is named as such
        img, notes = apply_exif_orientation(img)
        img, meta["bits"] = to_8bit_image(img, label)
    except GxrError:
        raise
    except Exception as exc:   # a lazily opened PIL image whose data is truncated or corrupt
        raise GxrError(f"{label}: cannot decode image ({one_line(exc)})") from exc
    return DecodedImage(img, {**meta, "notes": notes})


def open_image(src: ImageLike, name: str | None = None, decoders: str | None = None) -> Image.Image:
    """Decode any image source to an 8-bit PIL image (see `decode`; no draft scaling, so training and
    evaluation stores see full-resolution pixels)."""
    return decode(src, name, decoders=decoders).image


def to_model_pixels(img: Image.Image, channels: int, size: int, name: str | None = None,
                    reducing_gap: float | None = REDUCING_GAP) -> np.ndarray:
    """PIL image -> uint8 C x size x size; gray via Luma (PIL's "L" uses 299/587/114), color as RGB.
    Modes other than L and RGB (P, LA, RGBA, CMYK, 1, ...) go through RGB first; alpha is dropped.
    `reducing_gap`: see the module docstring (None: a direct bilinear resize of the whole image)."""
    label = name or _label(img, None)
    return to_tensor(resize(convert(img, channels, label), size, label, reducing_gap), channels, label)


def convert(img: Image.Image, channels: int, label: str) -> Image.Image:
    """8-bit gray "L" (channels 1, Luma) or "RGB" (the `convert` stage); high-depth modes by pixeldepth's rules."""
    img, _ = to_8bit_image(img, label)
    check_size(img.size, label)
    target = "L" if channels == 1 else "RGB"
    try:
        if img.mode not in ("L", "RGB"):
            img = img.convert("RGB")
        return img.convert(target) if img.mode != target else img
    except Exception as exc:   # modes Pillow cannot convert, or lazily decoded data that turns out corrupt
        raise GxrError(f"{label}: cannot convert {img.mode} pixels to {target} ({one_line(exc)})") from exc


def resize(img: Image.Image, size: int, label: str, reducing_gap: float | None = REDUCING_GAP) -> Image.Image:
    """size x size, bilinear, after an integer box reduce when the image is over `reducing_gap` x larger."""
    if img.size == (size, size):
        return img
    try:
        return img.resize((size, size), Image.BILINEAR, reducing_gap=reducing_gap)
    except Exception as exc:   # lazily decoded data that turns out corrupt
        raise GxrError(f"{label}: cannot resize {img.mode} pixels ({one_line(exc)})") from exc


def to_tensor(img: Image.Image, channels: int, label: str) -> np.ndarray:
    """"L" or "RGB" image -> a writable uint8 C x H x W array (the `tensor` stage)."""
    try:
        arr = np.array(img, dtype=np.uint8)
    except Exception as exc:
        raise GxrError(f"{label}: cannot read {img.mode} pixels ({one_line(exc)})") from exc
    return arr[None] if channels == 1 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def decode_pixels(src: ImageLike, channels: int, size: int, name: str | None = None, *,
                  apply_voi: bool = True, decoders: str | None = None) -> tuple[np.ndarray, dict]:
    """Decode any image source to uint8 C x size x size plus its per-image metadata (`DecodedImage.meta`)."""
    decoded = decode(src, name, model_size=size, channels=channels, apply_voi=apply_voi, decoders=decoders)
    return to_model_pixels(decoded.image, channels, size, _label(src, name)), decoded.meta


def load_pixels(src: ImageLike, channels: int, size: int, name: str | None = None) -> np.ndarray:
    """Decode any image source straight to uint8 C x size x size (full-size JPEGs in draft mode)."""
    return decode_pixels(src, channels, size, name)[0]
