"""The training loop behind `gxr train finetune` and `gxr train pretrain`: per-epoch validation, best
checkpoint by val loss, early stopping, lr schedule, resume."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from torch import nn

from gxr.core.errors import GxrError
from gxr.core.fileio import atomic_path, write_json
from gxr.core.metrics import evaluate
from gxr.core.modelinfo import ModelInfo, probabilities
from gxr.core.progress import make_progress
from gxr.core.provenance import machine_info
from gxr.core.render import metrics_table
from gxr.data import DataSource, open_source
from gxr.nets.checkpoint import save_model
from gxr.nets.factory import create_model, load_init_weights, read_weight_file
from gxr.train.distributed import DistContext
from gxr.train.pipeline import DeviceTransform, SplitPixels, batches, pick_device
from gxr.train.recipes import FinetuneRecipe, PretrainRecipe

STATE_FILE = "last.pt"


def freeze_until(model: nn.Module, layer: str) -> int:
    """Freeze every parameter before the first one inside `layer` (a module name); returns how many."""
    names = [name for name, _ in model.named_parameters()]
    start = next((i for i, n in enumerate(names) if n.startswith(layer + ".")), None)
    if start is None:
        top = ", ".join(name for name, _ in model.named_children())
        raise GxrError(f"--freeze-until {layer!r}: no such layer (top-level layers: {top})")
    frozen = 0
    for i, (_, param) in enumerate(model.named_parameters()):
        if i < start:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def _keep_frozen_bn_in_eval(model: nn.Module) -> None:
    """BatchNorm layers whose weights are frozen also keep their running statistics."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None \
                and not module.weight.requires_grad:
            module.eval()


def make_optimizer(recipe: FinetuneRecipe, params) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":   # the paper's ImageNet recipe: decay 0.9
        return torch.optim.RMSprop(params, lr=recipe.lr, alpha=0.9, eps=1.0, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_loss(task: str, label_smoothing: float = 0.0) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing) if task == "multiclass" else nn.BCEWithLogitsLoss()


def loss_target(targets: torch.Tensor, task: str) -> torch.Tensor:
    return targets.long() if task == "multiclass" else targets


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_logits(model: nn.Module, data: SplitPixels, transform: DeviceTransform, batch_size: int,
                   amp: bool = False, loss_fn: nn.Module | None = None, task: str = "multilabel"
                   ) -> tuple[np.ndarray, float]:
    """Logits for a whole split (eval mode), and the mean loss when `loss_fn` is given."""
    model.eval()
    outputs, total_loss = [], 0.0
    for pixels, targets in batches(data, batch_size, shuffle=False, seed=0):
        with _autocast(transform.device, amp):
            logits = model(transform(pixels)).float()
        if loss_fn is not None:
            total_loss += float(loss_fn(logits, loss_target(targets.to(logits.device), task))) * len(pixels)
        outputs.append(logits.cpu().numpy())
    return np.concatenate(outputs), total_loss / max(len(data), 1)


