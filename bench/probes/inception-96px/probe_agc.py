# ruff: noqa  (as run on 2026-12-03 afternoon, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json, bench/results/cpu-2vcpu-inception-96px-grad-ratio.txt)
"""Probe: unit-wise adaptive gradient clipping (Brock et al. 2021, NFNets) on every conv/linear weight but the
classifier, inside gxr's modern recipe (per-epoch warm-up + cosine, Nesterov)."""
import json, sys, time
from pathlib import Path
import torch
import gxr.train.steps as steps
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

arch, lr, lam, tag = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
size = int(sys.argv[5]) if len(sys.argv) > 5 else 96
zero_fc = "zerofc" in tag
head = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
clip_fc = "clipfc" in tag
if head != 1.0:
    orig_opt = steps.make_optimizer
    def make_optimizer(recipe, params):
        params = list(params)
        fc = [p for p in params if p.shape[0] == 10]
        rest = [p for p in params if p.shape[0] != 10]
        o = orig_opt(recipe, rest)
        o.add_param_group({"params": fc, "lr": recipe.lr * head})
        return o
    steps.make_optimizer = make_optimizer

def agc(model):
    for name, p in model.named_parameters():
        if p.grad is None or p.ndim < 2 or (name.startswith(("fc.", "classifier.")) and not clip_fc):
            continue
        w = p.detach().flatten(1).norm(dim=1).clamp_min(1e-3)
        g = p.grad.flatten(1).norm(dim=1)
        scale = torch.where(g > lam * w, lam * w / g.clamp_min(1e-6), torch.ones_like(g))
        p.grad.mul_(scale.view(-1, *([1] * (p.ndim - 1))))

class Wrap:
    def __init__(self, inner, model): self.inner, self.model, self.param_groups = inner, model, inner.param_groups
    def zero_grad(self, **kw): self.inner.zero_grad(**kw)
    def step(self): agc(self.model); self.inner.step()
orig = steps.train_one_epoch
def train_one_epoch(model, optimizer, loss_fn, data, transform, **kw):
    return orig(model, Wrap(optimizer, model), loss_fn, data, transform, **kw)
steps.train_one_epoch = train_one_epoch
if zero_fc:
    import gxr.nets.factory as fac
    orig_create = fac.create_model
    def create_model(*a, **k):
        m = orig_create(*a, **k); torch.nn.init.zeros_(m.fc.weight); torch.nn.init.zeros_(m.fc.bias); return m
    fac.create_model = create_model
    import gxr.train.trainer as tr
    if hasattr(tr, "create_model"): tr.create_model = create_model

r = PRETRAIN_RECIPES["modern"](arch=arch, channels=1, epochs=6, batch_size=64, image_size=size,
                               train_fraction=0.25, device="cpu", cpu_bf16=True, lr=lr, optimizer=__import__("os").environ.get("OPT", "nesterov"))
t = time.perf_counter()
m = run_training(r, "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip", Path(f"/work/notes/probe2/{tag}"))
res = {"probe": tag, "arch": arch, "optimizer": r.optimizer, "lr": lr, "agc": lam, "size": size, "zero_fc": zero_fc, "head_lr_x": head, "clip_fc": clip_fc,
       "seconds": round(time.perf_counter() - t, 1), "imagenette_val_top1": m["test"]["accuracy"],
       "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                    round(h["val_accuracy"], 3)) for h in m["history"]]}
print(json.dumps(res), flush=True)
with open("/work/notes/probe2/results.jsonl", "a") as f: f.write(json.dumps(res) + "\n")
