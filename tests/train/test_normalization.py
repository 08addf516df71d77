"""One normalization: the statistics (Luma average for gray, replication for color) and the same numbers
from the host (`Normalization.apply`), the training transform and the uint8-input export wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gxr.core.errors import GxrError
from gxr.core.modelinfo import ModelInfo
from gxr.core.normalization import IMAGENET_MEAN, IMAGENET_STD, LUMA, Normalization
from gxr.nets.pixel_input import PixelInput
from gxr.train.pipeline import DeviceTransform


def _pixels(channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (3, channels, 9, 7), dtype=np.uint8)


def test_gray_statistics_are_the_luma_average_of_imagenet():
    gray = Normalization.default(1)
    assert gray.mean == pytest.approx((0.299 * 0.485 + 0.587 * 0.456 + 0.114 * 0.406,))
    assert gray.std == pytest.approx((0.299 * 0.229 + 0.587 * 0.224 + 0.114 * 0.225,))
    assert Normalization.default(3) == Normalization(IMAGENET_MEAN, IMAGENET_STD)
    assert Normalization.default(3).for_channels(1) == gray
    assert gray.for_channels(3) == Normalization(gray.mean * 3, gray.std * 3)
    assert gray.for_channels(1) is gray and sum(LUMA) == pytest.approx(1.0)
    assert ModelInfo("resnet18", 1, 32, "binary", ["x"]).norm == gray   # what model.pt records by default


def test_apply_is_the_formula_and_arrays_have_the_model_layout():
    norm = Normalization((0.1, 0.5, 0.9), (0.2, 0.25, 0.5))
    mean, std = norm.arrays(3)
    assert mean.shape == std.shape == (1, 3, 1, 1) and mean.dtype == std.dtype == np.float32
    pixels = _pixels(3)
    expected = (pixels.astype(np.float64) / 255 - np.array([0.1, 0.5, 0.9]).reshape(1, 3, 1, 1)) \
        / np.array([0.2, 0.25, 0.5]).reshape(1, 3, 1, 1)
    out = norm.apply(pixels)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(GxrError, match="3 values per statistic, cannot apply it to 1 channel"):
        norm.arrays(1)


@pytest.mark.parametrize("channels", [1, 3])
def test_host_device_and_export_wrapper_normalize_identically(channels):
    norm = Normalization.default(channels)
    pixels = _pixels(channels, seed=channels)
    host = norm.apply(pixels)
    device = DeviceTransform(norm, channels, torch.device("cpu"))(torch.from_numpy(pixels)).numpy()
    wrapper = PixelInput(torch.nn.Identity(), norm, channels)(torch.from_numpy(pixels)).numpy()
    np.testing.assert_array_equal(device, host)
    np.testing.assert_array_equal(wrapper, host)


def test_gray_pixels_fed_to_a_color_wrapper_are_replicated():
    norm = Normalization.default(3)
    gray = _pixels(1)
    out = PixelInput(torch.nn.Identity(), norm, 3)(torch.from_numpy(gray)).numpy()
    np.testing.assert_array_equal(out, norm.apply(np.repeat(gray, 3, axis=1)))
