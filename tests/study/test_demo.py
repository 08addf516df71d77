"""`gxr demo` with small settings on the real COVID set: numbered steps once each, one timing source, and
the test AUC recomputed independently (onnxruntime + PIL + scipy, not gxr's code)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import run_gxr


def independent_mean_auc(onnx_path, npz_path, size: int) -> float:
    """Mean one-vs-rest AUC of an exported gray uint8-input model on the COVID test split."""
    import onnxruntime as ort
    from PIL import Image
    from scipy.stats import mannwhitneyu

    data = np.load(npz_path)
    images, labels = data["test_images"], data["test_labels"].reshape(-1).astype(int)
    pixels = np.stack([np.asarray(Image.fromarray(im, "L").resize((size, size), Image.BILINEAR))[None]
                       for im in images]).astype(np.uint8)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"pixels": pixels[i:i + 64]})[0] for i in range(0, len(pixels), 64)])
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)
    aucs = []
    for k in range(logits.shape[1]):
        pos, neg = probs[labels == k, k], probs[labels != k, k]
        aucs.append(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
    return float(np.mean(aucs))


def independent_fullsize_logits(onnx_path, files, channels: int, size: int) -> np.ndarray:
    """Logits of an exported uint8-input model on 8-bit full-size PNGs: PIL Luma ("L") or RGB, bilinear
    resize after an integer box reduce (Pillow's reducing_gap=3, the documented preprocessing), onnxruntime;
    no gxr code."""
    import onnxruntime as ort
    from PIL import Image

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rows = []
    for path in files:
        with Image.open(path) as im:
            assert im.mode == "RGB"                      # the shipped full-size set: 8-bit RGB PNGs
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR,
                                                                                reducing_gap=3.0))
        pixels = arr[None, None] if channels == 1 else arr.transpose(2, 0, 1)[None]
        rows.append(session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(pixels)})[0])
    return np.concatenate(rows)


@pytest.mark.slow
def test_demo_small_settings(tmp_path, data_root):
    out = tmp_path / "demo"
    result = run_gxr("demo", "--out", str(out), "--arch", "resnet18", "--image-size", "32", "--epochs", "1",
                     "--train-fraction", "0.2", "--iters", "3")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    text = " ".join(result.stdout.split())
    for i in range(1, 8):
        assert text.count(f"{i}/7 ") == 1, (i, text.count(f"{i}/7 "))
    assert "What you just saw" in text and "gxr bench nih" in text
    summary = json.loads((out / "summary.json").read_text())
    latency = json.loads((out / "latency.json").read_text())
    ort_b1 = {t["model"]: t["ms_per_image_p50"] for t in latency["timings"]
              if t["backend"] == "onnxruntime" and t["batch"] == 1}
    assert summary["ms_per_image_b1"] == ort_b1            # one timing run feeds every table
    npz = data_root / "covid" / "covid_radiography_3class_128_balanced.npz"
    recomputed = independent_mean_auc(out / "models" / "gray" / "1" / "model.onnx", npz, 32)
    assert recomputed == pytest.approx(summary["test_mean_auc"]["gray"], abs=1e-6)
    fullsize = summary["fullsize"]
    files = [data_root / "fullsize" / name for name in fullsize["files"]]
    assert fullsize["images"] == len(files) == 12
    comparison = json.loads((out / "comparison.json").read_text())
    for key, channels in (("gray", 1), ("color", 3)):
        logits = independent_fullsize_logits(out / "models" / key / "1" / "model.onnx", files, channels, 32)
        assert fullsize[key]["max_abs_logit"] == pytest.approx(float(np.abs(logits).max()), rel=1e-4, abs=1e-5)
        assert fullsize[key]["predicted"] == [fullsize[key]["labels"][i] for i in logits.argmax(axis=1)]
        # a 2,000 px radiograph brought to the model's input gives logits on the test split's scale: a missed
        # normalization or bit-depth step would put them far outside it (measured: 0.7 x the test maximum)
        assert 0 < fullsize[key]["max_abs_logit"] < 3 * comparison["tests"][key]["max_abs_logit"]
