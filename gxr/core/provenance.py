"""Who measured what where: machine, library versions, threads."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def gpu_identity() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return []


def machine_info() -> dict[str, Any]:
    """Machine, OS and library versions for results JSON (torch is reported only if already imported)."""
    info = {"hostname": platform.node(), "cpu": _cpu_model(), "logical_cpus": os.cpu_count(),
            "platform": platform.platform(), "python": sys.version.split()[0],
            "numpy": _version("numpy"), "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
            "torch": _version("torch"), "gpus": gpu_identity(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    return info
