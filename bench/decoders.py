"""Decoders and preprocessing orders on the full-size radiographs (8-bit RGB PNG, ~2500 x 2000 px): what the
`fast` extra was chosen from, and how exact gxr's reduce and gray-first conversion are.

    python bench/decoders.py ../shared/data/fullsize OUT.json \
        --color ../shared/data/imagenette/imagenette_96px_q85.zip [--model models/NAME]

1. decode: median ms/image from bytes in memory, one thread, and images/s with 2 threads (a decoder that holds
   the GIL does not scale: the decode pool needs one that releases it). PNG: Pillow, imagecodecs (libspng,
   libpng), pyspng, OpenCV (whichever are installed). JPEG (made from the same files, quality 95, gray and
   colour): Pillow full / draft (DCT scaling) and simplejpeg / imagecodecs where installed.
2. exactness, uint8: gray-then-resize vs resize-then-gray on the 12 files (R = G = B) and on real colour
   photos (Imagenette, `--color`); gxr's reduce + bilinear (REDUCING_GAP) vs a direct bilinear resize.
3. `--model`: that model's probabilities on the files through the old path (Pillow, direct bilinear resize)
   and the new one (gxr's decoders, reduce)."""

from __future__ import annotations

import io
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gxr.core.fileio import write_json
from gxr.core.preprocess import REDUCING_GAP, to_model_pixels
from gxr.core.provenance import machine_info

SIZE = 299


def _pil(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _pil_draft(data: bytes, mode: str | None) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.draft(mode or img.mode, (SIZE, SIZE))
    img.load()
    return img


def png_decoders() -> dict:
    out = {"Pillow": _pil}
    try:
        import imagecodecs

        out["imagecodecs libspng"] = imagecodecs.spng_decode
        out["imagecodecs libpng"] = imagecodecs.png_decode
    except ImportError:
        pass
    try:
        import pyspng

        out["pyspng (libspng)"] = pyspng.load
    except ImportError:
        pass
    try:
        import cv2

        out["OpenCV imdecode"] = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)
    except ImportError:
        pass
    return out


def jpeg_decoders(gray_out: bool) -> dict:
    mode = "L" if gray_out else None
    out = {"Pillow full": _pil, "Pillow draft (DCT scaling)": lambda b: _pil_draft(b, mode)}
    try:
        import simplejpeg

        space = "GRAY" if gray_out else "RGB"
        out["simplejpeg scaled"] = lambda b: simplejpeg.decode_jpeg(b, space, min_height=SIZE, min_width=SIZE)
        out["simplejpeg full"] = lambda b: simplejpeg.decode_jpeg(b, space)
    except ImportError:
        pass
    try:
        import imagecodecs

        out["imagecodecs jpeg8 full"] = imagecodecs.jpeg8_decode
    except ImportError:
        pass
    return out


def time_decoders(decoders: dict, blobs: list[bytes]) -> dict:
    """Per decoder: p50 / min ms per image (one thread, 2 passes, interleaved with the other decoders) and
    images/s with one thread and with two."""
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for fn in decoders.values():
        fn(blobs[0])
    for _ in range(2):
        for blob in blobs:
            for name, fn in decoders.items():
                start = time.perf_counter()
                fn(blob)
                times[name].append((time.perf_counter() - start) * 1000)
    out = {}
    for name, fn in decoders.items():
        out[name] = {"ms_p50": float(np.median(times[name])), "ms_min": float(np.min(times[name])),
                     "images_per_s_1_thread": _rate(fn, blobs, 1), "images_per_s_2_threads": _rate(fn, blobs, 2)}
        print(f"  {name:30s} {out[name]['ms_p50']:7.1f} ms (p50)  {out[name]['images_per_s_1_thread']:5.1f} -> "
              f"{out[name]['images_per_s_2_threads']:5.1f} images/s with 2 threads")
    return out


def _rate(fn, blobs: list[bytes], threads: int) -> float:
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(fn, blobs))
        return len(blobs) / (time.perf_counter() - start)


