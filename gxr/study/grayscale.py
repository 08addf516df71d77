"""`gxr study grayscale`: Xie & Richmond (2018) Tables 1-4 and Figure 3 at small scale.

Pre-train gray and color models on Imagenette, compare them on Imagenette val (Table 1), show their
first-layer kernels (Figure 3), fine-tune four arms on each X-ray task (Tables 2-3), time gray vs color
(Table 4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gxr.study.arms import finetune, image_size, pretrain
from gxr.study.context import StudyContext
from gxr.study.evaluation import top_k_accuracy

TASKS = ("pneumonia", "covid", "nih")
TASK_TITLES = {"pneumonia": "PneumoniaMNIST (official split)", "covid": "COVID-19 Radiography, 3 classes",
               "nih": "NIH ChestX-ray14 (1000 images, patient-disjoint re-split)"}
# arm -> (channels, which pre-trained model initializes it)
ARMS = {"gray-pretrained": (1, "gray"), "color-pretrained": (3, "color"), "color-folded-to-gray": (1, "color"),
        "scratch": (1, None)}
PAIRS = (("gray-pretrained", "color-pretrained"), ("gray-pretrained", "color-folded-to-gray"),
         ("gray-pretrained", "scratch"), ("color-pretrained", "scratch"))

PRETRAINED = ("gray-pretrained", "color-pretrained")

# Sized for the 2-vCPU machine, <= 2 h for the whole study. Measured there: a gray ResNet-18 with the modern recipe
# at 96 px reached 0.7896 Imagenette val top-1 after 24 fp32 epochs in 36.0 min, still rising
# (bench/results/cpu-2vcpu-imagenette-resnet18-96-gray-modern-24ep.json); with bf16 autocast + channels-last training
# steps (`cpu_bf16`, native on that CPU's AVX512-BF16) an epoch takes 41-47 s instead of 80-107 s. So 40 epochs per
# model (about 30 min each). The X-ray arms fine-tune at 64 px (PneumoniaMNIST is 28 px and NIH1000 64 px at the
# source): 4 arms x 3 seeds x 3 tasks x 4 epochs.
DEFAULTS = {"arch": "resnet18", "recipe": "modern", "pretrain_image_size": 96, "pretrain_epochs": 40,
            "pretrain_fraction": 1.0, "pretrain_batch_size": 64, "finetune_image_size": 64, "finetune_epochs": 4,
            "finetune_fraction": 1.0, "finetune_lr": 1e-4, "finetune_batch_size": 32, "seeds": 3,
            "tasks": list(TASKS), "latency_iters": 30, "bootstrap_resamples": 1000, "cpu_bf16": True}
# --quick (what the tests run): two seeds, and the binary and multi-label tasks only, to stay as fast as the one-seed
# three-task quick run was (80 s); the multi-class path is the same code (tests/study/test_seeds.py runs it).
QUICK = {**DEFAULTS, "pretrain_image_size": 32, "pretrain_epochs": 1, "pretrain_fraction": 0.05,
         "finetune_image_size": 32, "finetune_epochs": 1, "finetune_fraction": 0.05, "seeds": 2,
         "tasks": ["pneumonia", "nih"], "latency_iters": 5, "bootstrap_resamples": 50}

WHAT = ("Gray (1-channel stem, Luma after augmentation) and color (3-channel) models of one architecture are "
        "pre-trained on Imagenette with the same recipe and the same initialization (the gray stem is the channel "
        "sum of the color stem's initial weights), then fine-tuned on chest X-ray tasks in four arms, each with "
        "several fine-tuning seeds: from the gray model, from the color model, from the color model folded to gray "
        "(first conv summed over its input channels, as `gxr convert` does), and from scratch. Fine-tuning follows "
        "the paper: Adam at lr 1e-4, the epoch kept on validation loss. It tests, at small scale, the paper's claim "
        "that gray pre-training transfers at least as well to X-rays as color pre-training and runs faster. It is "
        "not ImageNet pre-training, and it is not the paper's full-resolution NIH experiment: NIH1000 (1000 images "
        "at 64 px) is a pipeline check only.")


def run(ctx: StudyContext) -> dict[str, Any]:
    s = ctx.settings
    ctx.step(f"pre-train gray and color models on Imagenette ({s['recipe']} recipe)")
    pre = {key: pretrain(ctx, f"pretrain-{key}", s["arch"], channels, image_size(s["arch"], s["pretrain_image_size"]),
                         s["pretrain_epochs"], s["pretrain_fraction"], s["pretrain_batch_size"], s["recipe"])
           for key, channels in (("gray", 1), ("color", 3))}
    ctx.step("Table 1: top-1 / top-5 on Imagenette val (gray model on Luma images)")
    table1 = {key: ctx.stages.run(f"pretrain-{key}/eval-val", {"of": p["hash"], "scoring": "recipe-crop-v1"},
                                  lambda _f, _r, p=p: _imagenette_accuracy(ctx, p["dir"])) for key, p in pre.items()}
    tasks = {}
    for task in s["tasks"]:
        ctx.step(f"fine-tune four arms x {s['seeds']} seeds on {TASK_TITLES[task]}")
        tasks[task] = {arm: [finetune(ctx, f"{task}/{arm}/seed{seed}", task, s["arch"], channels,
                                      pre[init] if init else None, image_size(s["arch"], s["finetune_image_size"]),
                                      s["finetune_epochs"],
                                      s["finetune_lr"], s["finetune_batch_size"], s["finetune_fraction"], seed=seed)
                             for seed in range(s["seeds"])]
                       for arm, (channels, init) in ARMS.items()}
    ctx.step("Table 4: ms/image, gray vs color fine-tuned models")
    first = s["tasks"][0]
    latency = ctx.stages.run("latency", {"models": [tasks[first][a][0]["dir"] for a in ARMS],
                                         "iters": s["latency_iters"], "device": ctx.device, "noise": "rule-v2"},
                             lambda _f, _r: _latency(ctx, tasks[first], s["latency_iters"]))
    return {"pretrain": {k: _pretrain_summary(p, table1[k]) for k, p in pre.items()}, "tasks": tasks,
            "latency": latency}


def _imagenette_accuracy(ctx: StudyContext, run_dir: str) -> dict[str, Any]:
    """Top-1 / top-5 on the Imagenette val folder (gxr's `test` split for a folder without test/), evaluated as the
    recipe evaluates (centre crop of the larger decode for the modern recipe)."""
    from gxr.train.scoring import score_run

    scores = score_run(run_dir, ctx.specs["imagenette"], "test", ctx.device)
    return {"images": len(scores), "top1": top_k_accuracy(scores.logits, scores.targets, 1),
            "top5": top_k_accuracy(scores.logits, scores.targets, 5)}


def _pretrain_summary(p: dict[str, Any], accuracy: dict[str, Any]) -> dict[str, Any]:
    history = p["history"]
    kept = next(h for h in history if h["epoch"] == p["best_epoch"])
    return {"val": accuracy, "best_epoch": p["best_epoch"], "epochs_run": len(history),
            "heldout_accuracy": kept["val_accuracy"],
            "heldout_accuracy_per_epoch": [h["val_accuracy"] for h in history],
            "train_images_per_s": float(np.median([h["train_images_per_s"] for h in history])),
            "seconds": float(sum(h["seconds"] for h in history)), "dir": p["dir"]}


def _latency(ctx: StudyContext, arms: dict[str, Any], iters: int) -> dict[str, Any]:
    from dataclasses import asdict

    from gxr.bench.noise import NoiseMonitor
    from gxr.runtime import load
    from gxr.study.stages import time_models

    monitor, timings = NoiseMonitor(), []
    for key in ("gray", "color"):
        with load(arms[f"{key}-pretrained"][0]["dir"], backend="torch", device=ctx.device) as model, \
                monitor.block(key):
            timings += time_models({key: model}, [1], warmup=3, iters=iters)
    return {"timings": [asdict(t) for t in timings], "warnings": monitor.warnings(timings), "noise": monitor.to_json()}
