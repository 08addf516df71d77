"""`gxr bench latency | parity | compare` end to end on small real-data models."""

import json

from tests.conftest import assert_one_line_error, run_gxr


def test_latency_gray_and_color_side_by_side_with_json(tmp_path, exported):
    out = tmp_path / "lat.json"
    result = run_gxr("bench", "latency", str(exported["gray"]), str(exported["color"]), "--batch-sizes", "1,4",
                     "--warmup", "1", "--iters", "3", "--end-to-end", "--threads", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["machine"]["cpu"] and data["settings"]["threads"] == 1
    modes = {(t["channels"], t["mode"], t["batch"]) for t in data["timings"]}
    assert modes == {(c, m, b) for c in (1, 3) for m in ("compute", "end-to-end") for b in (1, 4)}
    for t in data["timings"]:
        assert t["provider"] == "CPUExecutionProvider" and len(t["raw_ms_per_batch"]) == 3
        assert 0 < t["ms_per_image_p50"] <= t["ms_per_image_p99"]
    compute = {t["channels"]: t for t in data["timings"] if t["mode"] == "compute" and t["batch"] == 1}
    assert compute[1]["input_bytes_per_image"] * 3 == compute[3]["input_bytes_per_image"]
    assert len(data["gray_over_color"]) == 4
    assert "gray / color" in result.stdout


def test_parity_between_torch_checkpoint_and_onnx(tmp_path, exported, trained_runs):
    out = tmp_path / "parity.json"
    result = run_gxr("bench", "parity", str(trained_runs["gray"]), str(exported["gray"]), "--limit", "64",
                     "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["images"] == 64 and data["label_agreement"] == 1.0 and data["max_rel_error"] < 1e-3
    assert abs(data["auc_difference"]) < 1e-3


def test_compare_gray_vs_color_writes_table_json_and_markdown(tmp_path, exported):
    out = tmp_path / "cmp"
    result = run_gxr("bench", "compare", "--gray", str(exported["gray"]), "--color", str(exported["color"]),
                     "--iters", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    row = data["labels"][0]
    assert row["label"] == "pneumonia" and 0 <= row["p_value"] <= 1 and data["images"] == 624
    assert data["latency_batch1"]["gray"]["ms_per_image_p50"] > 0
    assert "| pneumonia |" in out.with_suffix(".md").read_text()


def test_compare_refuses_swapped_models(tmp_path, exported):
    result = run_gxr("bench", "compare", "--gray", str(exported["color"]), "--color", str(exported["gray"]),
                     "--out", str(tmp_path / "x"))
    assert_one_line_error(result, "--gray must be a 1-channel")


def test_latency_bad_batch_sizes(exported):
    assert_one_line_error(run_gxr("bench", "latency", str(exported["gray"]), "--batch-sizes", "1,x"),
                          "expected comma-separated integers")


def test_latency_same_model_under_onnxruntime_and_torch(tmp_path, exported):
    out = tmp_path / "both.json"
    result = run_gxr("bench", "latency", str(exported["gray"]), "--backend", "onnxruntime,torch",
                     "--batch-sizes", "1", "--warmup", "1", "--iters", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [t["backend"] for t in data["timings"]] == ["onnxruntime", "torch"]
    assert data["timings"][1]["provider"] == "cpu"
    (row,) = data["torch_over_onnxruntime"]
    assert row["batch"] == 1 and row["torch_over_onnxruntime"] > 0
    assert "PyTorch eager / ONNX Runtime" in result.stdout
