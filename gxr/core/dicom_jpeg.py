"""A pydicom decoding plugin for the JPEG family (baseline, extended 12-bit, lossless) with imagecodecs.

pydicom 3 decodes these syntaxes with pylibjpeg-libjpeg (GPL-3.0), GDCM (which refuses 12-bit JPEG Extended)
or Pillow (8-bit lossy only). imagecodecs (BSD-3-Clause) bundles libjpeg-turbo 3, which decodes all three
processes at 2..16 bits. `register()` adds it to pydicom's decoders under the label "imagecodecs"; this module
has the `is_available` / `DECODER_DEPENDENCIES` / frame-function shape pydicom's plugin loader requires.
"""

from __future__ import annotations

import numpy as np

LABEL = "imagecodecs"
SYNTAX_NAMES = ("JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLossless", "JPEGLosslessSV1")


def _syntaxes() -> list[str]:
    import pydicom.uid

    return [getattr(pydicom.uid, name) for name in SYNTAX_NAMES]


def _dependencies() -> dict[str, tuple[str, ...]]:
    try:
        return {uid: ("numpy", "imagecodecs") for uid in _syntaxes()}
    except ImportError:   # pydicom missing: nothing to register anyway
        return {}


DECODER_DEPENDENCIES = _dependencies()


def is_available(uid: str) -> bool:
    """True when imagecodecs is installed with its JPEG codec and `uid` is a JPEG-family syntax."""
    try:
        import imagecodecs
    except ImportError:
        return False
    return uid in DECODER_DEPENDENCIES and bool(imagecodecs.JPEG8.available)


def decode_frame(src: bytes, runner) -> bytes:
    """One encoded JPEG frame -> its samples, colour-by-pixel; YCbCr is converted to RGB by libjpeg."""
    import imagecodecs
    from pydicom.pixels.common import PhotometricInterpretation as PI

    try:
        arr = imagecodecs.jpeg8_decode(src)
    except Exception:   # libjpeg-turbo refuses a few odd lossless streams that liblj92 reads
        arr = imagecodecs.ljpeg_decode(src)
    arr = np.ascontiguousarray(arr)
    runner.set_option("bits_allocated", 8 * arr.dtype.itemsize)
    if runner.samples_per_pixel > 1:
        runner.set_option("planar_configuration", 0)
        if str(runner.photometric_interpretation).startswith("YBR"):
            runner.set_option("photometric_interpretation", PI.RGB)
    return arr.tobytes()


def register() -> None:
    """Add the plugin to pydicom's JPEG-family decoders (once; a no-op without pydicom)."""
    from pydicom.pixels import get_decoder

    for uid in _syntaxes():
        try:
            get_decoder(uid).add_plugin(LABEL, (__name__, "decode_frame"))
        except ValueError:   # already registered
            pass
