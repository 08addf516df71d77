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
    assert summary["fullsize"]["images"] == 12
    for key in ("gray", "color"):
        assert np.isfinite(summary["fullsize"][key]["max_abs_logit"])
        assert len(summary["fullsize"][key]["predicted"]) == 12
