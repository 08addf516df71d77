# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe: does Inception-V3 at 96 px pre-train on Imagenette with a lower peak lr (25% of train, 6 epochs)?"""
import json, sys, time
from pathlib import Path
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
out = {}
for name, lr, bf16 in [("lr0.05-bf16", 0.05, True), ("lr0.02-bf16", 0.02, True), ("lr0.01-bf16", 0.01, True),
                       ("lr0.05-fp32", 0.05, False)]:
    r = PRETRAIN_RECIPES["modern"](arch="inception_v3", channels=1, epochs=6, batch_size=64, image_size=96,
                                   train_fraction=0.25, device="cpu", cpu_bf16=bf16, lr=lr)
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/{name}"))
    out[name] = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
                 "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                              round(h["val_accuracy"], 3)) for h in m["history"]]}
    print(name, json.dumps(out[name]), flush=True)
json.dump(out, open("/work/notes/probe_inception.json", "w"), indent=1)
