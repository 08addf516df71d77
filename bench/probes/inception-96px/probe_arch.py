# ruff: noqa  (as run on 2026-12-03, this line added; results: bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json)
"""Probe: ARCH at 96 px, 25% of Imagenette train, 6 epochs, modern recipe at the given peak lrs."""
import json, sys, time
from pathlib import Path
from gxr.train import run_training
from gxr.train.recipes import PRETRAIN_RECIPES

spec = "folder:/work/shared/data/imagenette/imagenette_96px_q85.zip"
arch, size = sys.argv[1], int(sys.argv[2])
for lr in map(float, sys.argv[3:]):
    r = PRETRAIN_RECIPES["modern"](arch=arch, channels=1, epochs=6, batch_size=64, image_size=size,
                                   train_fraction=0.25, device="cpu", cpu_bf16=True, lr=lr)
    t = time.perf_counter()
    m = run_training(r, spec, Path(f"/work/notes/probe/{arch}-{size}-lr{lr}"))
    out = {"seconds": time.perf_counter() - t, "val_top1": m["test"]["accuracy"],
           "history": [(h["epoch"], round(h["lr"], 4), round(h["train_loss"], 3), round(h["val_loss"], 3),
                        round(h["val_accuracy"], 3)) for h in m["history"]]}
    print(arch, size, lr, json.dumps(out), flush=True)
