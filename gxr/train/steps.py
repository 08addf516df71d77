"""The training and evaluation steps as plain functions (in the style of torchvision's references):
no files, no printing, no state beyond their arguments. The Trainer (gxr.train.trainer) calls them.

- building blocks: `freeze_until`, `make_optimizer`, `make_loss`, `loss_target`;
- `train_one_epoch(...)`: one pass over the training split, returns loss and throughput;
- `predict_logits(...)` / `evaluate(...)`: a whole split in eval mode -> logits, loss and metrics
  (AUC per label, accuracy) from gxr.core.metrics.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from gxr.core.comparator import auc_summary
from gxr.core.errors import GxrError
from gxr.core.scores import Scores
from gxr.train.pipeline import DeviceTransform, SplitPixels, batches
from gxr.train.recipes import Recipe
from gxr.train.report import Task


def freeze_until(model: nn.Module, layer: str) -> int:
    """Freeze every parameter before the first one inside `layer` (a module name); returns how many."""
    names = [name for name, _ in model.named_parameters()]
    start = next((i for i, n in enumerate(names) if n.startswith(layer + ".")), None)
    if start is None:
        top = ", ".join(name for name, _ in model.named_children())
        raise GxrError(f"freeze point {layer!r}: no such layer (top-level layers: {top})")
    frozen = 0
    for i, (_, param) in enumerate(model.named_parameters()):
        if i < start:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def keep_frozen_bn_in_eval(model: nn.Module) -> None:
    """BatchNorm layers whose weights are frozen also keep their running statistics (eval mode)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None \
                and not module.weight.requires_grad:
            module.eval()


def make_optimizer(recipe: Recipe, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam, SGD (momentum 0.9) or RMSProp (decay 0.9, momentum 0.9, eps 1.0: the paper's ImageNet recipe)."""
    if recipe.optimizer in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, nesterov=recipe.optimizer == "nesterov",
                               weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":
        # TF-slim's Inception recipe: decay 0.9, momentum 0.9, epsilon 1.0. Without the momentum, eps = 1.0 (much
        # larger than sqrt of the second moment) makes each step about lr x g: plain SGD ~10x smaller than meant.
        return torch.optim.RMSprop(params, lr=recipe.lr, alpha=0.9, eps=1.0, momentum=0.9,
                                   weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch learning-rate schedule: step decay (x lr_decay every lr_decay_epochs, the paper's), or a linear
    warm-up over `warmup_epochs` then cosine annealing to 0 at the last epoch."""
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, recipe.lr_decay_epochs, recipe.lr_decay)
    warmup, total = recipe.warmup_epochs, recipe.epochs

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_loss(task: str, label_smoothing: float = 0.0) -> nn.Module:
    """Softmax + cross-entropy for multi-class tasks, sigmoid + BCE for binary and multi-label."""
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing) if task == "multiclass" else nn.BCEWithLogitsLoss()


def loss_target(targets: torch.Tensor, task: str) -> torch.Tensor:
    return targets.long() if task == "multiclass" else targets


def autocast(device: torch.device, enabled: bool, cpu_bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when `enabled`, on CPU when `cpu_bf16` (training steps only); else nothing."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16 and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); emulated bf16 would be slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, data: SplitPixels,
                    transform: DeviceTransform, *, task: str, batch_size: int, seed: int, amp: bool = False,
                    cpu_bf16: bool = False, workers: int = 0,
                    shard: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    progress: Task | None = None) -> dict[str, float]:
    """One seeded pass over `data` (order and augmentation both from `seed`); frozen BatchNorm layers
    stay in eval mode. `cpu_bf16`: bf16 autocast on CPU with channels-last inputs (the model should be channels-last
    too). Returns the mean train loss, images seen, images/s and seconds."""
    model.train()
    keep_frozen_bn_in_eval(model)
    augment = torch.Generator().manual_seed(seed)
    progress = progress or Task()
    total, correct, seen, start = 0.0, 0.0, 0, time.perf_counter()
    for pixels, targets in batches(data, batch_size, shuffle=True, seed=seed, workers=workers, shard=shard):
        x = transform(pixels, train=True, generator=augment)
        if cpu_bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(transform.device, amp, cpu_bf16):
            logits = model(x).float()
        loss = loss_fn(logits, loss_target(targets.to(transform.device), task))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(pixels)
        if task != "multilabel":
            correct += batch_accuracy(logits.detach(), targets, task) * len(pixels)
        seen += len(pixels)
        progress.advance(status=f"loss {total / seen:.4f}")
    seconds = time.perf_counter() - start
    accuracy = None if task == "multilabel" else correct / max(seen, 1)   # as Scores.accuracy: none for multi-label
    return {"train_loss": total / max(seen, 1), "train_accuracy": accuracy, "images": seen,
            "images_per_s": seen / max(seconds, 1e-9), "seconds": seconds}


def batch_accuracy(logits: torch.Tensor, targets: torch.Tensor, task: str) -> float:
    """Accuracy of one batch as the training loop sees it (augmented images, train mode): the arg-max class for
    multi-class tasks, logit > 0 otherwise (the decisions `Scores.accuracy` counts)."""
    targets = targets.to(logits.device)
    if task == "multiclass":
        return float((logits.argmax(dim=1) == targets.long()).float().mean())
    return float(((logits > 0).float() == targets).float().mean())


def epoch_batches(images: int, batch_size: int, world_size: int = 1) -> int:
    """How many batches one process runs per epoch (for the progress bar)."""
    return math.ceil(math.ceil(images / world_size) / batch_size)


@torch.no_grad()
def predict_logits(model: nn.Module, data: SplitPixels, transform: DeviceTransform, batch_size: int,
                   amp: bool = False, loss_fn: nn.Module | None = None, task: str = "multilabel"
                   ) -> tuple[np.ndarray, float]:
    """Logits for a whole split (eval mode), and the mean loss when `loss_fn` is given."""
    model.eval()
    outputs, total_loss = [], 0.0
    for pixels, targets in batches(data, batch_size, shuffle=False, seed=0):
        with autocast(transform.device, amp):
            logits = model(transform(pixels)).float()
        if loss_fn is not None:
            total_loss += float(loss_fn(logits, loss_target(targets.to(logits.device), task))) * len(pixels)
        outputs.append(logits.cpu().numpy())
    return np.concatenate(outputs), total_loss / max(len(data), 1)


def evaluate(model: nn.Module, data: SplitPixels, transform: DeviceTransform, *, task: str, labels: list[str],
             batch_size: int, loss_fn: nn.Module, amp: bool = False) -> dict[str, Any]:
    """A whole split in eval mode: AUC per label and mean (from the logits, under the comparator's
    min-positives rule), accuracy, calibration and n, plus the mean loss under `loss_fn`."""
    logits, loss = predict_logits(model, data, transform, batch_size, amp, loss_fn, task)
    split = data.split
    scores = Scores(logits, np.asarray(split.targets), list(labels), task,
                    [split.images.name(i) for i in range(len(split))])
    return auc_summary(scores).to_metrics() | {"loss": loss}