def _jpeg(img: Image.Image, mode: str) -> bytes:
    buf = io.BytesIO()
    img.convert(mode).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _diff(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max": int(d.max()), "mean": float(d.mean()), "share_differing": float((d > 0).mean())}


def _summary(diffs: list[dict]) -> dict:
    return {"images": len(diffs), "max": max(d["max"] for d in diffs),
            "mean": float(np.mean([d["mean"] for d in diffs])),
            "share_differing": float(np.mean([d["share_differing"] for d in diffs]))}


def gray_order(images: list[Image.Image], size: int) -> dict:
    """Luma then resize (gxr) vs resize (RGB) then Luma, both with gxr's reduce; uint8."""
    diffs = []
    for img in images:
        first = to_model_pixels(img, 1, size)[0]
        after = np.asarray(Image.fromarray(to_model_pixels(img, 3, size).transpose(1, 2, 0)).convert("L"))
        diffs.append(_diff(first, after))
    return _summary(diffs)


def reduce_vs_direct(images: list[Image.Image], size: int) -> dict:
    """gxr's reduce (REDUCING_GAP) + bilinear vs one bilinear resize of the whole image, gray, uint8."""
    return _summary([_diff(to_model_pixels(img, 1, size), to_model_pixels(img, 1, size, reducing_gap=None))
                     for img in images])


def prediction_change(model_path: str, files: list[Path]) -> dict:
    """Probabilities of a model on `files` through the old path (Pillow only, direct bilinear resize) and the
    new one (gxr's default decoders and reduce): largest change, and whether the top-1 labels agree."""
    import gxr
    from gxr.core.preprocess import load_pixels, open_image

    with gxr.load(model_path) as model:
        ch, size = model.info.channels, model.info.image_size
        old = [to_model_pixels(open_image(f, decoders="pillow"), ch, size, reducing_gap=None) for f in files]
        new = [load_pixels(f, ch, size) for f in files]
        p_old = model.predict([o[0] if ch == 1 else o.transpose(1, 2, 0) for o in old])
        p_new = model.predict([str(f) for f in files])
    pixel = _summary([_diff(a, b) for a, b in zip(old, new)])
    return {"model": model_path, "images": len(files), "pixels": pixel,
            "max_abs_probability_change": float(np.abs(p_old - p_new).max()),
            "top1_agreement": float((p_old.argmax(1) == p_new.argmax(1)).mean()),
            "probabilities_old": p_old.tolist(), "probabilities_new": p_new.tolist()}


def color_photos(zip_path: Path, count: int = 200) -> list[Image.Image]:
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith((".jpeg", ".jpg")))[:count]
        return [Image.open(io.BytesIO(zf.read(n))).convert("RGB") for n in names]


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    color_zip = Path(sys.argv[sys.argv.index("--color") + 1]) if "--color" in sys.argv else None
    files = sorted(folder.glob("*.png"))
    blobs = [p.read_bytes() for p in files]
    images = [_pil(b) for b in blobs]
    results: dict = {"png": {}, "jpeg_gray": {}, "jpeg_color_to_gray": {}, "jpeg_color": {}}
    print("PNG (8-bit RGB, R = G = B)")
    results["png"] = time_decoders(png_decoders(), blobs)
    gray_jpegs, color_jpegs = [_jpeg(i, "L") for i in images], [_jpeg(i, "RGB") for i in images]
    print("JPEG, 1 component (gray), quality 95 -> gray")
    results["jpeg_gray"] = time_decoders(jpeg_decoders(True), gray_jpegs)
    print("JPEG, 3 components (YCbCr), quality 95 -> gray")
    results["jpeg_color_to_gray"] = time_decoders(jpeg_decoders(True), color_jpegs)
    print("JPEG, 3 components -> RGB")
    results["jpeg_color"] = time_decoders(jpeg_decoders(False), color_jpegs)
    exact = {"size": SIZE, "reducing_gap": REDUCING_GAP,
             "gray_then_resize_vs_resize_then_gray_fullsize": gray_order(images, SIZE),
             "reduce_vs_direct_fullsize": reduce_vs_direct(images, SIZE)}
    if color_zip:
        photos = color_photos(color_zip)
        exact["gray_then_resize_vs_resize_then_gray_color_photos_96_to_64"] = gray_order(photos, 64)
        exact["gray_then_resize_vs_resize_then_gray_color_photos_96_to_32"] = gray_order(photos, 32)
    if "--model" in sys.argv:
        exact["prediction_change"] = prediction_change(sys.argv[sys.argv.index("--model") + 1], files)
    for key, value in exact.items():
        print(f"{key}: {value if key != 'prediction_change' else {k: v for k, v in value.items() if 'prob' not in k}}")
    write_json(out, {"kind": "decoders", "images": len(blobs), "folder": str(folder),
                     "mean_encoded_bytes": int(np.mean([len(b) for b in blobs])), "results": results,
                     "exactness": exact, "machine": machine_info()})


if __name__ == "__main__":
    main()
