"""Training-step throughput of 1-channel models on the CPU: fp32 vs bf16 autocast, contiguous vs channels-last.

What `--cpu-bf16` (the studies' default) and the studies' epochs are sized on. One batch of random images repeated
(no data loading, no augmentation), forward + backward + Nesterov SGD step; the median of `iters` timed steps after
2 warm-up steps. Usage: python bench/cpu_bf16_train_step.py OUT.json [--archs resnet18,vgg11] [--sizes 96,64]
[--batch 64] [--iters 8] [--modes all|bf16]"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from gxr.core.fileio import write_json
from gxr.core.provenance import machine_info
from gxr.nets.factory import create_model
from gxr.train.steps import cpu_has_native_bf16


def images_per_s(arch: str, channels_last: bool, bf16: bool, size: int, batch: int, iters: int) -> float:
    torch.manual_seed(0)
    model = create_model(arch, 1, 10)
    x, y = torch.randn(batch, 1, size, size), torch.randint(0, 10, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    seconds = []
    for _ in range(iters + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return batch / statistics.median(seconds[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--archs", default="resnet18")
    parser.add_argument("--sizes", default="96")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--modes", choices=("all", "bf16"), default="all",
                        help="all: the four combinations; bf16: bf16 autocast + channels-last only")
    a = parser.parse_args()
    modes = [(False, False), (False, True), (True, False), (True, True)] if a.modes == "all" else [(True, True)]
    rows = []
    for arch in a.archs.split(","):
        for size in (int(x) for x in a.sizes.split(",")):
            size = max(size, 75) if arch == "inception_v3" else size
            for channels_last, bf16 in modes:
                rate = images_per_s(arch, channels_last, bf16, size, a.batch, a.iters)
                rows.append({"arch": arch, "image_size": size, "channels_last": channels_last, "bf16_autocast": bf16,
                             "train_images_per_s": rate})
                print(f"{arch:13} {size:4d} px channels_last={channels_last!s:5} bf16={bf16!s:5} {rate:7.1f} "
                      "images/s", flush=True)
    write_json(a.out, {"kind": "cpu-bf16-train-step", "what": __doc__.splitlines()[0],
                       "channels": 1, "batch_size": a.batch, "iters": a.iters,
                       "native_bf16": cpu_has_native_bf16(), "threads": torch.get_num_threads(), "rows": rows,
                       "machine": machine_info()})


if __name__ == "__main__":
    main()
