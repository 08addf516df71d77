"""torchrun / DDP: read the launcher's environment, one process per device, rank 0 writes.

`with distributed(device_type) as dist:` starts the process group when the process was launched by
torchrun (RANK and WORLD_SIZE set) and always destroys it on the way out, error or not. Outside torchrun
it yields a single-process `DistContext` and starts nothing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    """This process's place in the job (rank 0 of 1 outside torchrun)."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process: wrap the model in DDP and shard the data."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The one process that reports and writes files."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DistContext | None:
        """The launcher's ranks, or None when the process was not started by torchrun."""
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        return cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))

    def device(self, device: torch.device) -> torch.device:
        """Under DDP on CUDA, this process's own GPU."""
        if device.type == "cuda" and self.enabled:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to train: DDP around `model` under torchrun with >1 process, else `model`."""
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's share of a (seeded, identical on every rank) sample order."""
        return order[self.rank::self.world_size]


@contextlib.contextmanager
def distributed(device_type: str, env: Mapping[str, str] | None = None) -> Iterator[DistContext]:
    """Start the process group under torchrun (NCCL on CUDA, gloo on CPU), yield the context, and
    destroy the group when the block ends, however it ends."""
    ctx = DistContext.from_env(os.environ if env is None else env)
    if ctx is None:
        yield DistContext()
        return
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=ctx.rank,
                                world_size=ctx.world_size)
    try:
        yield ctx
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()
