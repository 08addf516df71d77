"""Run a gxr model.pt with PyTorch (eager). Input: normalized float32 N x C x S x S named "input"."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gxr.backends.base import Runner, TensorMeta
from gxr.errors import GxrError


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, model_pt: str | Path, device: str = "cpu", threads: int | None = None):
        super().__init__()
        self.path, self.device_name, self.threads = Path(model_pt), device, threads
        self.model = self.info = None

    def _activate(self) -> None:
        import torch

        from gxr.nets.checkpoint import load_model

        if self.threads:
            torch.set_num_threads(self.threads)
        if self.device_name.startswith("cuda") and not torch.cuda.is_available():
            raise GxrError("torch backend: --device cuda but no CUDA GPU is visible")
        self.device = torch.device(self.device_name)
        self.model, self.info, _ = load_model(self.path)
        self.model.to(self.device)

    @property
    def provider(self) -> str:
        return str(getattr(self, "device", self.device_name))

    def input_metadata(self) -> list[TensorMeta]:
        info = self._info()
        return [TensorMeta("input", "float32", ("batch", info.channels, info.image_size, info.image_size))]

    def output_metadata(self) -> list[TensorMeta]:
        return [TensorMeta("logits", "float32", ("batch", self._info().num_outputs))]

    def _info(self):
        if self.info is None:
            self.activate()
        return self.info

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(feed["input"], dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            logits = self.model(x)
        return {"logits": logits.float().cpu().numpy()}

    def synchronize(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _deactivate(self) -> None:
        self.model = None
