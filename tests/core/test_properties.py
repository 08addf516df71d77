"""Property tests of decode -> to_model_pixels: whatever the mode, size or dtype, the result is uint8
C x S x S, or a one-line GxrError naming the input; nothing else escapes."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.preprocess import load_pixels

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from(["uint8", "uint16", "int16", "int32", "float16", "float32", "float64", "bool", "int8"])
SHAPES = st.one_of(hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=40),
                   st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 5)))
MODES = ["1", "L", "P", "LA", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F", "I;16", "LAB", "HSV", "La", "RGBa"]
FORMATS = ["PNG", "TIFF", "JPEG", "BMP", "WEBP", "GIF"]


def check(src, channels: int, size: int, name: str) -> None:
    """The property: uint8 channels x size x size, or a one-line GxrError that starts with the name."""
    try:
        out = load_pixels(src, channels, size, name=name)
    except GxrError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{name}: "), str(exc)
        return
    assert out.dtype == np.uint8 and out.shape == (channels, size, size) and out.flags.c_contiguous


@SETTINGS
@given(arr=hnp.arrays(DTYPES, SHAPES), channels=st.sampled_from([1, 3]), size=st.integers(8, 64))
def test_any_array(arr, channels, size):
    check(arr, channels, size, "array input")


@st.composite
def encoded_images(draw):
    """A real image of any mode and size, encoded in any format that can hold that mode."""
    height, width = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    base = draw(hnp.arrays(np.uint8, (height, width, 3)))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    img = Image.fromarray(base, "RGB")
    try:
        img = img.convert(mode) if mode not in ("LAB", "HSV") else Image.merge(mode, img.split())
        buf = io.BytesIO()
        img.save(buf, fmt)
    except (OSError, ValueError, KeyError):
        return None, img   # this format cannot hold this mode: the PIL image itself is still tested
    data = buf.getvalue()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]   # truncated anywhere
    return data, img


@SETTINGS
@given(case=encoded_images(), channels=st.sampled_from([1, 3]), size=st.integers(8, 64))
def test_any_mode_size_and_format(case, channels, size):
    data, img = case
    if data is not None:
        check(data, channels, size, "encoded input")
    check(img, channels, size, "PIL input")
