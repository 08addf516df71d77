"""Scores of a trained run on a labelled split, decoded and cropped as its recipe evaluates (a pre-training recipe
with `crop_ratio` < 1 evaluates on a centre crop, which the runtime, made for whole X-ray images, does not do)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gxr.core.scores import Scores
from gxr.data import open_source
from gxr.nets.checkpoint import load_model
from gxr.train import steps
from gxr.train.pipeline import DeviceTransform, SplitPixels, decode_size, pick_device


def score_run(run_dir: Path | str, data_spec: str, split: str, device: str = "cpu", batch_size: int = 128) -> Scores:
    """Logits of the model in `run_dir` on `split` of `data_spec`, with the evaluation transform of the recipe it
    was trained with (decode at image_size / crop_ratio, centre crop; gray models see Luma images)."""
    model, info, payload = load_model(run_dir)
    crop_ratio = float((payload.get("recipe") or {}).get("crop_ratio", 1.0))   # runs from before crop_ratio: 1.0
    target = pick_device(device)
    model.to(target)
    data = open_source(data_spec).split(split)
    pixels = SplitPixels(data, info.channels, decode_size(info.image_size, crop_ratio))
    transform = DeviceTransform(info.norm, info.channels, target, size=info.image_size)
    logits, _ = steps.predict_logits(model, pixels, transform, batch_size)
    return Scores(logits, np.asarray(data.targets), list(info.labels), info.task,
                  [data.images.name(i) for i in range(len(data))], source=str(run_dir), data=data_spec, split=split)
