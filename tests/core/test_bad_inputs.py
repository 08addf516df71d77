"""The bad-input suite: every kind of broken input is a one-line GxrError naming the input, never a crash,
and good inputs decode the same before and after a bad one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.preprocess import load_pixels, to_model_pixels
from tests.helpers import bomb_png


def good_png(path: Path, side: int = 32) -> Path:
    Image.fromarray(np.arange(side * side, dtype=np.uint32).reshape(side, side).astype(np.uint8)).save(path)
    return path


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return make


def _truncated(fmt: str, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, fmt)
        path = tmp / name
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        return path
    return make


def _dicom_without_pixels(tmp: Path) -> Path:
    from tests.core.dicom_files import dicom_dataset, save

    ds = dicom_dataset(np.zeros((16, 16), np.uint16))
    del ds.PixelData
    return save(ds, tmp / "no pixels.dcm")


def _tiny_png(tmp: Path) -> Path:
    path = tmp / "one pixel.png"
    Image.new("L", (1, 1), 128).save(path)
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "a folder.png"
    path.mkdir()
    return path


def _unicode_text(tmp: Path) -> Path:
    path = tmp / "Röntgen bild 肺.png"
    path.write_text("not an image at all\n")
    return path


FILES = {
    "zero-byte file": (_file("empty.png", b""), "empty file"),
    "truncated PNG": (_truncated("PNG", "cut.png"), "cannot decode image"),
    "truncated JPEG": (_truncated("JPEG", "cut.jpg"), "cannot decode image"),
    "text file named .png": (_file("notes.png", b"hello, I am text\n" * 20), "not an image file"),
    "decompression bomb": (_file("bomb.png", bomb_png(50000, 50000)), "over gxr's limit"),
    "directory": (_directory, "is a directory"),
    "missing file": (lambda tmp: tmp / "missing.png", "not found"),
    "DICOM without pixel data": (_dicom_without_pixels, "no pixel data"),
    "unicode and spaces in path": (_unicode_text, "not an image file"),
    "1x1 image": (_tiny_png, "too small"),
    "garbage DICOM": (_file("junk.dcm", bytes(128) + b"DICM" + b"\xff" * 40), "DICOM"),
}

ARRAYS = {
    "NaN": (np.full((16, 16), np.nan, np.float32), "NaN"),
    "inf": (np.where(np.eye(16) > 0, np.inf, 0.5).astype(np.float64), "inf"),
    "float out of range": (np.full((16, 16), 3.0, np.float32), "[0, 1]"),
    "negative integers": (np.full((16, 16), -5, np.int16), "0..65535"),
    "32-bit integers over 16 bits": (np.full((16, 16), 70000, np.int32), "0..65535"),
    "complex": (np.zeros((16, 16), np.complex64), "unsupported pixel dtype"),
    "object": (np.full((16, 16), None, object), "unsupported pixel dtype"),
    "strings": (np.full((16, 16), "a"), "unsupported pixel dtype"),
    "bool mask": (np.ones((16, 16), bool), "boolean"),
    "two channels": (np.zeros((16, 16, 2), np.uint8), "shape (16, 16, 2)"),
    "five channels": (np.zeros((16, 16, 5), np.uint8), "channels last"),
    "channels first": (np.zeros((3, 16, 16), np.uint8), "shape (3, 16, 16)"),
    "4-D batch": (np.zeros((2, 16, 16, 3), np.uint8), "shape (2, 16, 16, 3)"),
    "1-D": (np.zeros(256, np.uint8), "shape (256,)"),
    "0x0": (np.zeros((0, 0), np.uint8), "0 x 0"),
    "1x1": (np.zeros((1, 1), np.uint8), "too small"),
}


def assert_clear(err: pytest.ExceptionInfo, needle: str, *names: str) -> None:
    message = str(err.value)
    assert "\n" not in message and needle in message, message
    for name in names:
        assert message.startswith(f"{name}: "), message


@pytest.mark.parametrize("case", FILES)
def test_bad_files_are_clear_errors_naming_the_file(tmp_path, case):
    make, needle = FILES[case]
    path = make(tmp_path)
    good = good_png(tmp_path / "good.png")
    before = load_pixels(good, 1, 16)
    for src in (path, str(path)):
        with pytest.raises(GxrError) as err:
            load_pixels(src, 1, 16)
        assert_clear(err, needle, str(path))
    if path.is_file() and path.stat().st_size:
        with pytest.raises(GxrError) as err:   # the same bytes, named by the caller
            load_pixels(path.read_bytes(), 3, 16, name="upload 7")
        assert_clear(err, needle, "upload 7")
    np.testing.assert_array_equal(load_pixels(good, 1, 16), before)


@pytest.mark.parametrize("case", ARRAYS)
def test_bad_arrays_are_clear_errors(case):
    arr, needle = ARRAYS[case]
    with pytest.raises(GxrError) as err:
        load_pixels(arr, 1, 16, name=f"batch[{case}]")
    assert_clear(err, needle, f"batch[{case}]")


@pytest.mark.parametrize("value", [None, 3, 2.5, ["a.png"], {"path": "a.png"}])
def test_wrong_python_types_are_clear_errors(value):
    """Was: a raw AttributeError for None or an int."""
    with pytest.raises(GxrError, match=f"got {type(value).__name__}"):
        load_pixels(value, 1, 16)


def test_unconvertible_and_tiny_pil_images(tmp_path):
    with pytest.raises(GxrError, match="too small"):
        to_model_pixels(Image.new("RGB", (1, 1)), 3, 16)
    truncated = tmp_path / "half.png"
    _truncated("PNG", "half.png")(tmp_path)
    lazy = Image.open(truncated)   # opened by the caller, pixels not read yet
    with pytest.raises(GxrError) as err:
        load_pixels(lazy, 1, 16)
    assert_clear(err, "cannot decode image", str(truncated))


def test_unicode_and_spaces_in_a_good_path(tmp_path):
    good = good_png(tmp_path / "patient 01 – Röntgen 肺.png")
    np.testing.assert_array_equal(load_pixels(good, 1, 32)[0], np.asarray(Image.open(good)))
