"""Decode time of the full-size radiographs (8-bit RGB PNG, ~2500 x 2000 px) with Pillow and the faster decoders
that are installed (OpenCV `cv2.imdecode`, libspng via pyspng): median ms/image from bytes in memory.

    python bench/decoders.py ../shared/data/fullsize OUT.json"""

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gxr.core.fileio import write_json
from gxr.core.provenance import machine_info


def decoders() -> dict:
    out = {"pillow (decode as stored, RGB)": lambda b: Image.open(io.BytesIO(b)).load(),
           "pillow + Luma (L)": lambda b: Image.open(io.BytesIO(b)).convert("L")}
    try:
        import cv2

        for name, flag in (("IMREAD_COLOR", cv2.IMREAD_COLOR), ("IMREAD_GRAYSCALE", cv2.IMREAD_GRAYSCALE),
                           ("IMREAD_REDUCED_GRAYSCALE_4", cv2.IMREAD_REDUCED_GRAYSCALE_4)):
            out[f"opencv {name}"] = lambda b, f=flag: cv2.imdecode(np.frombuffer(b, np.uint8), f)
    except ImportError:
        pass
    try:
        import pyspng

        out["pyspng (libspng)"] = pyspng.load
    except ImportError:
        pass
    return out


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    blobs = [p.read_bytes() for p in sorted(folder.glob("*.png"))]
    results = {}
    for name, fn in decoders().items():
        fn(blobs[0])
        times = []
        for _ in range(2):
            for blob in blobs:
                start = time.perf_counter()
                fn(blob)
                times.append((time.perf_counter() - start) * 1000)
        results[name] = {"ms_p50": float(np.median(times)), "ms_min": float(np.min(times)), "decodes": len(times)}
        print(f"{name:34s} {results[name]['ms_p50']:7.1f} ms/image (p50)")
    write_json(out, {"kind": "decoders", "images": len(blobs), "folder": str(folder),
                     "mean_encoded_bytes": int(np.mean([len(b) for b in blobs])), "results": results,
                     "machine": machine_info()})


if __name__ == "__main__":
    main()
