"""Bit depth and value-range rules: every decoded source reaches the model as 8-bit, one rule per source.

The models are trained on 8-bit images, so deeper data is mapped onto 0..255 by its full scale, never by its
own min/max (a per-image stretch would change contrast between images and between sources):

- uint8 (arrays, 8-bit PNG/JPEG/TIFF/BMP): used as is.
- Other integers (16-bit PNG/TIFF, uint16 arrays, 32-bit "I" images): value * 255 / (2**bits - 1), rounded.
  `bits` comes from the file where it says so (DICOM Bits Stored, PNG sBIT); otherwise it is the smallest
  common detector depth (8, 10, 12, 14, 16) that holds the brightest pixel, so 12-bit data stored in a
  16-bit PNG is scaled by 4095, not 65535. Negative values or values above 65535 are refused.
- Floats (float arrays, 32-bit float "F" TIFFs alike): fractions of full scale, so they must lie in [0, 1]
  and become round(value * 255); NaN, inf or anything outside [0, 1] is refused with the range found.
- bool, complex, object and string arrays are refused.

Scaling uses a lookup table indexed by the integer pixels (no float copy of a 4k x 4k image); floats are
scaled in float32.
"""

from __future__ import annotations

import numpy as np

from gxr.core.errors import GxrError

COMMON_DEPTHS = (8, 10, 12, 14, 16)
MAX_INTEGER = 65535


def depth_for(max_value: int) -> int:
    """The smallest common detector bit depth that holds `max_value` (8, 10, 12, 14 or 16)."""
    for bits in COMMON_DEPTHS:
        if max_value < 2 ** bits:
            return bits
    raise ValueError(f"{max_value} needs more than 16 bits")


def scale_lut(bits: int) -> np.ndarray:
    """uint8 table for 0..65535: round(v * 255 / (2**bits - 1)), saturating at 255 above 2**bits - 1."""
    top = 2 ** bits - 1
    values = np.arange(MAX_INTEGER + 1, dtype=np.float32)
    return np.clip(np.rint(values * np.float32(255.0 / top)), 0, 255).astype(np.uint8)


_LUTS: dict[int, np.ndarray] = {}


def _lut(bits: int) -> np.ndarray:
    if bits not in _LUTS:
        _LUTS[bits] = scale_lut(bits)
    return _LUTS[bits]


def integers_to_uint8(arr: np.ndarray, name: str, bits: int | None = None) -> tuple[np.ndarray, int]:
    """Integer pixels -> (uint8 pixels, the bit depth used); see the module docstring for the rule."""
    if arr.dtype == np.uint8 and bits in (None, 8):
        return arr, 8
    low, high = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if low < 0 or high > MAX_INTEGER:
        raise GxrError(f"{name}: integer pixel values must lie in 0..65535 (found {low}..{high})")
    bits = bits or depth_for(high)
    index = arr if arr.dtype in (np.uint8, np.uint16) else arr.astype(np.uint16)
    return _lut(bits)[index], bits


def floats_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 round(value * 255); NaN, inf or values outside [0, 1] are refused.
    The checks run in the array's own precision (a float64 1e300 is out of range, not an overflow)."""
    if not arr.size:
        return np.zeros(arr.shape, np.uint8)
    finite = np.isfinite(arr)
    if not finite.all():
        kinds = [k for k, bad in (("NaN", np.isnan(arr).any()), ("inf", np.isinf(arr).any())) if bad]
        raise GxrError(f"{name}: float pixels contain {' and '.join(kinds)}; they must be finite, in [0, 1]")
    low, high = float(arr.min()), float(arr.max())
    if low < 0.0 or high > 1.0:
        raise GxrError(f"{name}: float pixel values must lie in [0, 1] (found {low:g}..{high:g})")
    return np.rint(arr.astype(np.float32, copy=False) * np.float32(255.0)).astype(np.uint8)


def to_uint8(arr: np.ndarray, name: str, bits: int | None = None) -> tuple[np.ndarray, int]:
    """Any numeric pixel array -> (uint8 array, bit depth used: 8 for uint8 and floats)."""
    kind = arr.dtype.kind
    if kind == "b":
        raise GxrError(f"{name}: boolean arrays are masks, not images; pass uint8, uint16 or float in [0, 1]")
    if kind in "iu":
        return integers_to_uint8(arr, name, bits)
    if kind == "f":
        return floats_to_uint8(arr, name), 8
    raise GxrError(f"{name}: unsupported pixel dtype {arr.dtype}; pass uint8, uint16 or float in [0, 1]")
