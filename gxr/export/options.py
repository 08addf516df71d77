"""What `export_model` is asked to do, in one frozen dataclass (no torch: the CLI builds it before loading
anything heavy), and the one output channel library code reports through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gxr.core.errors import GxrError
from gxr.core.manifest import BatchRange
from gxr.export.quantize import DEFAULT_AUC_TOLERANCE, Calibration, check_precision

INPUT_DTYPES = ("float", "uint8")
EXPORTERS = ("torchscript", "dynamo")
PARITY_REL_TOL = 1e-3

Notify = Callable[[str], None]


def silent(_: str) -> None:
    """The default `notify`: say nothing."""


@dataclass(frozen=True)
class ExportOptions:
    """How one checkpoint becomes a repository version.

    `precision` fp16 | int8 writes the low-precision graph as model.onnx after checking it against the FP32
    graph on up to `precision_parity_limit` real test images (`calib`: INT8 calibration, default the model's
    own training data; `auc_tolerance`: the largest mean AUC drop allowed). `trt` also builds a TensorRT
    engine from that graph inside the staged version."""

    name: str | None = None            # default: the run directory's name
    version: int | None = None         # default: the next free one
    opset: int = 17
    batch: BatchRange = field(default_factory=BatchRange)
    input_dtype: str = "float"         # float: normalized float32 input; uint8: raw pixels, normalized in graph
    data_spec: str | None = None       # parity data (default: the checkpoint's)
    image_size: int | None = None      # export at another input size than trained
    exporter: str = "torchscript"
    parity_limit: int = 32
    tolerance: float = PARITY_REL_TOL
    precision: str = "fp32"
    calib: Calibration | None = None
    auc_tolerance: float = DEFAULT_AUC_TOLERANCE
    precision_parity_limit: int = 1000
    trt: bool = False

    def validate(self) -> ExportOptions:
        """Raise a one-line GxrError for an unknown input dtype, exporter, precision or calibration."""
        if self.input_dtype not in INPUT_DTYPES:
            raise GxrError(f"input dtype {self.input_dtype!r}: choose float or uint8")
        if self.exporter not in EXPORTERS:
            raise GxrError(f"exporter {self.exporter!r}: choose one of {', '.join(EXPORTERS)}")
        check_precision(self.precision)
        if self.calib is not None:
            self.calib.validate()
        return self

    @property
    def uint8(self) -> bool:
        return self.input_dtype == "uint8"
