"""gxr: grayscale vs color ImageNet pre-training for chest X-rays, from training to deployment.

`import gxr` stays light (no torch, no TensorRT); `gxr.load` imports the runtime on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "load", "GxrError"]

from gxr.core.errors import GxrError


def __getattr__(name: str):
    if name == "load":
        from gxr.runtime import load

        return load
    raise AttributeError(f"module 'gxr' has no attribute {name!r}")
