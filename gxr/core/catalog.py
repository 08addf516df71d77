"""What a model repository holds, one row per version: name, version, precision, channels, input contract,
size, parity and which installed backends can serve it (pure Python: reads manifests only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.core.lazy import available
from gxr.core.manifest import Manifest
from gxr.core.recommended import read_recommendation
from gxr.core.repository import MANIFEST, resolve_model_dir


def version_dirs(repo: Path) -> list[Path]:
    """models/<name>/<version>/ folders, by name then version number."""
    if not repo.is_dir():
        raise GxrError(f"{repo}: model repository not found")
    found = [v for name in repo.iterdir() if name.is_dir() and not name.name.startswith(".")
             for v in name.iterdir() if v.is_dir() and v.name.isdigit()]
    return sorted(found, key=lambda v: (v.parent.name, int(v.name)))


def input_contract(manifest: Manifest) -> str:
    """e.g. `pixels uint8 [batch,1,299,299], normalized in graph`."""
    spec = manifest.input
    shape = ",".join(str(d) for d in spec.shape)
    where = "normalized in graph" if spec.normalized_in_graph else "normalized float"
    return f"{spec.name} {spec.dtype} [{shape}], {where}"


def graph_precision(manifest: Manifest) -> str:
    """fp32 | fp16 | int8: what the version's graph computes in."""
    return (manifest.precision or {}).get("precision", "fp32")


def parity_summary(manifest: Manifest) -> str:
    """AUC delta vs FP32 for low-precision graphs; the PyTorch-vs-ONNX error for FP32 ones."""
    low = (manifest.precision or {}).get("parity_vs_fp32")
    if low and low.get("auc_delta_mean") is not None:
        return f"AUC {low['auc_delta_mean']:+.4f} vs fp32 ({low['images']} test images)"
    if "max_rel_error" in manifest.parity:
        return f"fp32: rel err {manifest.parity['max_rel_error']:.1e} vs PyTorch"
    return "not recorded"


def serving_backends(version_dir: Path, manifest: Manifest) -> list[str]:
    """Backends that can serve this version here; ones that could elsewhere say what they lack."""
    backends = []
    if (version_dir / manifest.onnx.file).is_file():
        backends += [b for b, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")) if available(module)]
    engine = manifest.tensorrt
    if engine is not None and (version_dir / engine.file).is_file():
        where = f"TensorRT {engine.details.get('version', '?')}, {engine.details.get('gpu', '?')}"
        backends.append(f"tensorrt ({where})" if available("tensorrt") else f"tensorrt: needs {where}")
    checkpoint = manifest.source.get("checkpoint")
    if checkpoint and Path(checkpoint).is_file() and available("torch"):
        backends.append("torch" if graph_precision(manifest) == "fp32" else "torch (fp32 source)")
    return backends


def size_bytes(version_dir: Path) -> int:
    return sum(p.stat().st_size for p in version_dir.iterdir() if p.is_file() and p.name != MANIFEST)


def entry_row(version_dir: Path, recommendations: dict[Path, Any] | None = None) -> dict[str, Any]:
    """One row; a broken entry becomes a row that says what is wrong instead of stopping the listing."""
    row: dict[str, Any] = {"name": version_dir.parent.name, "version": int(version_dir.name)}
    try:
        manifest = resolve_model_dir(version_dir)[1]
        row.update(precision=graph_precision(manifest), channels=manifest.info.channels, arch=manifest.info.arch,
                   image_size=manifest.info.image_size, input=input_contract(manifest), bytes=size_bytes(version_dir),
                   parity=parity_summary(manifest), backends=serving_backends(version_dir, manifest), problem=None)
    except (GxrError, KeyError, TypeError, AttributeError) as exc:
        row["problem"] = str(exc) if isinstance(exc, GxrError) else f"incomplete manifest ({exc!r})"
    row["recommended"] = recommended_here(version_dir, recommendations)
    return row


def recommended_here(version_dir: Path, recommendations: dict[Path, Any] | None = None) -> str | None:
    """How `gxr optimize` recommends running this version (None when it recommends another or none); a broken
    recommendation file says so instead of stopping the listing. `recommendations` caches each name's file."""
    cache = {} if recommendations is None else recommendations
    if version_dir.parent not in cache:
        try:
            cache[version_dir.parent] = read_recommendation(version_dir.parent)
        except GxrError as exc:
            cache[version_dir.parent] = exc
    rec = cache[version_dir.parent]
    if isinstance(rec, GxrError):
        return f"unreadable: {rec}"
    if rec is None or rec.version != int(version_dir.name):
        return None
    threads = f"{rec.threads} threads" if rec.threads else "default threads"
    return f"{rec.backend}, {threads}, batch {rec.batch} ({rec.objective})"


def list_repository(repo: Path) -> list[dict[str, Any]]:
    recommendations: dict[Path, Any] = {}   # each name's recommended.json, read once
    return [entry_row(v, recommendations) for v in version_dirs(repo)]
