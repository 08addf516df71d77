# ruff: noqa  (as run on 2026-12-03, this line added; output: bench/results/cpu-2vcpu-inception-96px-bn-diagnostic.txt)
"""Diagnostic: Inception-V3 (gxr's gray model) on real Imagenette at 96 px, Nesterov SGD lr 0.03, 80 steps of
batch 64 (no augmentation): grad norm per step, and every 20 steps each top-level module's output std in train mode
vs eval mode on one fixed held-out batch: where does eval mode depart from train mode?"""
import json, sys, time
import numpy as np, torch, torch.nn.functional as F
from gxr.data import open_source, split_pixels
from gxr.nets.factory import create_model

torch.manual_seed(0)
src = open_source("folder:/work/shared/data/imagenette/imagenette_96px_q85.zip")
train = src.split("train")
rng = np.random.default_rng(0)
idx = rng.permutation(len(train))[: 64 * 80 + 64]
sub = train.subset(idx)
x_all = torch.from_numpy(split_pixels(sub, 1, 96)).float().div(255).sub(0.5).div(0.5)
y_all = torch.from_numpy(np.asarray(sub.targets).astype(np.int64))
held_x, held_y = x_all[-64:], y_all[-64:]
arch = sys.argv[1] if len(sys.argv) > 1 else "inception_v3"
m = create_model(arch, 1, 10)
opt = torch.optim.SGD(m.parameters(), lr=0.03, momentum=0.9, nesterov=True, weight_decay=5e-5)
def stds(mode):
    out = {}
    hooks = [mod.register_forward_hook(lambda mod, i, o, n=n: out.__setitem__(n, round(float(o.float().std()), 3)))
             for n, mod in m.named_children()]
    m.train(mode == "train")
    with torch.no_grad():
        logits = m(held_x)
    for h in hooks: h.remove()
    out["loss"] = round(float(F.cross_entropy(logits, held_y)), 3)
    return out
for step in range(80):
    m.train()
    xb, yb = x_all[step * 64:(step + 1) * 64], y_all[step * 64:(step + 1) * 64]
    loss = F.cross_entropy(m(xb), yb, label_smoothing=0.1)
    opt.zero_grad(); loss.backward()
    gn = float(torch.nn.utils.clip_grad_norm_(m.parameters(), 1e9)); opt.step()
    if step % 5 == 0:
        print(step, "loss", round(loss.item(), 3), "grad norm", round(gn, 1), flush=True)
    if step % 20 == 19:
        tr, ev = stds("train"), stds("eval")
        print("  train-mode", tr, "\n  eval-mode ", ev, flush=True)
