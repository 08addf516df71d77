"""Run a loaded PyTorch network (eager, optionally CUDA graphs).

Input: normalized float32 N x C x S x S named "input", or with `pixels=True` raw uint8 named "pixels"
(cast, scaled, normalized and, for color models, replicated from 1 channel on the device: the contract of
`--input uint8` ONNX exports). On CUDA, host inputs go through pinned memory with non-blocking copies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gxr.backends.base import Runner, TensorMeta
from gxr.core.errors import GxrError

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TorchOptions:
    precision: str = "fp32"      # fp32, or bf16 / fp16 autocast
    channels_last: bool = False
    cuda_graphs: bool = False    # capture one graph per input shape, replay it (CUDA only)
    pixels: bool = False         # uint8 input, normalized on the device

    def validate(self, device: str) -> TorchOptions:
        if self.precision not in PRECISIONS:
            raise GxrError(f"torch precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.cuda_graphs and not device.startswith("cuda"):
            raise GxrError("CUDA graphs need a CUDA device")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TorchRunner(Runner):
    """Runs a loaded network (`model`, eval mode) whose input is C x S x S; `norm` is needed for uint8 input.
    Only a loaded module is taken, never a loader: a module is itself callable, so the two could not be told
    apart (gxr.nets.checkpoint.load_model is the loader)."""

    backend = "torch"
    device_resident = True

    def __init__(self, model, channels: int, image_size: int, num_outputs: int, norm=None, device: str = "cpu",
                 threads: int | None = None, options: TorchOptions | None = None, name: str = ""):
        super().__init__(name)
        self.network, self.channels, self.image_size, self.num_outputs = model, channels, image_size, num_outputs
        self.norm, self.device_name, self.threads = norm, device, threads
        self.options = (options or TorchOptions()).validate(device)
        if self.options.pixels and norm is None:
            raise GxrError("uint8 input for the torch backend needs the model's normalization")
        self.model = None
        self.graphs: dict[tuple, tuple[Any, Any, Any]] = {}   # shape -> (graph, static input, static output)

    def _activate(self) -> None:
        import torch

        from gxr.nets.pixel_input import PixelInput

        if self.threads:
            torch.set_num_threads(self.threads)
        if self.device_name.startswith("cuda") and not torch.cuda.is_available():
            raise GxrError("torch backend: CUDA was asked for but no CUDA GPU is visible")
        self.torch = torch
        self.device = torch.device(self.device_name)
        model = self.network.eval()
        if self.options.pixels:
            model = PixelInput(model, self.norm, self.channels).eval()
        if self.options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)

    @property
    def provider(self) -> str:
        return str(getattr(self, "device", self.device_name))

    @property
    def input_name(self) -> str:
        return "pixels" if self.options.pixels else "input"

    def _input_metadata(self) -> list[TensorMeta]:
        """What forward() takes: normalized float32 "input" with the model's channels, or uint8 "pixels" whose
        channel axis is free (1 or 3) for color models, as PixelInput replicates 1 channel to 3."""
        channels: int | str = "channels" if self.options.pixels and self.channels == 3 else self.channels
        return [TensorMeta(self.input_name, "uint8" if self.options.pixels else "float32",
                           ("batch", channels, self.image_size, self.image_size))]

    def _output_metadata(self) -> list[TensorMeta]:
        return [TensorMeta("logits", "float32", ("batch", self.num_outputs))]

    # ---- device side -----------------------------------------------------------------------
    def to_device(self, array: np.ndarray):
        """Host array -> device tensor (pinned memory + non-blocking copy on CUDA)."""
        x = self.torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        if self.options.channels_last and x.dim() == 4 and x.is_floating_point():
            x = x.contiguous(memory_format=self.torch.channels_last)
        return x

    def _autocast(self):
        import contextlib

        if self.options.precision == "fp32":
            return contextlib.nullcontext()
        dtype = self.torch.bfloat16 if self.options.precision == "bf16" else self.torch.float16
        return self.torch.autocast(self.device.type, dtype=dtype)

    def forward(self, x):
        """Device tensor in, device logits out (no host copies): what device-resident timing measures."""
        if self.options.cuda_graphs:
            return self._replay(x)
        with self.torch.inference_mode(), self._autocast():
            return self.model(x)

    def _replay(self, x):
        torch = self.torch
        key = (tuple(x.shape), x.dtype)
        if key not in self.graphs:
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), torch.inference_mode(), self._autocast():
                for _ in range(3):   # warm up kernels and autotuning outside the capture
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.inference_mode(), self._autocast():
                static_out = self.model(static_in)
            self.graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self.graphs[key]
        static_in.copy_(x, non_blocking=True)
        graph.replay()
        return static_out

    def device_callable(self, feed: dict[str, np.ndarray]) -> Callable[[], Any]:
        """A no-argument call running the model on `feed` already resident on the device."""
        self.require_active()
        self.check_feed(feed)
        x = self.to_device(feed[self.input_name])
        self.synchronize()
        return lambda: self.forward(x)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits = self.forward(self.to_device(feed[self.input_name]))
        return {"logits": logits.float().cpu().numpy()}

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _deactivate(self) -> None:
        self.model, self.graphs = None, {}
