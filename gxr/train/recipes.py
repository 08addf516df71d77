"""Training recipes as dataclasses (no torch import): defaults follow Xie & Richmond 2018."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from gxr.errors import GxrError
from gxr.nets import check_arch, check_channels, check_image_size

OPTIMIZERS = ("adam", "sgd", "rmsprop")


@dataclass
class FinetuneRecipe:
    """NIH fine-tuning: lr 1e-4, batch 32, random horizontal flip, Adam; sigmoid+BCE or softmax+CE."""
    arch: str = "inception_v3"
    channels: int = 1
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    optimizer: str = "adam"
    weight_decay: float = 0.0
    image_size: int = 299
    hflip: bool = True
    freeze_until: str | None = None
    train_fraction: float = 1.0
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    amp: bool = True          # bf16 autocast on CUDA; ignored on CPU
    workers: int = 0
    stem_mode: str = "sum"    # how --init weights of another channel count are converted

    def validate(self) -> "FinetuneRecipe":
        check_arch(self.arch)
        check_channels(self.channels)
        check_image_size(self.arch, self.image_size)
        if self.optimizer not in OPTIMIZERS:
            raise GxrError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise GxrError(f"--train-fraction must be in (0, 1], got {self.train_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise GxrError("--epochs and --batch-size must be >= 1 and --lr > 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise GxrError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FinetuneRecipe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    # What must agree between a run and its resumption (epochs and patience may change).
    def identity(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in ("epochs", "patience", "device", "workers"):
            d.pop(key)
        return d
