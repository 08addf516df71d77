# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe 8: Inception-V3 96 px, 25% train, 6 epochs, Nesterov peak lr 0.05 for the backbone, the classifier (zero
init) at 0.1x that lr (its 2048-wide, dropout-doubled input makes its steps ~3x ResNet-18's at the same lr);
with torchvision's init or kaiming-normal convs."""
import json, sys, time
from pathlib import Path
import torch
from torch import nn
import gxr.nets.factory as factory
import gxr.train.steps as steps
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
orig = factory._BUILDERS["inception_v3"]
def build(kaiming):
    def make(n):
        m = orig(n)
        if kaiming:
            for mod in m.modules():
                if isinstance(mod, nn.Conv2d):
                    nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(m.fc.weight); nn.init.zeros_(m.fc.bias)
        return m
    return make
orig_opt = steps.make_optimizer
def head_groups(recipe, params):
    params = list(params)
    head = [p for p in params if p.shape in ((10, 2048), (10,))]
    body = [p for p in params if not any(p is h for h in head)]
    return torch.optim.SGD([{"params": body}, {"params": head, "lr": recipe.lr * HEAD}], lr=recipe.lr, momentum=0.9,
                           nesterov=True, weight_decay=recipe.weight_decay)
for name in sys.argv[1:]:
    HEAD = float(name.split("head")[1].split("-")[0]); LR = float(name.split("lr")[-1])
    factory._BUILDERS["inception_v3"] = build("kaiming" in name)
    steps.make_optimizer = head_groups
    r = PRETRAIN_RECIPES["modern"](arch="inception_v3", channels=1, epochs=6, batch_size=64, image_size=96,
                                   train_fraction=0.25, device="cpu", cpu_bf16=True, lr=LR)
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/{name}"))
    out = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
           "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                        round(h["val_accuracy"], 3)) for h in m["history"]]}
    print(name, json.dumps(out), flush=True)
