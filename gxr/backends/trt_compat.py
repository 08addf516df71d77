"""Where a TensorRT engine was built and whether it can load here: TensorRT version, GPU name and compute
capability. Engines are specific to both (unless built version- or hardware-compatible), and TensorRT's own
error on a mismatch does not say how to fix it; this one does. TensorRT and cuda-python are imported lazily."""

from __future__ import annotations

from typing import Any

from gxr.core.errors import GxrError
from gxr.core.lazy import lazy_import


def cuda_device_identity(device: int = 0) -> dict[str, str]:
    """{"gpu": name, "compute_capability": "8.9"} of a CUDA device, through cuda-python's runtime API."""
    from gxr.backends.trt_runner import _check, _cudart

    props = _check(_cudart().cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"gpu": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}"}


def build_identity(trt_version: str, device: dict[str, str]) -> dict[str, str]:
    return {"version": trt_version, "gpu": device["gpu"], "compute_capability": device["compute_capability"]}


def engine_mismatch(built: dict[str, Any], here: dict[str, str]) -> str | None:
    """None when an engine built as `built` can load `here`; otherwise what differs."""
    problems = []
    if str(built.get("version")) != here["version"]:
        problems.append(f"TensorRT {here['version']} here")
    if str(built.get("compute_capability")) != here["compute_capability"]:
        problems.append(f"{here['gpu']} (compute capability {here['compute_capability']}) here")
    return "; ".join(problems) or None


def check_engine_loads_here(built: dict[str, Any], plan: str, rebuild_from: str) -> None:
    """Raise one line saying what was built where and how to rebuild, when the engine cannot load here."""
    trt = lazy_import("tensorrt", "loading a TensorRT engine")
    here = build_identity(trt.__version__, cuda_device_identity())
    problem = engine_mismatch(built, here)
    if problem:
        raise GxrError(f"{plan}: engine built with TensorRT {built.get('version')} for {built.get('gpu')} (compute "
                       f"capability {built.get('compute_capability')}), but {problem}; rebuild it on this machine: "
                       f"gxr export {rebuild_from} --trt")
