"""What a model repository holds, one row per version: name, version, precision, channels, input contract,
size, parity and which installed backends can serve it (pure Python: reads manifests only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.core.lazy import available
from gxr.core.repository import MANIFEST, resolve_model_dir


def version_dirs(repo: Path) -> list[Path]:
    """models/<name>/<version>/ folders, by name then version number."""
    if not repo.is_dir():
        raise GxrError(f"{repo}: model repository not found")
    found = [v for name in repo.iterdir() if name.is_dir() and not name.name.startswith(".")
             for v in name.iterdir() if v.is_dir() and v.name.isdigit()]
    return sorted(found, key=lambda v: (v.parent.name, int(v.name)))


def input_contract(manifest: dict[str, Any]) -> str:
    """e.g. `pixels uint8 [batch,1,299,299], normalized in graph`."""
    spec = manifest["input"]
    shape = ",".join(str(d) for d in spec["shape"])
    where = "normalized in graph" if spec.get("normalized_in_graph") else "normalized float"
    return f"{spec['name']} {spec['dtype']} [{shape}], {where}"


def parity_summary(manifest: dict[str, Any]) -> str:
    """AUC delta vs FP32 for low-precision graphs; the PyTorch-vs-ONNX error for FP32 ones."""
    low = (manifest.get("precision") or {}).get("parity_vs_fp32")
    if low and low.get("auc_delta_mean") is not None:
        return f"AUC {low['auc_delta_mean']:+.4f} vs fp32 ({low['images']} test images)"
    torch_parity = manifest.get("parity") or {}
    if "max_rel_error" in torch_parity:
        return f"fp32: rel err {torch_parity['max_rel_error']:.1e} vs PyTorch"
    return "not recorded"


def serving_backends(version_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Backends that can serve this version here; ones that could elsewhere say what they lack."""
    backends = []
    if (version_dir / manifest.get("onnx", {}).get("file", "model.onnx")).is_file():
        backends += [b for b, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")) if available(module)]
    engine = manifest.get("tensorrt")
    if engine and (version_dir / engine.get("file", "model.plan")).is_file():
        where = f"TensorRT {engine.get('version', '?')}, {engine.get('gpu', '?')}"
        backends.append(f"tensorrt ({where})" if available("tensorrt") else f"tensorrt: needs {where}")
    checkpoint = (manifest.get("source") or {}).get("checkpoint")
    if checkpoint and Path(checkpoint).is_file() and available("torch"):
        fp32 = (manifest.get("precision") or {}).get("precision", "fp32") == "fp32"
        backends.append("torch" if fp32 else "torch (fp32 source)")
    return backends


def size_bytes(version_dir: Path) -> int:
    return sum(p.stat().st_size for p in version_dir.iterdir() if p.is_file() and p.name != MANIFEST)


def entry_row(version_dir: Path) -> dict[str, Any]:
    """One row; a broken entry becomes a row that says what is wrong instead of stopping the listing."""
    row: dict[str, Any] = {"name": version_dir.parent.name, "version": int(version_dir.name)}
    try:
        manifest = resolve_model_dir(version_dir)[1].to_dict()
        row.update(precision=(manifest.get("precision") or {}).get("precision", "fp32"),
                   channels=manifest["channels"], arch=manifest.get("arch"), image_size=manifest.get("image_size"),
                   input=input_contract(manifest), bytes=size_bytes(version_dir), parity=parity_summary(manifest),
                   backends=serving_backends(version_dir, manifest), problem=None)
    except (GxrError, KeyError, TypeError) as exc:
        row["problem"] = str(exc) if isinstance(exc, GxrError) else f"incomplete manifest ({exc!r})"
    return row


def list_repository(repo: Path) -> list[dict[str, Any]]:
    return [entry_row(v) for v in version_dirs(repo)]
