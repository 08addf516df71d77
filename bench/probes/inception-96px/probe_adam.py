# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe 7: Inception-V3 96 px, 25% train, 6 epochs, the modern recipe's schedule (warm-up + cosine) with Adam."""
import json, sys, time
from pathlib import Path
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
for lr in map(float, sys.argv[1:]):
    r = PRETRAIN_RECIPES["modern"](arch="inception_v3", channels=1, epochs=6, batch_size=64, image_size=96,
                                   train_fraction=0.25, device="cpu", cpu_bf16=True, lr=lr, optimizer="adam")
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/inception-adam-lr{lr}"))
    out = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
           "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                        round(h["val_accuracy"], 3)) for h in m["history"]]}
    print("adam", lr, json.dumps(out), flush=True)
