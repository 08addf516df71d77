"""A randomly initialised model saved as a gxr run: what latency benchmarks and tests need when the weights do
not matter (compute time does not depend on them), in about a second instead of a training run."""

from __future__ import annotations

from pathlib import Path

import torch

from gxr.core.modelinfo import ModelInfo
from gxr.data import open_source
from gxr.nets.checkpoint import save_model
from gxr.nets.factory import create_model


def save_untrained_run(out: Path, data_spec: str, channels: int, labels: list[str], task: str,
                       arch: str = "resnet18", size: int = 32, seed: int = 0) -> Path:
    """`out`/model.pt: a random `arch` for `labels` with realistic BatchNorm statistics (instead of 0/1) and the
    data record of `data_spec`, marked as trained for 0 epochs."""
    torch.manual_seed(seed)
    model = create_model(arch, channels, len(labels)).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    source = open_source(data_spec)
    info = ModelInfo(arch, channels, size, task, list(labels), list(source.classes))
    record = {"spec": data_spec, "fingerprint": source.fingerprint,
              "sizes": {k: len(v) for k, v in source.splits.items()}, "notes": source.notes}
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, info, recipe={"arch": arch, "channels": channels, "image_size": size,
                                                       "epochs": 0}, data=record, init_notes=[])
    return out
