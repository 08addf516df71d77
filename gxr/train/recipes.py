"""Training recipes as dataclasses (no torch import): defaults follow Xie & Richmond 2018."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from gxr.core.errors import GxrError
from gxr.nets import check_arch, check_channels, check_image_size

OPTIMIZERS = ("adam", "sgd", "nesterov", "rmsprop")
SCHEDULES = ("step", "cosine")
R = TypeVar("R", bound="Recipe")
LATER_FIELDS: dict[str, Any] = {"zero_init_head": False}

# Inception-V3 in the modern recipe: Adam at 1e-3 with a zero-initialised classifier instead of Nesterov SGD. It has
# no residual connections, and each Inception block hands the sum of four branches' gradients back to its input: at
# initialisation the gradient relative to the weights grows ~3000x from Mixed_7c to the stem (measured on Imagenette
# at 96 px: 0.04 vs 142; ResNet-18's stem 1.9), so one SGD step at any usable lr multiplies the early layers' weights
# and leaves them there. Adam's per-weight steps do not see that scale. Chosen on held-out Imagenette accuracy in
# bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json (25% of train, 6 epochs: Adam 1e-3 0.396; 5e-4 0.342;
# 3e-3 0.319; every Nesterov, RMSProp or clipped-SGD setting <= 0.29).
ADAM_ARCHS = {"inception_v3": {"optimizer": "adam", "lr": 1e-3, "zero_init_head": True}}


@dataclass(kw_only=True)
class Recipe:
    """What every training run is configured by: the network, the data handling and the schedule fields.

    The schedule (epochs, batch size, optimizer, lr and its decay, regularization, augmentation, patience) has no
    default here: a run is either a `FinetuneRecipe` or a `PretrainRecipe`, each with the paper's values."""
    arch: str = "inception_v3"
    channels: int = 1
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    image_size: int = 299
    hflip: bool = True
    freeze_until: str | None = None
    train_fraction: float = 1.0
    patience: int
    seed: int = 0
    device: str = "auto"
    amp: bool = True          # bf16 autocast on CUDA (training and validation)
    cpu_bf16: bool = False    # on a CPU with native bf16 (AVX512-BF16 / AMX): bf16 autocast and channels-last for
    #                           the training steps only; validation and test logits stay fp32
    workers: int = 0
    stem_mode: str = "sum"    # how --init weights of another channel count are converted
    lr_decay: float           # multiply lr by this every `lr_decay_epochs` epochs (1.0 = constant)
    lr_decay_epochs: int
    label_smoothing: float             # multi-class only
    random_resized_crop: bool          # area crop_scale-100%, aspect 3/4-4/3, on the device
    luma_after_augment: bool           # gray models: augment the RGB image, then convert with Luma
    schedule: str = "step"             # step: x lr_decay every lr_decay_epochs; cosine: warm-up, then cosine to 0
    warmup_epochs: int = 0             # cosine: linear warm-up epochs
    crop_scale: float = 0.25           # random-resized crops keep crop_scale..1 of the decoded image's area
    crop_ratio: float = 1.0            # decode at image_size / crop_ratio: training crops from it, evaluation
    #                                    takes its centre image_size crop (1.0: the whole image, as the runtime)
    zero_init_head: bool = False       # start the classifier (last linear layer) at zero

    def validate(self: R) -> R:
        check_arch(self.arch)
        check_channels(self.channels)
        check_image_size(self.arch, self.image_size)
        if self.stem_mode not in ("sum", "luma"):
            raise GxrError(f"stem mode {self.stem_mode!r}: choose sum or luma")
        if self.optimizer not in OPTIMIZERS:
            raise GxrError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise GxrError(f"train fraction must be in (0, 1], got {self.train_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise GxrError("epochs and batch size must be >= 1 and the learning rate > 0")
        if not 0.0 < self.lr_decay <= 1.0 or self.lr_decay_epochs < 1 or not 0.0 <= self.label_smoothing < 1.0:
            raise GxrError("lr decay must be in (0, 1], lr decay epochs >= 1 and label smoothing in [0, 1)")
        if self.schedule not in SCHEDULES or self.warmup_epochs < 0 or self.warmup_epochs >= max(self.epochs, 1):
            raise GxrError(f"schedule {self.schedule!r} with {self.warmup_epochs} warm-up epochs: choose step or "
                           "cosine, and fewer warm-up epochs than epochs")
        if not 0.0 < self.crop_ratio <= 1.0 or not 0.0 < self.crop_scale <= 1.0:
            raise GxrError(f"crop ratio {self.crop_ratio} and crop scale {self.crop_scale}: both must be in (0, 1]")
        if self.device not in ("auto", "cpu", "cuda"):
            raise GxrError(f"device must be auto, cpu or cuda, got {self.device!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON-able values. Fields added after runs were recorded are left out while they hold their
        default (the behaviour before they existed), so those runs keep their settings hash and stay resumable."""
        d = asdict(self)
        for key, default in LATER_FIELDS.items():
            if d.get(key) == default:
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls: type[R], d: dict[str, Any]) -> R:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    # What must agree between a run and its resumption (epochs and patience may change).
    def identity(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in ("epochs", "patience", "device", "workers"):
            d.pop(key)
        return d


@dataclass(kw_only=True)
class FinetuneRecipe(Recipe):
    """NIH fine-tuning: lr 1e-4, batch 32, random horizontal flip, Adam; sigmoid+BCE or softmax+CE."""
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    optimizer: str = "adam"
    weight_decay: float = 0.0
    patience: int = 5
    lr_decay: float = 1.0
    lr_decay_epochs: int = 1
    label_smoothing: float = 0.0
    random_resized_crop: bool = False
    luma_after_augment: bool = False


@dataclass(kw_only=True)
class PretrainRecipe(Recipe):
    """ImageNet-style pre-training as in Xie & Richmond 2018 (after the TF-slim Inception-V3 recipe):
    RMSProp (decay 0.9, momentum 0.9, eps 1.0), lr 0.01 decayed x0.94 every 2 epochs, batch 64, label smoothing 0.1,
    random-resized crops + flips, and for gray models Luma conversion after augmentation."""
    epochs: int = 90
    batch_size: int = 64
    lr: float = 0.01
    optimizer: str = "rmsprop"
    weight_decay: float = 4e-5
    lr_decay: float = 0.94
    lr_decay_epochs: int = 2
    label_smoothing: float = 0.1
    random_resized_crop: bool = True
    luma_after_augment: bool = True
    patience: int = 1000

    @classmethod
    def paper(cls, **overrides: Any) -> PretrainRecipe:
        """Xie & Richmond's ImageNet recipe (TF-slim): the class defaults."""
        return cls(**overrides)

    @classmethod
    def modern(cls, **overrides: Any) -> PretrainRecipe:
        """A recipe that converges in tens of epochs on small data: SGD with Nesterov momentum 0.9, lr 0.05 at batch
        64 with 2 warm-up epochs (fewer for runs of 1-2 epochs) then cosine to 0, label smoothing 0.1, weight decay
        5e-5, random-resized crops of 35-100% of the area (fast.ai's Imagenette setting) taken from a decode 1/0.875
        larger than the training size, and flips; evaluation on the centre crop of that decode (torchvision's resize
        256 / crop 224). Gray and color still differ only in the stem and the Luma step. Inception-V3 gets Adam at
        1e-3 and a zero-initialised classifier instead (ADAM_ARCHS: it does not learn with Nesterov SGD here)."""
        values: dict[str, Any] = {"optimizer": "nesterov", "lr": 0.05, "schedule": "cosine", "weight_decay": 5e-5,
                                  "epochs": 30, "crop_scale": 0.35, "crop_ratio": 0.875}
        values |= ADAM_ARCHS.get(overrides.get("arch", cls.arch), {})
        values["warmup_epochs"] = min(2, (values | overrides)["epochs"] - 1)   # a 1-epoch smoke run: no warm-up
        return cls(**(values | overrides))


PRETRAIN_RECIPES = {"paper": PretrainRecipe.paper, "modern": PretrainRecipe.modern}
