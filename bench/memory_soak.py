"""Resident memory over a long stream of predictions through `Model.predict_results` (decode pool on).

    python bench/memory_soak.py MODEL OUT.json [--total 10000] [--block 100]

Feeds real PneumoniaMNIST test images (written as PNG files to a temp folder) in blocks and records RSS after
every block; the JSON carries the machine it ran on."""

import argparse
import tempfile
import time
from pathlib import Path

import gxr
from gxr.bench.endtoend import rss_soak
from gxr.core.fileio import write_json
from gxr.core.provenance import machine_info
from gxr.data import data_root, open_source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args()
    split = open_source(f"medmnist:{data_root() / 'pneumoniamnist.npz'}").split("test")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(200):
            files.append(Path(tmp) / f"{i:03d}.png")
            split.images.open(i).save(files[-1])
        model = gxr.load(args.model)
        start = time.perf_counter()
        points = rss_soak(model, files, args.total, args.block)
        seconds = time.perf_counter() - start
    warm = [mb for n, mb in points if n >= 1000]
    result = {"kind": "memory-soak", "model": str(args.model), "backend": model.backend,
              "decode_workers": model.decoder.workers, "predictions": args.total, "block": args.block,
              "seconds": seconds, "rss_mb_start": points[0][1], "rss_mb_after_1000": warm[0],
              "rss_mb_end": points[-1][1], "growth_after_1000_mb": points[-1][1] - warm[0],
              "rss_mb_max_after_1000": max(warm), "points": points, "machine": machine_info()}
    write_json(args.out, result)
    print(f"{args.total} predictions in {seconds:.1f} s; RSS {points[0][1]:.1f} MiB at start, {warm[0]:.1f} after "
          f"1000, {points[-1][1]:.1f} at the end (max {max(warm):.1f} after 1000); wrote {args.out}")


if __name__ == "__main__":
    main()
