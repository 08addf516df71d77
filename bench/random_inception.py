"""Random-weights Inception-V3 runs (gray and color, 14 NIH labels, 299 px) for timing: latency does not
depend on the weights. Writes OUT/gray/model.pt and OUT/color/model.pt; export them with `gxr export`.

    python bench/random_inception.py runs/random-inception   # then: gxr export runs/random-inception/gray ..."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gxr.core.modelinfo import ModelInfo
from gxr.data import data_root, open_source
from gxr.data.nih import NIH_LABELS
from gxr.nets.checkpoint import save_model
from gxr.nets.factory import create_model


def random_run(out: Path, data_spec: str, channels: int, arch: str = "inception_v3", size: int = 299,
               seed: int = 0) -> Path:
    """A randomly initialised `arch` for the 14 NIH labels saved as a gxr run (model.pt with its data record)."""
    torch.manual_seed(seed)
    labels = list(NIH_LABELS)
    model = create_model(arch, channels, len(labels)).eval()
    for m in model.modules():   # realistic BatchNorm statistics instead of 0/1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    source = open_source(data_spec)
    info = ModelInfo(arch, channels, size, "multilabel", labels, list(source.classes))
    record = {"spec": data_spec, "fingerprint": source.fingerprint,
              "sizes": {k: len(v) for k, v in source.splits.items()}, "notes": source.notes}
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, info, recipe={"arch": arch, "channels": channels, "image_size": size,
                                                       "epochs": 0}, data=record, init_notes=[])
    return out


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/random-inception")
    spec = f"nih:{data_root() / 'nih'}"
    for name, channels in (("gray", 1), ("color", 3)):
        random_run(out / name, spec, channels)
        print(f"wrote {out / name / 'model.pt'}")
