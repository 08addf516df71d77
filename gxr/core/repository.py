"""The model repository: models/<name>/<version>/{model.onnx, manifest.json} + models/<name>/config.pbtxt.

Pure Python (no torch). Versions are published whole or not at all (a staging folder renamed into
place) and never changed afterwards. One export per model name at a time (a lock on its folder); staging folders
left by killed exports are removed by the next export of that name. `config.pbtxt` (Triton: one config for
every version of a name) is regenerated from all versions, which must share one input/output contract."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from gxr.core.errors import GxrError
from gxr.core.fileio import current_umask, write_text
from gxr.core.manifest import MANIFEST, Manifest

STAGING_PREFIX = ".staging-"


def next_version(repo: Path, name: str) -> int:
    """One past the highest numbered folder (published or not: a number is never reused)."""
    taken = [int(p.name) for p in (Path(repo) / name).glob("*") if p.is_dir() and p.name.isdigit()]
    return max(taken, default=0) + 1


def published_versions(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in Path(model_dir).glob("*")
                  if p.is_dir() and p.name.isdigit() and (p / MANIFEST).is_file())


@contextlib.contextmanager
def name_lock(model_dir: Path) -> Iterator[None]:
    """Exclusive lock on one model name: a second export to it fails at once with one line."""
    model_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(model_dir, os.O_RDONLY)   # the folder itself is the lock: no lock file left behind
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise GxrError(f"{model_dir}: another export to this model name is in progress; "
                           "try again when it has finished") from exc
        yield
    finally:
        os.close(fd)


def remove_stale_staging(model_dir: Path, say: Callable[[str], None]) -> None:
    """Staging folders found while holding the name lock belong to exports that were killed."""
    for stale in sorted(Path(model_dir).glob(STAGING_PREFIX + "*")):
        shutil.rmtree(stale, ignore_errors=True)
        say(f"removed {stale.name}, left in {model_dir} by an interrupted export")


@contextlib.contextmanager
def staged_version(repo: Path, name: str, version: int | None = None,
                   say: Callable[[str], None] = lambda _: None) -> Iterator[tuple[Path, int]]:
    """Yield (staging folder, version); it becomes models/<name>/<version>/ only when the block succeeds.
    Existing versions are never touched; `version=None` takes the next free number."""
    model_dir = Path(repo) / name
    created = not model_dir.exists()
    with name_lock(model_dir), _removed_if_left_empty(model_dir, created):
        remove_stale_staging(model_dir, say)
        version = version or next_version(repo, name)
        final = model_dir / str(version)
        if final.exists():
            raise GxrError(f"{final}: already exists; choose another version (next free: {next_version(repo, name)})")
        tmp = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}.", dir=model_dir))
        try:
            yield tmp, version
            os.chmod(tmp, 0o777 & ~current_umask())   # mkdtemp creates 0700
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path, created: bool) -> Iterator[None]:
    """A model folder made for a failed first export is removed again (only if still empty)."""
    try:
        yield
    except BaseException:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def resolve_model_dir(path: Path) -> tuple[Path, Manifest]:
    """A version dir, a model.onnx/model.plan inside one, or a model name dir (newest version)
    -> (version dir, manifest)."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise GxrError(f"{path}: model not found")
    if not (path / MANIFEST).is_file():
        versions = published_versions(path)
        if not versions:
            raise GxrError(f"{path}: no {MANIFEST} here (expected a gxr model repository entry)")
        path = path / str(versions[-1])
    return path, Manifest.load(path)


def version_manifests(model_dir: Path) -> list[Manifest]:
    return [Manifest.load(Path(model_dir) / str(v)) for v in published_versions(model_dir)]


def check_servable_together(new: Manifest, existing: list[Manifest], where: Path) -> None:
    """Triton serves every version of a name with one config: refuse a version whose input or output
    contract differs from the published ones."""
    for old in existing:
        if old.version == new.version:
            continue
        if old.input.contract() != new.input.contract() or (old.output.name, old.output.shape[1:]) != (
                new.output.name, new.output.shape[1:]):
            raise GxrError(f"{where}: version {old.version} takes {_describe(old)} but this export takes "
                           f"{_describe(new)}; one model name must keep one input contract (Triton serves all "
                           "versions with one config.pbtxt): export under another name")


def _describe(m: Manifest) -> str:
    dims = "x".join(str(d) for d in m.input.shape[1:])
    return f"{m.input.dtype} '{m.input.name}' [{dims}] -> {m.output.shape[1]} outputs"


_TRITON_DTYPES = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32", "float16": "TYPE_FP16"}


def triton_platform(manifests: list[Manifest], model_dir: Path) -> str:
    """onnxruntime_onnx when every version has model.onnx, tensorrt_plan when every one has model.plan."""
    if all((model_dir / str(m.version) / "model.onnx").is_file() for m in manifests):
        return "onnxruntime_onnx"
    if all(m.tensorrt is not None for m in manifests):
        return "tensorrt_plan"
    raise GxrError(f"{model_dir}: versions mix ONNX-only and TensorRT-only artifacts; Triton needs one platform")


def triton_config(name: str, manifests: list[Manifest], platform: str = "onnxruntime_onnx") -> str:
    """config.pbtxt valid for every version (dims exclude the batch axis; -1 where the channel count is
    dynamic; max batch is the smallest any version was built for; all versions served)."""
    newest = manifests[-1]
    inp, out = newest.input, newest.output
    in_dims = ", ".join("-1" if isinstance(d, str) else str(d) for d in inp.shape[1:])
    max_batch = min(m.batch.max for m in manifests)
    preferred = sorted({m.batch.opt for m in manifests if m.batch.opt <= max_batch})
    return (f'name: "{name}"\nplatform: "{platform}"\nmax_batch_size: {max_batch}\n'
            "version_policy: { all { } }\n"
            f'input [\n  {{\n    name: "{inp.name}"\n    data_type: {_TRITON_DTYPES[inp.dtype]}\n'
            f"    dims: [ {in_dims} ]\n  }}\n]\n"
            f'output [\n  {{\n    name: "{out.name}"\n    data_type: {_TRITON_DTYPES[out.dtype]}\n'
            f'    dims: [ {out.shape[1]} ]\n    label_filename: "labels.txt"\n  }}\n]\n'
            f"dynamic_batching {{ preferred_batch_size: [ {', '.join(map(str, preferred))} ] }}\n")


def write_server_config(repo: Path, name: str) -> Path:
    """Regenerate models/<name>/config.pbtxt and labels.txt from every published version."""
    model_dir = Path(repo) / name
    manifests = version_manifests(model_dir)
    if not manifests:
        raise GxrError(f"{model_dir}: no published versions")
    for m in manifests:
        check_servable_together(m, manifests, model_dir)
    write_text(model_dir / "labels.txt", "\n".join(manifests[-1].info.labels) + "\n")
    config = model_dir / "config.pbtxt"
    write_text(config, triton_config(name, manifests, triton_platform(manifests, model_dir)))
    return config
