# ruff: noqa  (as run on 2026-12-03 afternoon, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json, bench/results/cpu-2vcpu-inception-96px-grad-ratio.txt)
"""Probe: per-step linear warm-up (from 0) then per-step cosine, instead of gxr's per-epoch schedule."""
import json, math, sys, time
from pathlib import Path
import gxr.train.steps as steps
import gxr.train.trainer as trainer_mod
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES
import torch

arch, lr, opt, tag = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
size = int(sys.argv[5]) if len(sys.argv) > 5 else 96
EPOCHS, WARM = 6, 2
state = {"spe": None, "t": 0}

class PerStep:
    def __init__(self, inner):
        self.inner, self.param_groups = inner, inner.param_groups
        for g in self.param_groups:
            g.setdefault("peak", g["lr"])
    def zero_grad(self, **kw): self.inner.zero_grad(**kw)
    def step(self):
        e = state["t"] / state["spe"]
        f = e / WARM if e < WARM else 0.5 * (1 + math.cos(math.pi * (e - WARM) / (EPOCHS - WARM)))
        for g in self.param_groups:
            g["lr"] = g["peak"] * f
        self.inner.step(); state["t"] += 1
    def state_dict(self): return self.inner.state_dict()

orig_train = steps.train_one_epoch
def train_one_epoch(model, optimizer, loss_fn, data, transform, **kw):
    state["spe"] = steps.epoch_batches(len(data), kw["batch_size"])
    return orig_train(model, PerStep(optimizer), loss_fn, data, transform, **kw)
steps.train_one_epoch = train_one_epoch
class NoSched:
    def step(self): pass
    def state_dict(self): return {}
steps.make_scheduler = lambda o, r: NoSched()

r = PRETRAIN_RECIPES["modern"](arch=arch, channels=1, epochs=EPOCHS, batch_size=64, image_size=size,
                               train_fraction=0.25, device="cpu", cpu_bf16=True, lr=lr, optimizer=opt)
t = time.perf_counter()
m = run_training(r, "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip", Path(f"/work/notes/probe2/{tag}"))
res = {"probe": tag, "arch": arch, "lr": lr, "optimizer": opt, "size": size, "seconds": round(time.perf_counter() - t, 1),
       "imagenette_val_top1": m["test"]["accuracy"],
       "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                    round(h["val_accuracy"], 3)) for h in m["history"]]}
print(json.dumps(res), flush=True)
with open("/work/notes/probe2/results.jsonl", "a") as f: f.write(json.dumps(res) + "\n")
