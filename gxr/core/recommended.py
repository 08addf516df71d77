"""The deployment `gxr optimize` chose for a model name, kept beside its versions: models/<name>/recommended.json.

`gxr.load("models/<name>")` (and so `gxr predict`, `gxr serve`) uses it unless told otherwise (an explicit
backend or version); `gxr models` shows it. It names a published version, so it never changes one; it is
replaced whole (temp file + rename) by the next `gxr optimize` of that name. Pure Python."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gxr.core.errors import GxrError
from gxr.core.fileio import read_json, write_json

RECOMMENDED = "recommended.json"


@dataclass(frozen=True)
class Recommendation:
    """The fastest configuration that kept the task's metric, as measured on one machine."""

    version: int
    backend: str                    # as gxr.load takes it: onnxruntime | openvino | openvino:bf16 | ...
    precision: str                  # of the version's graph: fp32 | fp16 | int8
    threads: int | None             # None: the backend's default
    batch: int                      # the batch size it was fastest at (predict batches at most this many)
    objective: str                  # latency | throughput
    ms_per_image: float             # p50 at that batch, on `machine`
    speedup_vs_fp32_ort: float | None
    auc_delta: float | None         # mean test AUC minus FP32 ONNX Runtime's
    auc_tolerance: float
    machine: dict[str, Any] = field(default_factory=dict)   # cpu, logical_cpus, hostname, measured_at
    report: str = ""                # where optimize.json was written

    def describe(self) -> str:
        """e.g. `v3 int8 openvino, 2 threads, batch 16: 13.9 ms/image (4.00x vs FP32 ORT, AUC -0.0008)`."""
        threads = f"{self.threads} threads" if self.threads else "default threads"
        speed = f"{self.speedup_vs_fp32_ort:.2f}x vs FP32 ORT, " if self.speedup_vs_fp32_ort else ""
        auc = f"AUC {self.auc_delta:+.4f}" if self.auc_delta is not None else "AUC delta not measured"
        return (f"v{self.version} {self.precision} {self.backend}, {threads}, batch {self.batch}: "
                f"{self.ms_per_image:.2f} ms/image ({speed}{auc})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> Recommendation:
        try:
            return cls(version=int(d["version"]), backend=str(d["backend"]), precision=str(d["precision"]),
                       threads=None if d.get("threads") is None else int(d["threads"]), batch=int(d["batch"]),
                       objective=str(d["objective"]), ms_per_image=float(d["ms_per_image"]),
                       speedup_vs_fp32_ort=d.get("speedup_vs_fp32_ort"), auc_delta=d.get("auc_delta"),
                       auc_tolerance=float(d["auc_tolerance"]), machine=dict(d.get("machine") or {}),
                       report=str(d.get("report") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise GxrError(f"{source}: not a gxr recommendation ({exc!r}); re-run gxr optimize or delete it") from exc


def read_recommendation(model_dir: Path) -> Recommendation | None:
    """The recommendation of a model name folder, or None when it has none."""
    path = Path(model_dir) / RECOMMENDED
    if not path.is_file():
        return None
    data = read_json(path, "recommendation")
    if not isinstance(data, dict):
        raise GxrError(f"{path}: not a gxr recommendation (expected a JSON object)")
    rec = Recommendation.from_dict(data, str(path))
    if not (Path(model_dir) / str(rec.version)).is_dir():
        raise GxrError(f"{path}: recommends version {rec.version}, which is not in {model_dir}; "
                       "re-run gxr optimize or pass a version or backend explicitly")
    return rec


def write_recommendation(model_dir: Path, rec: Recommendation) -> Path:
    """Replace models/<name>/recommended.json whole (temp file + rename)."""
    path = Path(model_dir) / RECOMMENDED
    write_json(path, rec.to_dict())
    return path
