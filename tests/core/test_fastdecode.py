"""The fast input path: libspng (the `fast` extra) gives Pillow's pixels, Pillow takes over when the extra is
absent or libspng fails, gxr's size limits apply before any decoder runs, and the reduce / gray-first order
change full-size pixels and predictions only within the stated tolerance."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from gxr.core import fastdecode
from gxr.core.errors import GxrError
from gxr.core.imagefile import MAX_PIXELS
from gxr.core.preprocess import decode, decode_pixels, load_pixels, open_image, to_model_pixels
from tests.helpers import bomb_png

HAS_FAST = fastdecode.fast_png_available()
needs_fast = pytest.mark.skipif(not HAS_FAST, reason="the 'fast' extra (imagecodecs) is not installed")


def png(arr: np.ndarray, mode: str, **save) -> bytes:
    buf = io.BytesIO()
    (Image.fromarray(arr) if mode == "I;16" else Image.fromarray(arr, mode)).save(buf, "PNG", **save)
    return buf.getvalue()


def small_pngs() -> dict[str, bytes]:
    """8-bit L, RGB, RGBA (libspng's), one with an EXIF orientation, and modes left to Pillow."""
    rng = np.random.default_rng(0)
    gray, rgb = rng.integers(0, 256, (37, 53), np.uint8), rng.integers(0, 256, (37, 53, 3), np.uint8)
    rgba = rng.integers(0, 256, (37, 53, 4), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    plain = png(rgb, "RGB")
    return {"L": png(gray, "L"), "RGB": plain, "RGBA": png(rgba, "RGBA"), "L exif": png(gray, "L", exif=exif),
            "RGB gAMA": _with_chunk(plain, b"gAMA", struct.pack(">I", 100000)),        # neither applies gamma
            "RGB tRNS": _with_chunk(plain, b"tRNS", struct.pack(">HHH", 1, 2, 3)),     # both ignore it for RGB
            "P": _palette(rgb), "I;16": png(gray.astype(np.uint16) * 257, "I;16")}


def _with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """`data` with one more chunk right after IHDR (which ends at byte 33)."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:33] + chunk + data[33:]


def _palette(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").convert("P").save(buf, "PNG")
    return buf.getvalue()


@needs_fast
def test_libspng_gives_pillows_pixels_on_the_real_full_size_files(data_root):
    for path in sorted((data_root / "fullsize").glob("*.png"))[:4]:
        fast, slow = decode(path, decoders="auto"), decode(path, decoders="pillow")
        assert "decoded by libspng" in fast.meta["notes"] and "decoded by libspng" not in slow.meta["notes"]
        assert fast.meta["format"] == slow.meta["format"] == "PNG" and fast.image.mode == slow.image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(fast.image), np.asarray(slow.image))


@needs_fast
def test_libspng_and_pillow_agree_on_every_png_kind():
    for kind, data in small_pngs().items():
        fast, slow = decode(data, decoders="auto"), decode(data, decoders="pillow")
        assert ("decoded by libspng" in fast.meta["notes"]) == (kind not in ("P", "I;16")), kind
        assert fast.meta["notes"][-1:] == slow.meta["notes"][-1:] or kind != "L exif", kind
        np.testing.assert_array_equal(np.asarray(fast.image), np.asarray(slow.image), err_msg=kind)
        for channels in (1, 3):
            np.testing.assert_array_equal(load_pixels(data, channels, 24),
                                          decode_pixels(data, channels, 24, decoders="pillow")[0], err_msg=kind)
    assert "EXIF orientation 6 applied" in decode(small_pngs()["L exif"]).meta["notes"]


def test_without_the_extra_or_when_libspng_fails_pillow_decodes(monkeypatch):
    data = small_pngs()["RGB"]
    expected = np.asarray(decode(data, decoders="pillow").image)
    monkeypatch.setattr(fastdecode, "fast_png_available", lambda: False)
    absent = decode(data)
    assert "decoded by libspng" not in absent.meta["notes"]
    np.testing.assert_array_equal(np.asarray(absent.image), expected)
    if HAS_FAST:
        import imagecodecs

        monkeypatch.setattr(fastdecode, "fast_png_available", lambda: True)
        monkeypatch.setattr(imagecodecs, "spng_decode", _raise)
        failed = decode(data)
        assert "decoded by libspng" not in failed.meta["notes"]
        np.testing.assert_array_equal(np.asarray(failed.image), expected)
    monkeypatch.setenv("GXR_DECODERS", "pillow")
    assert fastdecode.default_decoders() == "pillow"


def _raise(*args, **kwargs):
    raise RuntimeError("libspng must not run here")


def test_truncated_png_is_one_line_error_on_both_paths():
    data = small_pngs()["RGB"]
    for decoders in ("auto", "pillow"):
        with pytest.raises(GxrError, match="cannot decode image"):
            decode(data[: len(data) // 2], "cut.png", decoders=decoders)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 marker is rewritten to declare width x height."""
    buf = io.BytesIO()
    Image.new("L", (16, 16), 90).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_size_limits_apply_before_any_decoder_runs(monkeypatch, kind):
    """Over gxr's limit but under Pillow's own bomb limit (so gxr's check is the one that must stop it), and
    far over both: neither libspng nor Pillow's decoder (draft or full) ever runs."""
    calls = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append("pillow") or _raise())
    if HAS_FAST:
        import imagecodecs

        monkeypatch.setattr(imagecodecs, "spng_decode", lambda *a, **k: calls.append("libspng") or _raise())
    make = bomb_png if kind == "png" else jpeg_declaring
    for width, height in ((13_000, 12_000), (50_000, 50_000)):
        assert width * height > MAX_PIXELS
        for decoders in ("auto", "pillow"):
            with pytest.raises(GxrError, match="over gxr's limit"):
                decode_pixels(make(width, height), 1, 299, "bomb", decoders=decoders)
    assert calls == []


def test_gray_before_resize_is_exact_for_equal_channels_and_within_two_levels_for_colour(data_root):
    """Luma then resize (what gxr does: one plane to resize) vs resize then Luma: each order rounds twice, so
    they can differ by up to 2 levels on colour images (bench/decoders.py measures it on real photos)."""
    path = sorted((data_root / "fullsize").glob("*.png"))[0]
    rgb = open_image(path)
    for gap in (None, 2.0):
        first = to_model_pixels(rgb, 1, 299, reducing_gap=gap)[0]
        after = np.asarray(Image.fromarray(to_model_pixels(rgb, 3, 299, reducing_gap=gap).transpose(1, 2, 0))
                           .convert("L"))
        np.testing.assert_array_equal(first, after)
    colour = np.random.default_rng(1).integers(0, 256, (300, 340, 3), np.uint8)
    img = Image.fromarray(colour).resize((600, 680), Image.BILINEAR)   # smooth colour, like a photo
    first = to_model_pixels(img, 1, 64)[0].astype(int)
    after = np.asarray(Image.fromarray(to_model_pixels(img, 3, 64).transpose(1, 2, 0)).convert("L")).astype(int)
    assert 0 < np.abs(first - after).max() <= 2


def test_reduce_changes_full_size_predictions_within_the_stated_tolerance(data_root, cli_runs):
    """The old path (Pillow decoders, a direct bilinear resize of the whole image) against the new one on the
    12 real full-size radiographs, through a ResNet-18 trained on real PneumoniaMNIST (32 px; its probabilities
    on these files span 0.005..0.999): pixels differ by a mean of 0.21 gray levels (measured), probabilities by
    at most 0.012 (measured); the stated tolerances are 0.3 levels and 0.02, with the same predicted labels."""
    from gxr.runtime import load

    files = sorted((data_root / "fullsize").glob("*.png"))
    with load(cli_runs["gray"]) as model:
        size = model.info.image_size
        old = [to_model_pixels(open_image(f, decoders="pillow"), 1, size, reducing_gap=None)[0] for f in files]
        new = [load_pixels(f, 1, size)[0] for f in files]
        assert 0 < np.abs(np.stack(old).astype(int) - np.stack(new)).mean() < 0.3
        p_old, p_new = model.predict(old), model.predict([str(f) for f in files])
    assert np.ptp(p_old) > 0.5 and np.abs(p_old - p_new).max() < 0.02
    np.testing.assert_array_equal(p_old > 0.5, p_new > 0.5)


def test_fast_extra_is_permissively_licensed():
    """Every package the `fast` extra declares (pyproject.toml) is installed under a non-copyleft licence."""
    import re
    from importlib.metadata import metadata

    from packaging.requirements import Requirement  # pytest's own dependency

    from tests.core.test_dicom import COPYLEFT, licence_texts

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    names = [Requirement(s).name for s in re.findall(r'"([^"]+)"', re.search(r"^fast = \[(.*)\]$", pyproject,
                                                                             re.MULTILINE).group(1))]
    assert names == ["imagecodecs"]
    for name in names:
        pytest.importorskip(name)
        texts = [t for t in licence_texts(name) if t]
        assert texts and not any(COPYLEFT.search(t) for t in texts), (name, texts)
    assert "BSD-3-Clause" in metadata("imagecodecs").get("License-Expression", metadata("imagecodecs")["License"])
