"""DICOM decoding: the exact uint8 pixels that reach the model, computed by hand from the DICOM rules."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gxr.core.errors import GxrError
from gxr.core.preprocess import decode, decode_pixels, load_pixels
from tests.core.dicom_files import NATIVE, dicom_dataset, encapsulated, in_syntax, palette_dataset, save, voi_lut_item

SIZE = 48   # images are SIZE x SIZE, so the model size needs no resize and every pixel is checked


@pytest.fixture(scope="module")
def raw12() -> np.ndarray:
    return np.random.default_rng(12).integers(0, 4096, (SIZE, SIZE), dtype=np.uint16)


def min_max_8bit(values: np.ndarray) -> np.ndarray:
    """No VOI: the image's own min..max maps linearly onto 0..255, rounded."""
    values = values.astype(np.float64)
    low, high = values.min(), values.max()
    return np.rint((values - low) * 255.0 / ((high - low) or 1.0)).astype(np.uint8)


def linear_window_8bit(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 (LINEAR) with output range 0..255."""
    c, w = center - 0.5, width - 1.0
    out = ((values.astype(np.float64) - c) / w + 0.5) * 255.0
    out[values <= c - w / 2] = 0
    out[values > c + w / 2] = 255
    return np.rint(out).astype(np.uint8)


def model_pixels(path) -> np.ndarray:
    """The single gray channel the model gets at its own size."""
    return load_pixels(path, 1, SIZE)[0]


def test_monochrome2_without_voi_scales_the_image_range(tmp_path, raw12):
    path = save(dicom_dataset(raw12), tmp_path / "m2.dcm")
    np.testing.assert_array_equal(model_pixels(path), min_max_8bit(raw12))
    meta = decode(path).meta
    assert meta["scaling"] == "image_min_max"
    assert meta["image_range"] == [int(raw12.min()), int(raw12.max())]


def test_monochrome1_is_inverted(tmp_path, raw12):
    path = save(dicom_dataset(raw12, "MONOCHROME1"), tmp_path / "m1.dcm")
    np.testing.assert_array_equal(model_pixels(path), 255 - min_max_8bit(raw12))
    assert "MONOCHROME1 inverted to MONOCHROME2" in decode(path).meta["notes"]


def test_first_window_is_applied_and_can_be_ignored(tmp_path, raw12):
    ds = dicom_dataset(raw12)
    ds.WindowCenter, ds.WindowWidth = [2048, 600], [1024, 300]   # two windows: the first is used
    path = save(ds, tmp_path / "window.dcm")
    np.testing.assert_array_equal(model_pixels(path), linear_window_8bit(raw12, 2048, 1024))
    assert decode(path).meta["voi"] == "window center 2048, width 1024"
    ignored = decode_pixels(path, 1, SIZE, apply_voi=False)
    np.testing.assert_array_equal(ignored[0][0], min_max_8bit(raw12))
    assert decode(path).meta["scaling"] == "window" and ignored[1]["scaling"] == "image_min_max"
    assert ignored[1]["voi"] is None and any("ignored" in n for n in ignored[1]["notes"])


def test_monochrome1_window_with_rescale(tmp_path, raw12):
    ds = dicom_dataset(raw12, "MONOCHROME1")
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    ds.WindowCenter, ds.WindowWidth = 1000, 2000   # in rescaled units
    path = save(ds, tmp_path / "rescaled.dcm")
    rescaled = raw12.astype(np.float64) * 2 - 1024
    # the window's output range is the rescaled stored range, -1024..7166, mapped onto 0..255
    y_min, y_max = -1024.0, 4095 * 2 - 1024.0
    c, w = 999.5, 1999.0
    y = np.where(rescaled <= c - w / 2, y_min, np.where(rescaled > c + w / 2, y_max,
                                                        ((rescaled - c) / w + 0.5) * (y_max - y_min) + y_min))
    expected = 255 - np.rint((y - y_min) * 255.0 / (y_max - y_min)).astype(np.uint8)
    np.testing.assert_array_equal(model_pixels(path), expected)


def test_voi_lut_sequence_wins_over_window(tmp_path, raw12):
    lut = np.rint(np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)   # a gamma-like VOI LUT
    ds = dicom_dataset(raw12)
    ds.VOILUTSequence = [voi_lut_item(lut)]
    ds.WindowCenter, ds.WindowWidth = 100, 10
    path = save(ds, tmp_path / "voilut.dcm")
    expected = np.rint(lut[raw12].astype(np.float64) * 255.0 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(model_pixels(path), expected)
    assert decode(path).meta["voi"] == "VOI LUT" and decode(path).meta["scaling"] == "voi_lut"


def test_signed_16_bit_and_8_bit_data(tmp_path):
    rng = np.random.default_rng(16)
    signed = rng.integers(-32768, 32768, (SIZE, SIZE), dtype=np.int16)
    path = save(dicom_dataset(signed, bits_stored=16), tmp_path / "signed.dcm")
    np.testing.assert_array_equal(model_pixels(path), min_max_8bit(signed))
    eight = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    path = save(dicom_dataset(eight, bits_stored=8), tmp_path / "eight.dcm")
    np.testing.assert_array_equal(model_pixels(path), eight)


def test_metadata_is_recorded(tmp_path, raw12):
    ds = dicom_dataset(raw12, "MONOCHROME1")
    ds.ImagerPixelSpacing = [0.139, 0.143]
    meta = decode(save(ds, tmp_path / "meta.dcm")).meta
    assert meta["photometric_interpretation"] == "MONOCHROME1" and meta["pixel_spacing_mm"] == [0.139, 0.143]
    assert meta["bits_stored"] == 12 and meta["format"] == "DICOM" and meta["modality"] == "DX"
    ds.PixelSpacing = [0.2, 0.2]   # Pixel Spacing, when present, is preferred to Imager Pixel Spacing
    assert decode(save(ds, tmp_path / "meta2.dcm")).meta["pixel_spacing_mm"] == [0.2, 0.2]


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless"])
def test_lossless_compressed_syntaxes_give_the_same_pixels(tmp_path, raw12, syntax):
    import pydicom.uid

    ds = dicom_dataset(raw12, "MONOCHROME1")
    ds.WindowCenter, ds.WindowWidth = 2048, 1024
    ds.compress(getattr(pydicom.uid, syntax))
    path = save(ds, tmp_path / f"{syntax}.dcm")
    np.testing.assert_array_equal(model_pixels(path), 255 - linear_window_8bit(raw12, 2048, 1024))
    assert decode(path).meta["transfer_syntax"] == getattr(pydicom.uid, syntax).name


def test_jpeg_baseline_matches_the_embedded_jpeg(tmp_path, data_root):
    import io

    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    gray = np.load(data_root / "pneumoniamnist.npz")["test_images"][0]   # a real 28 x 28 X-ray
    gray = np.asarray(Image.fromarray(gray).resize((SIZE, SIZE), Image.BILINEAR))
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "JPEG", quality=90)
    ds = dicom_dataset(gray, bits_stored=8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    path = save(ds, tmp_path / "jpeg.dcm")
    expected = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    got = model_pixels(path).astype(int)
    assert np.abs(got - expected).max() <= 2   # libjpeg vs libjpeg-turbo IDCT rounding


def test_unsupported_syntax_is_one_line_naming_it(tmp_path, raw12):
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML

    ds = dicom_dataset(raw12)
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    path = save(ds, tmp_path / "mpeg2.dcm")
    with pytest.raises(GxrError) as err:
        decode(path)
    message = str(err.value)
    assert "mpeg2.dcm" in message and "MPEG2" in message and "\n" not in message


def test_multiframe_uses_first_frame_with_a_note(tmp_path):
    frames = np.random.default_rng(3).integers(0, 4096, (3, SIZE, SIZE), dtype=np.uint16)
    path = save(dicom_dataset(frames), tmp_path / "multi.dcm")
    pixels, meta = decode_pixels(path, 1, SIZE)
    np.testing.assert_array_equal(pixels[0], min_max_8bit(frames[0]))
    assert meta["frames"] == 3 and "only the first frame was used" in meta["notes"][0]


def test_rgb_dicom_reaches_the_model_as_rgb(tmp_path):
    rgb = np.random.default_rng(5).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    path = save(dicom_dataset(rgb, "RGB", 8), tmp_path / "rgb.dcm")
    np.testing.assert_array_equal(load_pixels(path, 3, SIZE), rgb.transpose(2, 0, 1))


def test_dicom_without_pixel_data_and_without_pydicom(tmp_path, raw12, monkeypatch):
    ds = dicom_dataset(raw12)
    del ds.PixelData
    path = save(ds, tmp_path / "no pixels é.dcm")
    with pytest.raises(GxrError, match="no pixel data") as err:
        decode(path)
    assert str(path) in str(err.value)
    good = save(dicom_dataset(raw12), tmp_path / "good.dcm")
    monkeypatch.setitem(sys.modules, "pydicom", None)   # as on a machine without the extra
    with pytest.raises(GxrError, match=r"pip install 'gxr\[dicom\]'"):
        decode(good)


def test_8_bit_voi_lut_with_more_than_256_entries(tmp_path, raw12):
    """pydicom 3.0 alone wraps inputs above 255 through an 8-bit LUT (256 -> entry 0); gxr must not."""
    lut = (np.arange(4096) // 16).astype(np.uint8)
    ds = dicom_dataset(raw12)
    ds.VOILUTSequence = [voi_lut_item(lut, bits=8)]
    np.testing.assert_array_equal(model_pixels(save(ds, tmp_path / "lut8.dcm")), lut[raw12])


# --- licences: nothing GPL-family in what `pip install 'gxr[dicom]'` brings -------------------------------------

COPYLEFT = re.compile(r"\b(A|L)?GPL|GNU (Affero |Lesser |Library )?General Public License", re.IGNORECASE)


def dicom_extra_distributions() -> set[str]:
    """The distributions `gxr[dicom]` requires, from gxr's installed metadata, with their requirements
    followed recursively (their own extras are not followed: the extra does not ask for them)."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement  # pytest's own dependency

    def needed(spec: str, extra: str) -> str | None:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            return None
        return req.name

    todo = [name for spec in requires("gxr") or [] if (name := needed(spec, "dicom")) is not None
            and "extra" in str(Requirement(spec).marker)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        todo += [dep for spec in requires(name) or [] if (dep := needed(spec, "")) is not None]
    return seen


def licence_texts(name: str) -> list[str]:
    """The installed distribution's License-Expression, License field and licence classifiers. (Bundled
    third-party licence files are not scanned: numpy's wheel ships the GCC runtime's GPL-3.0 text with its
    runtime exception, and imagecodecs' LZF notice mentions an optional GPLv2 relicensing.)"""
    from importlib.metadata import metadata

    meta = metadata(name)
    texts = [meta.get("License-Expression") or "", meta.get("License") or ""]
    return texts + [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]


def test_dicom_extra_matches_the_installed_metadata():
    """The licence test reads gxr's installed metadata: it must be this checkout's `dicom` extra."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()   # no tomllib on Python 3.10
    line = re.search(r"^dicom = \[(.*)\]$", pyproject, re.MULTILINE).group(1)
    declared = {Requirement(s).name.lower() for s in re.findall(r'"([^"]+)"', line)}
    installed = {Requirement(s).name.lower() for s in requires("gxr") or []
                 if Requirement(s).marker is not None and Requirement(s).marker.evaluate({"extra": "dicom"})}
    assert installed == declared, "gxr's installed metadata is stale: pip install -e '.[dicom]'"


def test_dicom_extra_is_permissively_licensed():
    from importlib.metadata import PackageNotFoundError

    names = dicom_extra_distributions()
    assert {"pydicom", "numpy", "pylibjpeg-openjpeg", "pyjpegls", "imagecodecs"} <= names
    for name in sorted(names):
        try:
            texts = licence_texts(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} (required by gxr[dicom]) is not installed: pip install -e '.[dicom]'")
        assert any(t.strip() for t in texts), f"{name} declares no licence"
        hits = [COPYLEFT.search(t).group(0) for t in texts if COPYLEFT.search(t)]
        assert not hits, f"{name}: copyleft licence text {hits}"


def test_copyleft_pattern_catches_the_old_decoder():
    """The check above would have refused pylibjpeg-libjpeg (its metadata, as published)."""
    assert COPYLEFT.search("License :: OSI Approved :: GNU General Public License v3 (GPLv3)")
    assert COPYLEFT.search("GPL-3.0-or-later") and COPYLEFT.search("LGPL-2.1")
    assert not COPYLEFT.search("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0")


# --- no VOI: the image's own range (nuclear medicine: signed 16-bit, values in a small part of the range) ---------

@pytest.mark.parametrize(("low", "high"), [(0, 278), (-30, 245)])
def test_image_without_window_uses_its_own_range(tmp_path, low, high):
    values = np.random.default_rng(high).integers(low, high + 1, (SIZE, SIZE), dtype=np.int16)
    values[0, :2] = low, high
    ds = dicom_dataset(values, bits_stored=16)
    ds.Modality = "NM"
    path = save(ds, tmp_path / "nm.dcm")
    got = model_pixels(path)
    assert got.min() == 0 and got.max() == 255   # was a constant 128 when the stored range was used
    np.testing.assert_array_equal(got, min_max_8bit(values))
    order = np.argsort(values, axis=None, kind="stable")
    assert np.all(np.diff(got.ravel()[order].astype(int)) >= 0)   # the order of values is kept
    meta = decode(path).meta
    assert meta["scaling"] == "image_min_max" and meta["image_range"] == [low, high] and meta["voi"] is None


def test_image_range_is_taken_after_the_rescale(tmp_path):
    values = np.random.default_rng(7).integers(100, 600, (SIZE, SIZE), dtype=np.uint16)
    ds = dicom_dataset(values, bits_stored=16)
    ds.RescaleSlope, ds.RescaleIntercept = -0.5, 10   # a negative slope reverses the order: MONOCHROME2 follows it
    meta = decode(save(ds, tmp_path / "rescaled.dcm"))
    np.testing.assert_array_equal(model_pixels(tmp_path / "rescaled.dcm"), min_max_8bit(values * -0.5 + 10))
    rescaled = values * -0.5 + 10
    assert meta.meta["image_range"] == [rescaled.min(), rescaled.max()]


# --- one image in every transfer syntax decodes identically -------------------------------------------------------

@pytest.fixture(scope="module")
def xray12(data_root) -> np.ndarray:
    """A 12-bit crop of a real chest X-ray: its 8-bit gray * 16 plus 4 random low bits, so all 12 bits vary."""
    path = sorted((data_root / "fullsize").glob("*.png"))[0]
    with Image.open(path) as img:
        gray = np.asarray(img.crop((900, 700, 900 + SIZE, 700 + SIZE)).convert("L"), dtype=np.uint16)
    return gray * 16 + np.random.default_rng(4).integers(0, 16, gray.shape, dtype=np.uint16)


def jpeg_family_frame(pixels: np.ndarray, syntax: str) -> bytes:
    """A JPEG / HTJ2K stream for `syntax` from imagecodecs (the `dicom` extra's decoder, also an encoder)."""
    import imagecodecs

    bits = 8 if pixels.dtype == np.uint8 else 12
    if syntax == "HTJ2KLossless":
        return imagecodecs.htj2k_encode(pixels)
    if syntax == "JPEGExtended12Bit":
        return imagecodecs.jpeg8_encode(pixels, level=90, bitspersample=bits)
    predictor = 1 if syntax == "JPEGLosslessSV1" else 6   # Process 14 with any predictor, and SV1
    return imagecodecs.jpeg8_encode(pixels, lossless=True, predictor=predictor, bitspersample=bits)


PYDICOM_ENCODED = NATIVE + ("RLELossless", "JPEGLSLossless", "JPEG2000Lossless")
IMAGECODECS_ENCODED = ("JPEGLossless", "JPEGLosslessSV1", "HTJ2KLossless")
SOF = {"JPEGLossless": b"\xff\xc3", "JPEGLosslessSV1": b"\xff\xc3", "JPEGExtended12Bit": b"\xff\xc1"}


def written(ds, syntax: str, path: Path, pixels: np.ndarray) -> Path:
    if syntax in IMAGECODECS_ENCODED:
        frame = jpeg_family_frame(pixels, syntax)
        assert SOF.get(syntax, b"\xff\x4f") in frame[:400]   # the process the syntax names (SOF3, SOF1; J2K SOC)
        return save(encapsulated(ds, syntax, frame), path)
    return save(in_syntax(ds, syntax), path)


def stored_values(path: Path) -> np.ndarray:
    from gxr.core.dicom import first_frame, read_dataset

    return first_frame(read_dataset(path.read_bytes(), path.name), path.name)


@pytest.mark.parametrize("syntax", PYDICOM_ENCODED + IMAGECODECS_ENCODED)
def test_12_bit_image_decodes_identically_in_every_lossless_syntax(tmp_path, xray12, syntax):
    import pydicom.uid

    path = written(dicom_dataset(xray12), syntax, tmp_path / f"{syntax}.dcm", xray12)
    np.testing.assert_array_equal(stored_values(path), xray12)
    np.testing.assert_array_equal(model_pixels(path), min_max_8bit(xray12))
    assert decode(path).meta["transfer_syntax"] == getattr(pydicom.uid, syntax).name


def test_lossy_syntaxes_decode_to_what_their_codec_gives(tmp_path, xray12):
    """JPEG Extended 12-bit, JPEG 2000 and near-lossless JPEG-LS: gxr's pixels are the codec's own decode of
    the embedded stream (imagecodecs), and that decode is close to the original."""
    import imagecodecs
    import pydicom.uid
    from pydicom.encaps import generate_frames

    frame = jpeg_family_frame(xray12, "JPEGExtended12Bit")
    path = save(encapsulated(dicom_dataset(xray12), "JPEGExtended12Bit", frame), tmp_path / "ext12.dcm")
    cases = [(path, imagecodecs.jpeg8_decode(frame), 200)]
    for syntax, options, decoder, bound in [("JPEG2000", {"j2k_cr": [4]}, imagecodecs.jpeg2k_decode, 200),
                                            ("JPEGLSNearLossless", {"jls_error": 3}, imagecodecs.jpegls_decode, 3)]:
        ds = dicom_dataset(xray12)
        ds.compress(getattr(pydicom.uid, syntax), **options)
        stream = next(generate_frames(ds.PixelData, number_of_frames=1))
        cases.append((save(ds, tmp_path / f"{syntax}.dcm"), decoder(stream), bound))
    for path, expected, bound in cases:
        assert 0 < np.abs(expected.astype(int) - xray12).max() <= bound, path.name   # lossy, and close
        np.testing.assert_array_equal(stored_values(path), expected)
        np.testing.assert_array_equal(model_pixels(path), min_max_8bit(expected))


def test_8_bit_jpeg_lossless_and_baseline(tmp_path, xray12):
    import imagecodecs

    gray8 = (xray12 >> 4).astype(np.uint8)
    lossless = jpeg_family_frame(gray8, "JPEGLossless")
    path = save(encapsulated(dicom_dataset(gray8, bits_stored=8), "JPEGLossless", lossless), tmp_path / "ll8.dcm")
    np.testing.assert_array_equal(model_pixels(path), gray8)   # 8-bit data: used as is
    assert decode(path).meta["scaling"] == "bits_stored"
    baseline = imagecodecs.jpeg8_encode(gray8, level=85)
    path = save(encapsulated(dicom_dataset(gray8, bits_stored=8), "JPEGBaseline8Bit", baseline), tmp_path / "b.dcm")
    np.testing.assert_array_equal(model_pixels(path), imagecodecs.jpeg8_decode(baseline))


# --- PALETTE COLOR: LUTs in the file's byte order -----------------------------------------------------------------

@pytest.mark.parametrize("syntax", PYDICOM_ENCODED + ("JPEGLossless",))
def test_palette_image_decodes_identically_in_every_syntax(tmp_path, xray12, syntax):
    indices = (xray12 >> 4).astype(np.uint8)
    ramp = np.arange(256, dtype=np.float64) / 255
    luts = np.rint(np.stack([ramp, np.sqrt(ramp), 1 - ramp ** 2]) * 65535).astype(np.uint16)
    luts[:, 1::2] |= 0x00F0   # low bytes unlike the high ones, so a byte swap shows
    path = written(palette_dataset(indices, luts), syntax, tmp_path / f"palette-{syntax}.dcm", indices)
    expected = np.rint(luts[:, indices].transpose(1, 2, 0) * 255.0 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(load_pixels(path, 3, SIZE), expected.transpose(2, 0, 1))
    assert decode(path).meta["scaling"] == "palette"


def test_palette_first_mapped_value_and_8_bit_lut(tmp_path):
    indices = np.random.default_rng(9).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    luts = np.stack([np.arange(100, 228)] * 3).astype(np.uint16)   # 128 8-bit entries from index 100
    ds = palette_dataset(indices, luts, first_mapped=100)
    for color in ("Red", "Green", "Blue"):
        ds[f"{color}PaletteColorLookupTableDescriptor"].value = [128, 100, 8]
    expected = luts[0][np.clip(indices.astype(int) - 100, 0, 127)]   # below / above the table: first / last
    got = load_pixels(save(ds, tmp_path / "palette8.dcm"), 3, SIZE)
    np.testing.assert_array_equal(got, np.stack([expected] * 3).astype(np.uint8))


# --- 32-bit RGB, and the pixel limit before decoding ----------------------------------------------------------------

def test_32_bit_rgb_is_mapped_by_its_own_range(tmp_path):
    rgb = np.random.default_rng(32).integers(2 ** 20, 2 ** 31, (SIZE, SIZE, 3), dtype=np.uint32)
    ds = dicom_dataset(np.zeros((SIZE, SIZE, 3), np.uint8), "RGB", 8)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelData = rgb.astype("<u4").tobytes()
    ds["PixelData"].VR = "OW"
    path = save(ds, tmp_path / "rgb32.dcm")
    low, high = int(rgb.min()), int(rgb.max())
    expected = np.rint((rgb.astype(np.float64) - low) * 255.0 / (high - low)).astype(np.uint8)
    np.testing.assert_array_equal(load_pixels(path, 3, SIZE), expected.transpose(2, 0, 1))
    meta = decode(path).meta
    assert meta["scaling"] == "image_min_max" and meta["image_range"] == [low, high]


def test_pixel_limit_applies_before_any_decoder(tmp_path, monkeypatch):
    import gxr.core.dicom as dicom

    ds = encapsulated(dicom_dataset(np.zeros((SIZE, SIZE), np.uint8), bits_stored=8), "JPEGBaseline8Bit",
                      bytes.fromhex("ffd8ffd9"))
    ds.Rows = ds.Columns = 20_000   # 400 million pixels, announced by a few bytes
    path = save(ds, tmp_path / "bomb.dcm")

    def never(*args):
        raise AssertionError("a decoder ran")

    monkeypatch.setattr(dicom, "first_frame", never)
    with pytest.raises(GxrError, match="20000 x 20000 pixels is over gxr's limit") as err:
        decode(path)
    assert "bomb.dcm" in str(err.value)


def test_each_compressed_syntax_goes_to_the_extras_decoder():
    """JPEG to imagecodecs and JPEG-LS to pyjpegls even where pylibjpeg-libjpeg (GPL-3.0) is also installed."""
    import pydicom.uid

    from gxr.core.dicom import choose_plugin

    expected = {"JPEGBaseline8Bit": "imagecodecs", "JPEGExtended12Bit": "imagecodecs", "JPEGLossless": "imagecodecs",
                "JPEGLosslessSV1": "imagecodecs", "JPEGLSLossless": "pyjpegls", "JPEGLSNearLossless": "pyjpegls",
                "JPEG2000Lossless": "pylibjpeg", "JPEG2000": "pylibjpeg", "HTJ2KLossless": "pylibjpeg",
                "HTJ2KLosslessRPCL": "pylibjpeg", "HTJ2K": "pylibjpeg"}
    got = {name: choose_plugin(getattr(pydicom.uid, name)) for name in expected}
    assert got == expected
    assert choose_plugin(pydicom.uid.RLELossless) in ("pylibjpeg", "pydicom")   # pylibjpeg-rle when installed
