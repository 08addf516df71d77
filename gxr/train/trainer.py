"""A training run (fine-tuning or pre-training, as the recipe says) in one run directory.

`Trainer(recipe, data_spec, out_dir, ...)` only records its arguments. `build(dist)` does the work that
touches the outside world: checks the run directory, opens the data, creates the model, loads `init`
weights and the resume state, and cleans up stale temp files. `fit()` runs the epochs with the pure
steps of gxr.train.steps (best checkpoint by val loss, early stopping, lr schedule, last.pt after every
epoch) and evaluates the best weights on the test split. All output goes through the reporter.
`run()` = `with distributed(...)`: build, fit.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gxr.core.errors import GxrError
from gxr.core.fileio import write_json
from gxr.core.modelinfo import ModelInfo
from gxr.core.provenance import machine_info
from gxr.data import DataSource, open_source
from gxr.nets.checkpoint import read_checkpoint, save_model
from gxr.nets.factory import create_model, load_init_weights, read_weight_file
from gxr.train import state as run_state
from gxr.train import steps
from gxr.train.distributed import DistContext, distributed
from gxr.train.pipeline import DeviceTransform, SplitPixels, decode_size, pick_device
from gxr.train.recipes import PretrainRecipe, Recipe
from gxr.train.report import Reporter


class Trainer:
    """One training run in OUT_DIR; construct, then `run()` (or `build()` and `fit()`)."""

    def __init__(self, recipe: Recipe, data_spec: str, out_dir: Path, *, init: Path | None = None,
                 resume: bool = False, reporter: Reporter | None = None):
        self.recipe, self.data_spec, self.out_dir = recipe.validate(), data_spec, Path(out_dir)
        self.init, self.resume, self.reporter = init, resume, reporter or Reporter()
        self.kind = "pretrain" if isinstance(recipe, PretrainRecipe) else "finetune"
        self.state_path = self.out_dir / run_state.STATE_FILE
        self.dist = DistContext()
        self.finished: dict[str, Any] | None = None   # set by build() when resuming a finished run
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": None, "val_loss": math.inf}
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_epochs, self.start_epoch, self.init_notes = 0, 0, []

    def run(self) -> dict[str, Any]:
        """Build and fit inside the distributed context; returns the metrics.json dict."""
        with distributed(pick_device(self.recipe.device).type) as dist:
            return self.build(dist).fit()

    # ---- build ------------------------------------------------------------------------------
    def build(self, dist: DistContext | None = None) -> Trainer:
        """Open the data, create the model and optimizer, restore the resume state."""
        r, self.dist = self.recipe, dist or DistContext()
        if not self.dist.is_main:   # one process speaks and writes
            self.reporter = Reporter()
        run_state.check_run_dir(self.out_dir, self.resume)
        self.source: DataSource = open_source(self.data_spec)
        for note in self.source.notes:
            self.reporter.on_note(f"{self.data_spec}: {note}", "data")
        self.info = ModelInfo(r.arch, r.channels, r.image_size, self.source.task, list(self.source.labels),
                              list(self.source.classes))
        saved = None
        if self.resume:
            saved = run_state.load_state(self.state_path)
            run_state.check_same_run(saved, self.state_path, r, self.source.fingerprint)
        if self.dist.is_main:
            self._remove_stale_temp_files()
        if saved is not None:
            self.finished = run_state.finished_metrics(self.out_dir, saved, r)
            if self.finished is not None:
                return self
        self._build_model()
        if saved is not None:
            self._restore(saved)
        return self

    def _remove_stale_temp_files(self) -> None:
        for path, size in run_state.remove_stale_temp_files(self.out_dir):
            self.reporter.on_note(f"removed {path.name} ({size:,} bytes), left by an interrupted run", "warning")

    def _build_model(self) -> None:
        r = self.recipe
        torch.manual_seed(r.seed)
        self.device = self.dist.device(pick_device(r.device))
        self.model = create_model(r.arch, r.channels, self.info.num_outputs, zero_head=r.zero_init_head)
        if self.init is not None:
            self.init_notes = load_init_weights(self.model, r.arch, read_weight_file(self.init), str(self.init),
                                                r.stem_mode)
            for note in self.init_notes:
                self.reporter.on_note(note, "init")
        if r.freeze_until:
            frozen = steps.freeze_until(self.model, r.freeze_until)
            self.reporter.on_note(f"froze {frozen:,} parameters before {r.freeze_until}")
        self.model.to(self.device)
        self.cpu_bf16 = r.cpu_bf16 and self.device.type == "cpu" and steps.cpu_has_native_bf16()
        if r.cpu_bf16 and not self.cpu_bf16:
            self.reporter.on_note("--cpu-bf16: this device has no native bf16; training in fp32", "warning")
        if self.cpu_bf16:   # oneDNN's bf16 convolutions are fastest channels-last; evaluation stays fp32
            self.model.to(memory_format=torch.channels_last)
            self.reporter.on_note("training steps in bf16 autocast, channels-last (CPU); validation and test in fp32")
        self.train_model = self.dist.wrap(self.model, self.device)   # DDP under torchrun, else the model
        self.optimizer = steps.make_optimizer(r, [p for p in self.model.parameters() if p.requires_grad])
        self.scheduler = steps.make_scheduler(self.optimizer, r)
        self.loss_fn = steps.make_loss(self.source.task, r.label_smoothing)
        self.eval_loss_fn = steps.make_loss(self.source.task)
        self.transform = DeviceTransform(self.info.norm, r.channels, self.device, r.hflip, r.random_resized_crop,
                                         r.image_size, r.crop_scale)

    def _restore(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.history, self.best, self.bad_epochs = saved["history"], saved["best"], saved["bad_epochs"]
        self.start_epoch = int(saved["epoch"]) + 1
        torch.set_rng_state(saved["torch_rng"])
        self.reporter.on_note(f"resuming {self.out_dir} after epoch {self.start_epoch}")

    # ---- fit --------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs, then evaluate the best weights on test; returns metrics.json's dict.
        A finished run is left as it is and its recorded metrics are returned."""
        if self.finished is not None:
            done = len(self.finished["history"])
            how = f"epoch {done} of {self.recipe.epochs}" if done >= self.recipe.epochs else \
                f"stopped early after epoch {done} of {self.recipe.epochs}"
            self.reporter.on_note(f"{self.out_dir}: the run is finished ({how}); nothing was changed")
            return self.finished
        if not hasattr(self, "model"):
            raise GxrError("Trainer.fit() needs Trainer.build() first")
        r = self.recipe
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with self.reporter.running():
            # gray models with luma_after_augment see RGB during augmentation, then Luma on the device
            decode = 3 if (r.luma_after_augment and r.channels == 1) else r.channels
            size = decode_size(r.image_size, r.crop_ratio)
            train = SplitPixels(self._train_split(), decode, size, self.reporter.task, "decode train")
            val = SplitPixels(self.source.split("val"), r.channels, size, self.reporter.task, "decode val")
            self.reporter.on_note(f"{r.arch} {r.channels}-channel, {len(train)} train / {len(val)} val images "
                                  f"at {r.image_size}px on {self.device}")
            for epoch in range(self.start_epoch, r.epochs):
                if self._epoch(epoch, train, val):
                    self.reporter.on_note(f"early stop: val loss has not improved for {r.patience} epochs")
                    break
            return self._finish()

    def _train_split(self):
        split = self.source.split("train")
        if self.recipe.train_fraction < 1.0:
            rng = np.random.default_rng(self.recipe.seed)
            keep = max(1, int(round(self.recipe.train_fraction * len(split))))
            split = split.subset(np.sort(rng.permutation(len(split))[:keep]))
        return split

    def _epoch(self, epoch: int, train: SplitPixels, val: SplitPixels) -> bool:
        """Train and validate one epoch, keep the best weights, save the state; True = stop early."""
        r, start = self.recipe, time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        bar = self.reporter.task(f"epoch {epoch + 1}/{r.epochs}",
                                 steps.epoch_batches(len(train), r.batch_size, self.dist.world_size))
        trained = steps.train_one_epoch(self.train_model, self.optimizer, self.loss_fn, train, self.transform,
                                        task=self.info.task, batch_size=r.batch_size, seed=r.seed * 1000 + epoch,
                                        amp=r.amp, cpu_bf16=self.cpu_bf16, workers=r.workers, progress=bar,
                                        shard=self.dist.shard if self.dist.enabled else None)
        bar.close()
        val_metrics = self._evaluate(val)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": trained["train_loss"],
               "train_accuracy": trained["train_accuracy"], "val_loss": val_metrics["loss"],
               "val_mean_auc": val_metrics["mean_auc"], "val_accuracy": val_metrics["accuracy"],
               "train_images_per_s": trained["images_per_s"], "seconds": time.perf_counter() - start}
        self.history.append(row)
        self.reporter.on_epoch(row)
        self.scheduler.step()
        if row["val_loss"] < self.best["val_loss"]:
            self.best, self.bad_epochs = {"epoch": epoch, "val_loss": row["val_loss"]}, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self._save_model(best_epoch=epoch)
        else:
            self.bad_epochs += 1
        self._save_state(epoch)
        return self.bad_epochs >= r.patience

    def _evaluate(self, data: SplitPixels) -> dict[str, Any]:
        return steps.evaluate(self.model, data, self.transform, task=self.info.task, labels=self.info.labels,
                              batch_size=self.recipe.batch_size * 2, loss_fn=self.eval_loss_fn, amp=self.recipe.amp)

    def _finish(self) -> dict[str, Any]:
        r = self.recipe
        model_path = self.out_dir / run_state.MODEL_FILE
        # the best epoch's weights: kept in memory, or (resumed run, no better epoch since) from model.pt
        if self.best_state is None and not model_path.is_file():
            raise GxrError(f"{self.out_dir}: validation loss was never finite (training diverged); "
                           "try a lower learning rate")
        self.model.load_state_dict(self.best_state or read_checkpoint(model_path)["state_dict"])
        test = SplitPixels(self.source.split("test"), r.channels, decode_size(r.image_size, r.crop_ratio),
                           self.reporter.task, "decode test")
        test_metrics = self._evaluate(test)
        metrics = {"kind": self.kind, "task": self.info.task, "labels": self.info.labels, "arch": r.arch,
                   "channels": r.channels, "image_size": r.image_size, "best_epoch": (self.best["epoch"] or 0) + 1,
                   "test": test_metrics, "history": self.history, "recipe": r.to_dict(), "data": self._record(),
                   "device": str(self.device),
                   "distributed": {"world_size": self.dist.world_size, "batch_size_per_process": r.batch_size},
                   "machine": machine_info()}
        self._save_model(best_epoch=self.best["epoch"], metrics={"test": test_metrics})
        if self.dist.is_main:
            write_json(self.out_dir / run_state.METRICS_FILE, metrics)
        self.reporter.on_finish(metrics)
        self.reporter.on_note(f"wrote {model_path} and {self.out_dir / run_state.METRICS_FILE}")
        return metrics

    # ---- files ------------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        return {"spec": self.source.spec, "fingerprint": self.source.fingerprint,
                "sizes": {k: len(v) for k, v in self.source.splits.items()}, "notes": self.source.notes}

    def _save_state(self, epoch: int) -> None:
        if self.dist.is_main:
            run_state.save_state(self.state_path, epoch=epoch, model=self.model.state_dict(),
                                 optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                                 history=self.history, best=self.best, bad_epochs=self.bad_epochs,
                                 recipe=self.recipe.to_dict(), fingerprint=self.source.fingerprint,
                                 torch_rng=torch.get_rng_state())

    def _save_model(self, **extra: Any) -> None:
        if self.dist.is_main:
            save_model(self.out_dir / run_state.MODEL_FILE, self.model, self.info, recipe=self.recipe.to_dict(),
                       data=self._record(), init_notes=self.init_notes, **extra)
