# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe 5: Inception-V3 96 px, 25% train, 6 epochs, zero-init classifier; lr 0.02, or lr 0.05 with grad-norm clip."""
import json, sys, time
from pathlib import Path
import torch
import gxr.nets.factory as factory
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
orig = factory._BUILDERS["inception_v3"]
def zero_fc(n):
    m = orig(n); torch.nn.init.zeros_(m.fc.weight); torch.nn.init.zeros_(m.fc.bias); return m
factory._BUILDERS["inception_v3"] = zero_fc
SGD = torch.optim.SGD
class ClippedSGD(SGD):
    def step(self, closure=None):
        torch.nn.utils.clip_grad_norm_([p for g in self.param_groups for p in g["params"]], 2.0)
        return super().step(closure)
for name, lr, clip in [("zerofc-lr0.02", 0.02, False), ("zerofc-clip2-lr0.05", 0.05, True)]:
    torch.optim.SGD = ClippedSGD if clip else SGD
    r = PRETRAIN_RECIPES["modern"](arch="inception_v3", channels=1, epochs=6, batch_size=64, image_size=96,
                                   train_fraction=0.25, device="cpu", cpu_bf16=True, lr=lr)
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/{name}"))
    out = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
           "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                        round(h["val_accuracy"], 3)) for h in m["history"]]}
    print(name, json.dumps(out), flush=True)
