"""The main job, shortened: Inception-V3 gray + color on real NIH images -> ONNX -> parity -> DeLong -> latency."""

import json

import pytest

from tests.helpers import run_gxr


@pytest.mark.slow
def test_demo_end_to_end_inception_v3_parity_and_reports(tmp_path, nih_spec):
    out = tmp_path / "demo"
    result = run_gxr("demo", "--out", str(out), "--data", nih_spec, "--epochs", "1", "--image-size", "75",
                     "--iters", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"everything is under {out}" in " ".join(result.stdout.split())
    for key, channels in (("gray", 1), ("color", 3)):
        manifest = json.loads((out / "models" / key / "1" / "manifest.json").read_text())
        assert manifest["arch"] == "inception_v3" and manifest["channels"] == channels
        assert manifest["input"]["dtype"] == "uint8"
        parity = manifest["parity"]       # ONNX Runtime vs PyTorch on real NIH test images
        assert parity["max_rel_error"] <= 1e-3 and parity["label_agreement"] == 1.0
    comparison = json.loads((out / "bench-nih.json").read_text())
    assert [r["label"] for r in comparison["labels"]][:2] == ["Atelectasis", "Cardiomegaly"]
    assert any(r["p_value"] is not None for r in comparison["labels"])
    latency = json.loads((out / "latency.json").read_text())
    assert {t["backend"] for t in latency["timings"]} == {"onnxruntime", "torch"}
    assert (out / "bench-nih.md").read_text().startswith("# gray vs color")
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["test_mean_auc"]) == {"gray", "color"}
