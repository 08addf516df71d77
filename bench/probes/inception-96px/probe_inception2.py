# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe 2: Inception-V3 96 px, 25% of Imagenette train, 6 epochs, modern lr 0.05: is it bf16, or the init
(truncated-normal std 0.1 on the 2048 -> 10 classifier gives large initial logits)?"""
import json, sys, time
from pathlib import Path
import torch
import gxr.nets.factory as factory
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
orig = factory._BUILDERS["inception_v3"]

def zero_fc(n):
    m = orig(n)
    torch.nn.init.zeros_(m.fc.weight); torch.nn.init.zeros_(m.fc.bias)
    return m

import torchvision.models as tvm

def torch_init(n):
    return tvm.inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=False, num_classes=n)

configs = [a for a in sys.argv[1:]]
for name in configs:
    factory._BUILDERS["inception_v3"] = zero_fc if "zerofc" in name else torch_init if "torchinit" in name else orig
    r = PRETRAIN_RECIPES["modern"](arch="inception_v3", channels=1, epochs=6, batch_size=64, image_size=96,
                                   train_fraction=0.25, device="cpu", cpu_bf16="fp32" not in name, lr=0.05)
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/{name}"))
    out = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
           "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                        round(h["val_accuracy"], 3)) for h in m["history"]]}
    print(name, json.dumps(out), flush=True)
