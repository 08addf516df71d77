"""Image decoding and preprocessing shared by training, export checks and the runtime (numpy + PIL only).

The same functions feed every path, so a model sees identical pixels in training and in production:
decode -> gray (Luma, ITU-R 601: 0.299 R + 0.587 G + 0.114 B) or RGB -> resize to the model size
(bilinear) -> uint8 C x H x W. Normalization ((x/255 - mean) / std) is applied to batches.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from gxr.core.errors import GxrError

ImageLike = str | os.PathLike | bytes | Image.Image | np.ndarray


def open_image(src: ImageLike, name: str | None = None) -> Image.Image:
    """Decode a path, encoded bytes, PIL image or numpy array (H x W, H x W x 3|4) into a PIL image."""
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, np.ndarray):
        return _array_to_image(src, name or "array")
    label = name or (str(src) if not isinstance(src, bytes) else "image bytes")
    try:
        if isinstance(src, bytes):
            img = Image.open(io.BytesIO(src))
        else:
            img = Image.open(src)
        img.load()
    except FileNotFoundError:
        raise GxrError(f"{label}: image file not found") from None
    except IsADirectoryError:
        raise GxrError(f"{label}: is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise GxrError(f"{label}: cannot decode image ({exc})") from None
    return img


def _array_to_image(arr: np.ndarray, name: str) -> Image.Image:
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and 0.0 <= arr.min() and arr.max() <= 1.0:
            arr = np.round(arr * 255.0).astype(np.uint8)
        else:
            raise GxrError(f"{name}: numpy images must be uint8, or float in [0, 1]; got {arr.dtype}")
    if arr.ndim == 2:
        return Image.fromarray(arr, "L")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(arr), "RGB" if arr.shape[2] == 3 else "RGBA")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], "L")
    raise GxrError(f"{name}: expected an H x W or H x W x 3 array, got shape {tuple(arr.shape)}")


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit gray (common for X-rays) -> 8-bit by scaling the full range."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def to_model_pixels(img: Image.Image, channels: int, size: int) -> np.ndarray:
    """PIL image -> uint8 C x size x size; gray via Luma (PIL's "L" uses 299/587/114), color as RGB."""
    img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGB")
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.array(img, dtype=np.uint8)   # a writable copy
    return arr[None] if channels == 1 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_pixels(src: ImageLike, channels: int, size: int, name: str | None = None) -> np.ndarray:
    """Decode any image source straight to uint8 C x size x size."""
    return to_model_pixels(open_image(src, name), channels, size)

