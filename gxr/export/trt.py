"""TensorRT engine build from an exported ONNX (TensorRT 10/11 Python API, imported lazily).

Precision comes from the graph: export with `--precision fp16` (FP16 graph) or `--precision int8` (Q/DQ
graph) first. TensorRT 11 builds every network strongly typed and removed the FP16/INT8 builder flags; on
TensorRT 10 the STRONGLY_TYPED creation flag asks for the same. An engine is built inside a staged version
folder (during an export, or into a new version copied from a published one), never into a published
version. The timing cache is kept per TensorRT version and GPU and reused across builds.

Written to the documented API (OnnxParser, optimization profile, create_timing_cache / set_timing_cache,
build_serialized_network). Not run on the machines this project is developed on: none has TensorRT."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from gxr.core.errors import GxrError
from gxr.core.fileio import write_bytes
from gxr.core.lazy import lazy_import
from gxr.core.manifest import Artifact, Manifest
from gxr.core.repository import resolve_model_dir, staged_version
from gxr.export.options import Notify, silent


def profile_shapes(manifest: Manifest) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) input shapes: the batch range, and 1..3 channels where the graph accepts both."""
    b, size = manifest.batch, manifest.info.image_size
    lo_c, hi_c = min(manifest.input.accepted_channels), max(manifest.input.accepted_channels)
    return ((b.min, lo_c, size, size), (b.opt, lo_c, size, size), (b.max, hi_c, size, size))


def timing_cache_path(identity: dict[str, str]) -> Path:
    """$GXR_CACHE (default ~/.cache/gxr)/tensorrt/timing-<version>-sm<cc>.cache: one per TensorRT and GPU."""
    root = Path(os.environ.get("GXR_CACHE") or Path.home() / ".cache" / "gxr")
    cc = identity["compute_capability"].replace(".", "")
    return root / "tensorrt" / f"timing-{identity['version']}-sm{cc}.cache"


def _network(trt, builder, logger, onnx_path: Path):
    """Parse the ONNX into a strongly typed network (the flag is required on TensorRT 10, ignored on 11)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GxrError(f"{onnx_path}: TensorRT cannot parse it ({errors[:300]})")
    return network, parser


def build_engine(stage: Path, manifest: Manifest, notify: Notify = silent, workspace_gib: int = 4) -> Artifact:
    """Build model.plan from the stage's ONNX; returns the build's record for `manifest.tensorrt` (the caller
    writes the manifest and publishes the stage). `stage` must not be a published version."""
    from gxr.backends.trt_compat import build_identity, cuda_device_identity

    trt = lazy_import("tensorrt", "building a TensorRT engine")
    identity = build_identity(trt.__version__, cuda_device_identity())
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    onnx_path = stage / manifest.onnx.file
    network, _parser = _network(trt, builder, logger, onnx_path)   # the parser owns the weights until built
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_gib << 30)
    cache_file = timing_cache_path(identity)
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    reused = cache_file.is_file()
    config.set_timing_cache(cache, False)   # ignore_mismatch=False: a cache from another GPU is not used
    shapes = profile_shapes(manifest)
    profile = builder.create_optimization_profile()
    profile.set_shape(manifest.input.name, *shapes)
    config.add_optimization_profile(profile)
    notify(f"building a TensorRT {trt.__version__} engine for {identity['gpu']} (minutes)...")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise GxrError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT log above)")
    plan = stage / "model.plan"
    write_bytes(plan, bytes(serialized))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(cache_file, bytes(config.get_timing_cache().serialize()))
    return Artifact.of(plan, **identity, precision=(manifest.precision or {}).get("precision", "fp32"),
                       profile={k: list(s) for k, s in zip(("min", "opt", "max"), shapes)},
                       timing_cache={"file": str(cache_file), "reused": reused})


def engine_version(source: Path, notify: Notify = silent) -> tuple[Path, Manifest]:
    """A NEW version of the same model: the source version's ONNX plus a TensorRT engine built from it.
    The source version is only read."""
    lazy_import("tensorrt", "building a TensorRT engine")
    src_dir, src = resolve_model_dir(source)
    repo, name = src_dir.parent.parent, src_dir.parent.name
    onnx = src.verify_artifact(src_dir, src.onnx)
    with staged_version(repo, name, say=notify) as (stage, version):
        shutil.copy2(onnx, stage / src.onnx.file)
        manifest = replace(src, version=version, tensorrt=None,
                           derived_from={"version": src.version, "onnx_sha256": src.onnx.sha256})
        manifest = replace(manifest, tensorrt=build_engine(stage, manifest, notify))
        manifest.save(stage)
    return repo / name / str(version), manifest
