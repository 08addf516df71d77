"""manifest.json: what a published model version is, typed (pure Python, no torch).

One `Manifest` is written by export, read by the runtime, the repository and `gxr models`; artifacts
(model.onnx, model.plan) are verified against their recorded sha256 in one place."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.core.fileio import read_json, sha256_file, write_json
from gxr.core.modelinfo import ModelInfo

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gxr.manifest/1"


@dataclass(frozen=True)
class BatchRange:
    """The batch sizes a version is built for: TensorRT's optimization profile and Triton's max batch."""
    min: int = 1
    opt: int = 8
    max: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise GxrError(f"batch range {self.min}:{self.opt}:{self.max}: need 1 <= MIN <= OPT <= MAX")

    @classmethod
    def parse(cls, text: str) -> BatchRange:
        """"MIN:OPT:MAX" -> BatchRange."""
        try:
            lo, opt, hi = (int(v) for v in text.split(":"))
        except ValueError as exc:
            raise GxrError(f"batch range {text!r}: expected MIN:OPT:MAX, e.g. 1:8:32") from exc
        if not 1 <= lo <= opt <= hi:
            raise GxrError(f"batch range {text!r}: need 1 <= MIN <= OPT <= MAX")
        return cls(lo, opt, hi)


@dataclass(frozen=True)
class InputSpec:
    """The graph input: raw uint8 pixels (normalized in the graph) or normalized float32."""
    name: str
    dtype: str                      # uint8 | float32
    shape: list                     # ["batch", C or "channels", S, S]
    accepted_channels: list[int]
    normalized_in_graph: bool
    layout: str = "NCHW"

    def contract(self) -> tuple:
        """What a server config depends on: name, dtype and the non-batch dims."""
        return (self.name, self.dtype, tuple(self.shape[1:]))


@dataclass(frozen=True)
class OutputSpec:
    name: str
    dtype: str
    shape: list                     # ["batch", L]
    activation: str                 # sigmoid | softmax


@dataclass(frozen=True)
class Artifact:
    """A file of the version (model.onnx, model.plan) with its checksum and how it was made."""
    file: str
    sha256: str
    bytes: int
    details: dict = field(default_factory=dict)   # opset/exporter/torch; TensorRT version, GPU, profile

    @classmethod
    def of(cls, path: Path, **details: Any) -> Artifact:
        return cls(path.name, sha256_file(path), path.stat().st_size, details)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "bytes": self.bytes, **self.details}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Artifact:
        rest = {k: v for k, v in d.items() if k not in ("file", "sha256", "bytes")}
        return cls(d["file"], d["sha256"], int(d.get("bytes", 0)), rest)


@dataclass
class Manifest:
    name: str
    version: int
    info: ModelInfo
    input: InputSpec
    output: OutputSpec
    batch: BatchRange
    onnx: Artifact
    source: dict = field(default_factory=dict)      # checkpoint path + sha256, recipe, data, test metrics
    parity: dict = field(default_factory=dict)      # vs PyTorch on real images
    trained_image_size: int | None = None
    tensorrt: Artifact | None = None
    precision: dict | None = None                   # low-precision graphs: calibration and parity vs FP32
    derived_from: dict | None = None                # a version made from another one (e.g. + TensorRT engine)
    gxr_version: str = ""
    exported_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    # ---- reading and writing ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": MANIFEST_FORMAT, "name": self.name, "version": self.version,
                             **self.info.to_dict(), "trained_image_size": self.trained_image_size,
                             "input": asdict(self.input), "output": asdict(self.output), "batch": asdict(self.batch),
                             "source": self.source, "onnx": self.onnx.to_dict(), "parity": self.parity}
        if self.tensorrt is not None:
            d["tensorrt"] = self.tensorrt.to_dict()
        if self.precision is not None:
            d["precision"] = self.precision
        if self.derived_from is not None:
            d["derived_from"] = self.derived_from
        d.update(gxr_version=self.gxr_version, exported_at=self.exported_at)
        return d

    @classmethod
    def from_dict(cls, d: Any, origin: str) -> Manifest:
        if not isinstance(d, dict) or d.get("format") != MANIFEST_FORMAT:
            raise GxrError(f"{origin}: not a gxr manifest (expected format {MANIFEST_FORMAT})")
        try:
            return cls(name=d["name"], version=int(d["version"]), info=ModelInfo.from_dict(d, source=origin),
                       input=InputSpec(**d["input"]), output=OutputSpec(**d["output"]), batch=BatchRange(**d["batch"]),
                       onnx=Artifact.from_dict(d["onnx"]), source=d.get("source") or {}, parity=d.get("parity") or {},
                       trained_image_size=d.get("trained_image_size"),
                       tensorrt=Artifact.from_dict(d["tensorrt"]) if d.get("tensorrt") else None,
                       precision=d.get("precision"), derived_from=d.get("derived_from"),
                       gxr_version=d.get("gxr_version", ""),
                       exported_at=d.get("exported_at", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise GxrError(f"{origin}: incomplete or malformed manifest ({exc!r})") from exc

    @classmethod
    def load(cls, version_dir: Path) -> Manifest:
        path = Path(version_dir) / MANIFEST
        return cls.from_dict(read_json(path, "manifest"), str(path))

    def save(self, version_dir: Path) -> None:
        write_json(Path(version_dir) / MANIFEST, self.to_dict())

    # ---- checks ------------------------------------------------------------------------------
    def verify_artifact(self, version_dir: Path, artifact: Artifact) -> Path:
        """The artifact's path, after checking it exists and its sha256 is the recorded one."""
        path = Path(version_dir) / artifact.file
        if not path.is_file():
            raise GxrError(f"{path}: model file named by the manifest is missing")
        if sha256_file(path) != artifact.sha256:
            raise GxrError(f"{Path(version_dir) / MANIFEST}: does not match its model ({artifact.file} sha256 differs)")
        return path

    def check_graph_input(self, version_dir: Path, name: str, dtype: str) -> None:
        """The graph's real input must be the recorded one."""
        if (name, dtype) != (self.input.name, self.input.dtype):
            raise GxrError(f"{Path(version_dir) / MANIFEST}: does not match its model (input {self.input.name}:"
                           f"{self.input.dtype} vs graph {name}:{dtype})")

    @property
    def data_spec(self) -> str | None:
        return (self.source.get("data") or {}).get("spec")
