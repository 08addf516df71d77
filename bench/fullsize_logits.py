"""Why did the old demo's models output logits like -12,910 on real full-size X-rays?

Trains the old demo's configuration (Inception-V3 from scratch on the shipped NIH images, 64 px upsampled to
128 px, 5 epochs, Adam 1e-3), then feeds it (a) the NIH test images, (b) full-size radiographs downsampled to
128 px as the runtime does, (c) the same radiographs first shrunk to 64 px and upsampled to 128 px, as the
training images were, and (d) the radiographs with BatchNorm using batch statistics instead of the running
ones. Prints the largest |logit| of each and, per BatchNorm layer, how much larger the activations are on
full-size images than on NIH images.

usage: python bench/fullsize_logits.py NIH_DIR FULLSIZE_DIR OUT_DIR [device]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gxr.core.preprocess import load_pixels
from gxr.data import open_source, split_pixels
from gxr.nets.checkpoint import load_model
from gxr.train import run_training
from gxr.train.recipes import FinetuneRecipe


def blurred(path: Path, channels: int, low: int, size: int) -> np.ndarray:
    img = Image.open(path).convert("L").resize((low, low), Image.BILINEAR)
    return load_pixels(img, channels, size)


def bn_maxima(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    out, hooks = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: out.__setitem__(
                name, float(o.abs().amax()))))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def main() -> None:
    nih, fullsize, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    spec = f"nih:{nih}"
    files = sorted(fullsize.glob("*.png"))
    report = {}
    for key, channels in (("gray", 1), ("color", 3)):
        run = out / key
        if not (run / "model.pt").is_file():
            recipe = FinetuneRecipe(arch="inception_v3", channels=channels, epochs=5, batch_size=32, lr=1e-3,
                                    image_size=128, patience=5, device=device)
            run_training(recipe, spec, run)
        model, info, _ = load_model(run)
        norm = lambda px: torch.from_numpy(info.norm.apply(px))  # noqa: E731
        test = norm(split_pixels(open_source(spec).split("test"), channels, 128))
        sharp = norm(np.stack([load_pixels(f, channels, 128) for f in files]))
        soft = norm(np.stack([blurred(f, channels, 64, 128) for f in files]))
        with torch.no_grad():
            row = {name: float(model(x).abs().max()) for name, x in
                   (("nih_test", test), ("fullsize", sharp), ("fullsize_via_64px", soft))}
            model.train()
            row["fullsize_batch_stats"] = float(model(sharp).abs().max())
            model.eval()
        ref, big = bn_maxima(model, test), bn_maxima(model, sharp)
        ratios = {name: big[name] / max(ref[name], 1e-12) for name in ref}
        worst = sorted(ratios.items(), key=lambda kv: -kv[1])[:5]
        first = next((name for name in ref if ratios[name] > 10), None)
        variances = [float(m.running_var.min()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        row.update(worst_bn_ratio=worst, first_bn_over_10x=first, smallest_running_var=min(variances))
        report[key] = row
        print(key, json.dumps(row, indent=1), flush=True)
    (out / "fullsize_logits.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
