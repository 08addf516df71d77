"""TensorRT engine build from an exported ONNX (TensorRT 10/11 Python API, imported lazily).

Written to the documented API (OnnxParser, optimization profile, build_serialized_network); precision
comes from the ONNX itself (TensorRT 11 dropped the FP16/INT8 builder flags). Not run on the machines
this project is developed on: none has TensorRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.core.fileio import sha256_file, write_bytes, write_json
from gxr.core.lazy import lazy_import


def profile_shapes(manifest: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) input shapes: the batch range, and 1..3 channels where the graph accepts both."""
    b, size = manifest["batch"], manifest["image_size"]
    channels = manifest["input"]["accepted_channels"]
    lo_c, hi_c = min(channels), max(channels)
    return ((b["min"], lo_c, size, size), (b["opt"], lo_c, size, size), (b["max"], hi_c, size, size))


def build_engine(version_dir: Path, manifest: dict[str, Any], console=None, workspace_gib: int = 4) -> Path:
    trt = lazy_import("tensorrt", "building a TensorRT engine")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)   # explicit batch is the only mode in TensorRT 10+
    parser = trt.OnnxParser(network, logger)
    onnx_path = version_dir / manifest["onnx"]["file"]
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GxrError(f"{onnx_path}: TensorRT cannot parse it ({errors[:300]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gib << 30)
    profile = builder.create_optimization_profile()
    profile.set_shape(manifest["input"]["name"], *profile_shapes(manifest))
    config.add_optimization_profile(profile)
    if console is not None:
        console.print(f"building TensorRT {trt.__version__} engine (this takes minutes)...")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise GxrError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT log above)")
    plan = version_dir / "model.plan"
    write_bytes(plan, bytes(serialized))
    manifest["tensorrt"] = {"file": plan.name, "sha256": sha256_file(plan), "version": trt.__version__,
                            "profile": [list(s) for s in profile_shapes(manifest)]}
    write_json(version_dir / "manifest.json", manifest)
    return plan
