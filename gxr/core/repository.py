"""The model repository: models/<name>/<version>/{model.onnx, manifest.json} + models/<name>/config.pbtxt.

Pure Python (no torch): the runtime reads manifests with it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from gxr.core.errors import GxrError
from gxr.core.fileio import current_umask, read_json

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gxr.manifest/1"


def parse_batch(text: str) -> dict[str, int]:
    """"MIN:OPT:MAX" -> {"min", "opt", "max"} (the TensorRT optimization profile and Triton's max batch)."""
    try:
        lo, opt, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise GxrError(f"--batch {text!r}: expected MIN:OPT:MAX, e.g. 1:8:32") from None
    if not 1 <= lo <= opt <= hi:
        raise GxrError(f"--batch {text!r}: need 1 <= MIN <= OPT <= MAX")
    return {"min": lo, "opt": opt, "max": hi}


def next_version(repo: Path, name: str) -> int:
    versions = [int(p.name) for p in (repo / name).glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


@contextlib.contextmanager
def staged_version_dir(repo: Path, name: str, version: int) -> Iterator[Path]:
    """A temp folder that becomes models/<name>/<version>/ only when everything in it was written."""
    final = repo / name / str(version)
    if final.exists():
        raise GxrError(f"{final}: already exists; choose another --version (next free: "
                       f"{next_version(repo, name)})")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())   # mkdtemp creates 0700
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_model_dir(path: Path) -> tuple[Path, dict[str, Any]]:
    """A version dir, a model.onnx/model.plan inside one, or a model name dir (newest version)
    -> (version dir, manifest)."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise GxrError(f"{path}: model not found")
    if not (path / MANIFEST).is_file():
        versions = sorted((p for p in path.glob("*") if p.is_dir() and p.name.isdigit() and (p / MANIFEST).is_file()),
                          key=lambda p: int(p.name))
        if not versions:
            raise GxrError(f"{path}: no {MANIFEST} here (expected a gxr model repository entry)")
        path = versions[-1]
    manifest = read_json(path / MANIFEST, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise GxrError(f"{path / MANIFEST}: not a gxr manifest (expected format {MANIFEST_FORMAT})")
    return path, manifest


def triton_config(name: str, manifest: dict[str, Any]) -> str:
    """config.pbtxt for Triton's onnxruntime backend (dims exclude the batch axis)."""
    inp, out = manifest["input"], manifest["output"]
    dtype = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32"}[inp["dtype"]]
    in_dims = ", ".join("-1" if isinstance(d, str) else str(d) for d in inp["shape"][1:])
    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {manifest["batch"]["max"]}\n'
            f'input [\n  {{\n    name: "{inp["name"]}"\n    data_type: {dtype}\n    dims: [ {in_dims} ]\n  }}\n]\n'
            f'output [\n  {{\n    name: "{out["name"]}"\n    data_type: TYPE_FP32\n    dims: [ {out["shape"][1]} ]\n  }}\n]\n'
            f'dynamic_batching {{ preferred_batch_size: [ {manifest["batch"]["opt"]} ] }}\n')
