"""Decode timings on the real full-size radiographs (../shared/data/fullsize): what gxr.core.preprocess costs
per image before inference, for the inputs hospitals have.

For each radiograph (8-bit RGB PNG, R = G = B) the script times, to 299 x 299 gray model pixels:
- the PNG as shipped;
- the same image as a quality-92 JPEG, decoded in full then resized, and in draft mode (gxr's runtime path);
- the same image as a 12-bit MONOCHROME1 DICOM with a window: gxr's lookup-table pipeline, and pydicom's
  apply_modality_lut + apply_voi_lut applied to the whole frame in float64 (checked to give the same pixels).
The JPEG and DICOM files exist only in a temporary folder. Run under the CPU lock:
    flock /tmp/gxr-cpu.lock python bench/decode_inputs.py --out bench/results/cpu-2vcpu-decode-inputs.json
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gxr.core.fileio import write_json  # noqa: E402
from gxr.core.preprocess import decode, load_pixels, to_model_pixels  # noqa: E402
from gxr.core.provenance import machine_info  # noqa: E402

SIZE = 299


def timed(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def as_jpeg(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray).convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


def as_dicom(gray: np.ndarray) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = DigitalXRayImageStorageForPresentation, generate_uid()
    stored = np.rint((255 - gray.astype(np.float32)) * (4095 / 255)).astype(np.uint16)   # MONOCHROME1
    ds.set_pixel_data(stored, "MONOCHROME1", 12)
    ds.WindowCenter, ds.WindowWidth = 2048, 3500
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def pydicom_float64(data: bytes) -> np.ndarray:
    """The plain pydicom way: whole-frame float64 modality + VOI, then 8 bits and MONOCHROME1 inversion."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(io.BytesIO(data))
    out = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    scaled = np.clip(np.rint(out * (255.0 / 4095)), 0, 255).astype(np.uint8)
    return to_model_pixels(Image.fromarray(255 - scaled), 1, SIZE)


def measure(path: Path, repeats: int) -> dict:
    gray = np.asarray(Image.open(path).convert("L"))
    jpeg, dcm = as_jpeg(gray), as_dicom(gray)
    png = path.read_bytes()
    assert np.array_equal(load_pixels(dcm, 1, SIZE), pydicom_float64(dcm)), path.name

    def full_jpeg() -> np.ndarray:
        return to_model_pixels(Image.open(io.BytesIO(jpeg)), 1, SIZE)

    return {"file": path.name, "width": gray.shape[1], "height": gray.shape[0],
            "draft_note": decode(jpeg, model_size=SIZE).meta["notes"],
            "ms": {"png": timed(lambda: load_pixels(png, 1, SIZE), repeats),
                   "jpeg_full_decode": timed(full_jpeg, repeats),
                   "jpeg_draft": timed(lambda: load_pixels(jpeg, 1, SIZE), repeats),
                   "dicom_gxr_lut": timed(lambda: load_pixels(dcm, 1, SIZE), repeats),
                   "dicom_pydicom_float64": timed(lambda: pydicom_float64(dcm), repeats)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fullsize")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = [measure(p, args.repeats) for p in sorted(args.data.glob("*.png"))]
    keys = rows[0]["ms"].keys()
    summary = {k: round(statistics.median(r["ms"][k] for r in rows), 1) for k in keys}
    settings = {"model_size": SIZE, "channels": 1, "repeats": args.repeats, "images": len(rows),
                "statistic": "median over images of the median ms per image",
                "libraries": {d: version(d) for d in ("pillow", "pydicom", "pylibjpeg", "numpy")}}
    write_json(args.out, {"kind": "decode-inputs", "machine": machine_info(), "settings": settings,
                          "median_ms": summary, "per_image": rows})
    for key, value in summary.items():
        print(f"{key:24s} {value:8.1f} ms/image")


if __name__ == "__main__":
    main()
