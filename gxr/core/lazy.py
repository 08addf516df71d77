"""Optional dependencies, imported on first use with an install hint (after Polygraphy's `lazy_import`).

`import gxr` and `gxr --help` must not import torch, onnxruntime, openvino or tensorrt: every module that
needs one asks for it here, inside the function that uses it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from gxr.core.errors import GxrError

# module -> what to install (pip extra of gxr, or the package)
INSTALL_HINTS: dict[str, str] = {
    "torch": "pip install 'gxr[train]'",
    "torchvision": "pip install 'gxr[train]'",
    "onnxruntime": "pip install 'gxr[cpu]' (or 'gxr[gpu]' on CUDA machines, never both)",
    "openvino": "pip install 'gxr[openvino]'",
    "tensorrt": "on a CUDA machine: pip install 'gxr[gpu]' (tensorrt, cuda-python, onnxruntime-gpu; "
                "not together with onnxruntime)",
    "pydicom": "pip install 'gxr[dicom]'",
    "matplotlib": "pip install 'gxr[plots]'",
    "onnxscript": "pip install onnxscript",
    "onnxconverter_common": "pip install 'gxr[quantize]'",
}
NAMES = {"tensorrt": "TensorRT", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "torch": "PyTorch",
         "pydicom": "pydicom", "matplotlib": "matplotlib"}


def available(module: str) -> bool:
    """True if `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def lazy_import(module: str, purpose: str = "") -> ModuleType:
    """Import `module` now, or raise GxrError saying what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        hint = INSTALL_HINTS.get(top, f"pip install {top}")
        needed = f" (needed for {purpose})" if purpose else ""
        raise GxrError(f"{NAMES.get(top, top)} is not installed on this machine{needed}; {hint}") from exc


def pyplot(purpose: str = "plots") -> ModuleType:
    """matplotlib.pyplot on the Agg backend (files only, no screen), with an install hint when missing."""
    matplotlib = lazy_import("matplotlib", purpose)
    matplotlib.use("Agg")
    return lazy_import("matplotlib.pyplot", purpose)


def save_png(fig, path, dpi: int = 110):
    """Write a matplotlib figure as PNG atomically, then close it; returns the path."""
    from gxr.core.fileio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path
