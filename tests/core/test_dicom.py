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
from tests.core.dicom_files import dicom_dataset, save, voi_lut_item

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
