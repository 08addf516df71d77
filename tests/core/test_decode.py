"""Files and arrays to model pixels: one bit-depth rule per source, modes, EXIF, JPEG draft, size limits.

Real images come from the shared data (PneumoniaMNIST X-rays, a full-size radiograph); every file is written
to tmp_path by the test."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from gxr.core.errors import GxrError
from gxr.core.preprocess import decode, decode_pixels, load_pixels, open_image, to_model_pixels
from tests.helpers import REPO, bomb_png


@pytest.fixture(scope="module")
def xrays(data_root) -> np.ndarray:
    """Eight real 28 x 28 chest X-rays (uint8)."""
    return np.load(data_root / "pneumoniamnist.npz")["test_images"][:8]


def png_bytes(arr: np.ndarray, sbit: int | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if sbit:
        info.add(b"sBIT", bytes([sbit]))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_12_bit_data_in_a_16_bit_png_keeps_its_brightness(xrays):
    """Was: divided by 65535, so 12-bit images came out nearly black."""
    for x in xrays:
        twelve = np.rint(x.astype(np.float64) * 4095 / 255).astype(np.uint16)
        data = png_bytes(twelve)
        assert Image.open(io.BytesIO(data)).mode.startswith("I")   # really a 16-bit PNG
        np.testing.assert_array_equal(load_pixels(data, 1, 28)[0], x)
        assert decode(data).meta["bits"] == 12


def test_png_sbit_chunk_sets_the_bit_depth(xrays):
    ten = np.rint(xrays[0].astype(np.float64) * 1023 / 255).astype(np.uint16)
    np.testing.assert_array_equal(load_pixels(png_bytes(ten, sbit=10), 1, 28)[0], xrays[0])
    # the file says 16 bits: its 10-bit values are then dark, as the file declares
    dark = load_pixels(png_bytes(ten, sbit=16), 1, 28)[0]
    np.testing.assert_array_equal(dark, np.rint(ten * (255.0 / 65535)).astype(np.uint8))


def test_16_bit_tiff_and_uint16_array_follow_the_same_rule(xrays):
    full = xrays[1].astype(np.uint16) * 257   # 0..65535
    buf = io.BytesIO()
    Image.fromarray(full).save(buf, "TIFF")
    np.testing.assert_array_equal(load_pixels(buf.getvalue(), 1, 28)[0], xrays[1])
    np.testing.assert_array_equal(load_pixels(full, 1, 28)[0], xrays[1])


def test_float_tiff_in_unit_range_equals_the_same_numpy_array(xrays):
    """Was: the TIFF was min-max stretched while the array was not."""
    unit = (xrays[2].astype(np.float32) / 255.0) * 0.5 + 0.25   # 0.25..0.75: a stretch would show
    buf = io.BytesIO()
    Image.fromarray(unit, "F").save(buf, "TIFF")
    from_tiff, from_array = load_pixels(buf.getvalue(), 1, 28), load_pixels(unit, 1, 28)
    np.testing.assert_array_equal(from_tiff, from_array)
    np.testing.assert_array_equal(from_array[0], np.rint(unit * np.float32(255)).astype(np.uint8))
    out_of_range = io.BytesIO()
    Image.fromarray(unit * 1000, "F").save(out_of_range, "TIFF")
    with pytest.raises(GxrError, match=r"must lie in \[0, 1\]"):
        load_pixels(out_of_range.getvalue(), 1, 28)


def test_palette_rgba_la_and_rgb_go_through_luma(xrays):
    gray = Image.fromarray(xrays[3])
    expected = to_model_pixels(gray, 1, 28)
    for mode in ("P", "RGBA", "LA", "RGB"):
        np.testing.assert_array_equal(load_pixels(gray.convert(mode), 1, 28), expected, err_msg=mode)
    rgb = np.stack([xrays[3], xrays[4], xrays[5]], -1)
    luma = np.rint(rgb @ np.array([0.299, 0.587, 0.114])).astype(int)
    assert np.abs(load_pixels(rgb, 1, 28)[0].astype(int) - luma).max() <= 1   # Pillow's fixed-point Luma


def test_lab_tiff_decodes_to_its_rgb_colors(xrays):
    """Was: `conversion from LAB to L/RGB not supported` traceback."""
    from PIL import ImageCms

    rgb = Image.fromarray(np.stack([xrays[6]] * 3, -1))
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    buf = io.BytesIO()
    ImageCms.applyTransform(rgb, to_lab).save(buf, "TIFF")
    assert Image.open(io.BytesIO(buf.getvalue())).mode == "LAB"
    got = load_pixels(buf.getvalue(), 1, 28)[0].astype(int)
    assert np.abs(got - xrays[6]).max() <= 3   # LAB's 8-bit quantization


def test_exif_orientation_is_applied(xrays):
    wide = np.concatenate([xrays[0], np.zeros((28, 12), np.uint8)], axis=1)   # 40 x 28, dark band on the right
    exif = Image.Exif()
    exif[0x0112] = 6   # stored rotated: display = rotate 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, "PNG", exif=exif)
    decoded = decode(buf.getvalue())
    assert decoded.image.size == (28, 40) and "EXIF orientation 6 applied" in decoded.meta["notes"]
    np.testing.assert_array_equal(np.asarray(decoded.image), np.rot90(wide, -1))


def test_full_size_jpeg_uses_draft_mode(data_root, tmp_path):
    path = sorted((data_root / "fullsize").glob("*.png"))[0]
    full = Image.open(path).convert("RGB")
    jpeg = tmp_path / "radiograph with spaces é.jpg"
    full.save(jpeg, quality=92)
    pixels, meta = decode_pixels(jpeg, 1, 299)
    assert meta["width"] == full.width and any("draft mode" in n for n in meta["notes"])
    reduced = decode(jpeg, model_size=299).image
    assert min(reduced.size) >= 299 and reduced.width <= full.width // 2
    exact = to_model_pixels(open_image(jpeg), 1, 299)
    assert pixels.shape == (1, 299, 299) and np.abs(pixels.astype(int) - exact).mean() < 2.0


def decode_in_subprocess(path) -> subprocess.CompletedProcess:
    """load_pixels in a fresh interpreter with default warning filters: what a user's console shows."""
    code = ("import sys\nfrom gxr.core.errors import GxrError\nfrom gxr.core.preprocess import load_pixels\n"
            f"try:\n    print(load_pixels({str(path)!r}, 1, 64).shape)\nexcept GxrError as e:\n    print(e)\n"
            "    sys.exit(2)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("side, problem", [(50000, "over gxr's limit"), (10000, "cannot decode image")])
def test_huge_declared_sizes_are_one_line_errors_without_pillow_warnings(tmp_path, side, problem):
    """Was: DecompressionBombError traceback (50000^2); Pillow's warning lines first (100 megapixels)."""
    path = tmp_path / f"bomb{side}.png"
    path.write_bytes(bomb_png(side, side))
    out = decode_in_subprocess(path)
    assert out.returncode == 2 and out.stderr == "", out.stderr
    assert out.stdout.strip().startswith(f"{path}: ") and problem in out.stdout and out.stdout.count("\n") == 1


def test_damaged_dicom_and_transparent_palette_print_no_library_warnings(tmp_path):
    damaged = tmp_path / "damaged.dcm"
    damaged.write_bytes(bytes(128) + b"DICM" + b"\xff" * 40)
    out = decode_in_subprocess(damaged)
    assert out.returncode == 2 and out.stderr == "" and "damaged.dcm: " in out.stdout, out.stderr
    palette = Image.new("P", (32, 32), 3)
    palette.info["transparency"] = 3
    palette.save(tmp_path / "palette.png")
    out = decode_in_subprocess(tmp_path / "palette.png")
    assert out.returncode == 0 and out.stderr == "" and out.stdout.strip() == "(1, 64, 64)", out.stderr