class Trainer:
    """One training run (fine-tuning or pre-training, as the recipe says) in RUN_DIR."""

    def __init__(self, recipe: FinetuneRecipe, data_spec: str, out_dir: Path, console: Console,
                 init: Path | None = None, resume: bool = False):
        self.recipe, self.out_dir, self.console = recipe.validate(), Path(out_dir), console
        self.kind = "pretrain" if isinstance(recipe, PretrainRecipe) else "finetune"
        self.state_path = self.out_dir / STATE_FILE
        if self.state_path.exists() and not resume:
            raise GxrError(f"{self.out_dir}: already holds a run; pass --resume to continue it or choose "
                           "another --out")
        if resume and not self.state_path.exists():
            raise GxrError(f"{self.state_path}: nothing to resume (no interrupted run in {self.out_dir})")
        self.resume = resume
        self.dist = DistContext.from_env(pick_device(recipe.device).type)
        if not self.dist.is_main:   # one process speaks and writes
            self.console = console = Console(quiet=True)
        self.source: DataSource = open_source(data_spec)
        for note in self.source.notes:
            console.print(f"[yellow]note[/]: {escape(data_spec)}: {escape(note)}")
        self.info = ModelInfo(recipe.arch, recipe.channels, recipe.image_size, self.source.task,
                              list(self.source.labels), list(self.source.classes))
        torch.manual_seed(recipe.seed)
        self.device = self.dist.device(pick_device(recipe.device))
        self.model = create_model(recipe.arch, recipe.channels, self.info.num_outputs)
        self.init_notes: list[str] = []
        if init is not None:
            self.init_notes = load_init_weights(self.model, recipe.arch, read_weight_file(init), str(init),
                                                recipe.stem_mode)
            for note in self.init_notes:
                console.print(f"[cyan]init[/]: {escape(note)}")
        if recipe.freeze_until:
            frozen = freeze_until(self.model, recipe.freeze_until)
            console.print(f"froze {frozen:,} parameters before {recipe.freeze_until}")
        self.model.to(self.device)
        self.train_model = self.dist.wrap(self.model, self.device)   # DDP under torchrun, else the model
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(recipe, params)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, recipe.lr_decay_epochs, recipe.lr_decay)
        self.loss_fn = make_loss(self.source.task, recipe.label_smoothing)
        self.eval_loss_fn = make_loss(self.source.task)
        self.transform = DeviceTransform(self.info.norm, recipe.channels, self.device, recipe.hflip,
                                         recipe.random_resized_crop)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": None, "val_loss": math.inf}
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs = 0
        self.start_epoch = 0

    # ---- data -------------------------------------------------------------------------------
    def _train_split(self):
        split = self.source.split("train")
        if self.recipe.train_fraction < 1.0:
            rng = np.random.default_rng(self.recipe.seed)
            keep = max(1, int(round(self.recipe.train_fraction * len(split))))
            split = split.subset(np.sort(rng.permutation(len(split))[:keep]))
        return split

    def _record(self) -> dict[str, Any]:
        return {"spec": self.source.spec, "fingerprint": self.source.fingerprint,
                "sizes": {k: len(v) for k, v in self.source.splits.items()}, "notes": self.source.notes}

    # ---- state ------------------------------------------------------------------------------
    def _save_state(self, epoch: int) -> None:
        if not self.dist.is_main:
            return
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(),
                 "history": self.history, "best": self.best, "bad_epochs": self.bad_epochs,
                 "recipe": self.recipe.to_dict(), "fingerprint": self.source.fingerprint,
                 "torch_rng": torch.get_rng_state()}
        with atomic_path(self.state_path) as tmp:
            torch.save(state, tmp)

    def _load_state(self) -> None:
        try:
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise GxrError(f"{self.state_path}: unreadable run state ({str(exc).splitlines()[0]})") from None
        saved = FinetuneRecipe.from_dict(state["recipe"])
        if saved.identity() != self.recipe.identity() or state["fingerprint"] != self.source.fingerprint:
            raise GxrError(f"{self.state_path}: the run was started with other settings or data; "
                           "resume with the same flags")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history, self.best, self.bad_epochs = state["history"], state["best"], state["bad_epochs"]
        self.start_epoch = int(state["epoch"]) + 1
        torch.set_rng_state(state["torch_rng"])
        self.console.print(f"resuming {self.out_dir} after epoch {self.start_epoch}")

    def _save_model(self, **extra: Any) -> None:
        if not self.dist.is_main:
            return
        save_model(self.out_dir / "model.pt", self.model, self.info, recipe=self.recipe.to_dict(),
                   data=self._record(), init_notes=self.init_notes, **extra)

    # ---- loop -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        r = self.recipe
        progress = make_progress(self.console)
        with progress:
            # gray models with luma_after_augment see RGB during augmentation, then Luma on the device
            decode = 3 if (r.luma_after_augment and r.channels == 1) else r.channels
            train = SplitPixels(self._train_split(), decode, r.image_size, progress, "decode train")
            val = SplitPixels(self.source.split("val"), r.channels, r.image_size, progress, "decode val")
            if self.resume:
                self._load_state()
            self.console.print(f"{r.arch} {r.channels}-channel, {len(train)} train / {len(val)} val images "
                               f"at {r.image_size}px on {self.device}")
            for epoch in range(self.start_epoch, r.epochs):
                row = self._epoch(epoch, train, val, progress)
                self.history.append(row)
                self._print_epoch(row)
                self.scheduler.step()
                if row["val_loss"] < self.best["val_loss"]:
                    self.best, self.bad_epochs = {"epoch": epoch, "val_loss": row["val_loss"]}, 0
                    self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                    self._save_model(best_epoch=epoch)
                else:
                    self.bad_epochs += 1
                self._save_state(epoch)
                if self.bad_epochs >= r.patience:
                    self.console.print(f"early stop: val loss has not improved for {r.patience} epochs")
                    break
            try:
                return self._finish(progress)
            finally:
                self.dist.close()

    def _epoch(self, epoch: int, train: SplitPixels, val: SplitPixels, progress: Progress) -> dict[str, Any]:
        r = self.recipe
        self.train_model.train()
        _keep_frozen_bn_in_eval(self.model)
        shard = self.dist.shard if self.dist.enabled else None
        n_batches = math.ceil(math.ceil(len(train) / self.dist.world_size) / r.batch_size)
        task = progress.add_task(f"epoch {epoch + 1}/{r.epochs}", total=n_batches, status="")
        augment = torch.Generator().manual_seed(r.seed * 1000 + epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        total, seen, start = 0.0, 0, time.perf_counter()
        for pixels, targets in batches(train, r.batch_size, shuffle=True, seed=r.seed * 1000 + epoch,
                                       workers=r.workers, shard=shard):
            x = self.transform(pixels, train=True, generator=augment)
            with _autocast(self.device, r.amp):
                logits = self.train_model(x).float()
            loss = self.loss_fn(logits, loss_target(targets.to(self.device), self.info.task))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(pixels)
            seen += len(pixels)
            progress.update(task, advance=1, status=f"loss {total / seen:.4f}")
        train_time = time.perf_counter() - start
        progress.remove_task(task)
        logits, val_loss = predict_logits(self.model, val, self.transform, r.batch_size * 2, r.amp,
                                          self.eval_loss_fn, self.info.task)
        metrics = evaluate(self.info.task, self.info.labels, val.split.targets,
                           probabilities(logits, self.info.task))
        return {"epoch": epoch + 1, "lr": lr, "train_loss": total / max(seen, 1), "val_loss": val_loss,
                "val_mean_auc": metrics["mean_auc"], "val_accuracy": metrics["accuracy"],
                "train_images_per_s": seen / train_time, "seconds": time.perf_counter() - start}

    def _print_epoch(self, row: dict[str, Any]) -> None:
        acc = f"  val acc {row['val_accuracy']:.4f}" if row["val_accuracy"] is not None else ""
        auc = f"{row['val_mean_auc']:.4f}" if row["val_mean_auc"] is not None else "n/a"
        self.console.print(f"epoch {row['epoch']:>3}  lr {row['lr']:.3g}  train loss {row['train_loss']:.4f}  val loss "
                           f"{row['val_loss']:.4f}  val mean AUC {auc}{acc}  "
                           f"({row['train_images_per_s']:.0f} img/s, {row['seconds']:.0f}s)")

    def _finish(self, progress: Progress) -> dict[str, Any]:
        from gxr.nets.checkpoint import read_checkpoint

        r = self.recipe
        # the best epoch's weights: kept in memory, or (resumed run, no better epoch since) from model.pt
        if self.best_state is None and not (self.out_dir / "model.pt").is_file():
            raise GxrError(f"{self.out_dir}: validation loss was never finite (training diverged); try a lower --lr")
        best = self.best_state or read_checkpoint(self.out_dir / "model.pt")["state_dict"]
        self.model.load_state_dict(best)
        test = SplitPixels(self.source.split("test"), r.channels, r.image_size, progress, "decode test")
        logits, test_loss = predict_logits(self.model, test, self.transform, r.batch_size * 2, r.amp,
                                           self.eval_loss_fn, self.info.task)
        test_metrics = evaluate(self.info.task, self.info.labels, test.split.targets,
                                probabilities(logits, self.info.task))
        test_metrics["loss"] = test_loss
        metrics = {"kind": self.kind, "task": self.info.task, "labels": self.info.labels, "arch": r.arch,
                   "channels": r.channels,
                   "image_size": r.image_size, "best_epoch": (self.best["epoch"] or 0) + 1,
                   "test": test_metrics, "history": self.history, "recipe": r.to_dict(),
                   "data": self._record(), "device": str(self.device),
                   "distributed": {"world_size": self.dist.world_size, "batch_size_per_process": r.batch_size},
                   "machine": machine_info()}
        self._save_model(best_epoch=self.best["epoch"], metrics={"test": test_metrics})
        if self.dist.is_main:
            write_json(self.out_dir / "metrics.json", metrics)
        self.console.print(metrics_table(metrics))
        self.console.print(f"wrote {self.out_dir / 'model.pt'} and {self.out_dir / 'metrics.json'}")
        return metrics


