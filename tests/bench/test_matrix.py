"""The precision/backend matrix: cells timed per model, speed-up vs FP32 ONNX Runtime of the same source model,
AUC delta beside it, noise warnings."""

import json

import numpy as np
import pytest

from gxr.bench.latency import Timing
from gxr.bench.matrix import Cell, matrix_rows
from gxr.core.render import matrix_markdown
from tests.helpers import run_gxr


def _timing(label: str, batch: int, p50: float, p90: float) -> Timing:
    return Timing(label, label, "x", "x", 1, "uint8", "compute", batch, 3, p50, p90, p90, 1000 / p50, 1, [])


def test_rows_compare_each_cell_with_fp32_onnxruntime_of_the_same_source():
    cells = [Cell("a/1 (onnxruntime)", "a/1", "onnxruntime", "src1", "fp32", "cpu", 0.90, auc_delta=0.0),
             Cell("a-int8/1 (openvino)", "a-int8/1", "openvino", "src1", "int8", "ov", 0.89, auc_delta=-0.01),
             Cell("b/1 (onnxruntime)", "b/1", "openvino", "src2", "int8", "ov", 0.70)]
    timings = [_timing(cells[0].label, 1, 30.0, 31.0), _timing(cells[1].label, 1, 10.0, 15.0),
               _timing(cells[2].label, 1, 5.0, 5.1)]
    rows = {r["model"]: r for r in matrix_rows(cells, timings)}
    assert rows["a/1 (onnxruntime)"]["speedup_vs_fp32_ort"] == 1.0 and rows["a/1 (onnxruntime)"]["auc_delta"] == 0.0
    assert rows["a-int8/1 (openvino)"]["speedup_vs_fp32_ort"] == 3.0
    assert rows["a-int8/1 (openvino)"]["auc_delta"] == -0.01
    assert rows["b/1 (onnxruntime)"]["speedup_vs_fp32_ort"] is None   # no FP32 ORT cell of its source
    assert matrix_markdown(list(rows.values())).count("\n") == 5 and "3.00x" in matrix_markdown(list(rows.values()))


def _mean_auc_reference(model_dir, spec: str, limit: int) -> float | None:
    """Mean test AUC by definition (O(m*n) pairs on the logits), over labels with >= 10 positives and negatives."""
    import gxr
    from gxr.data import open_source

    split = open_source(spec).split("test")
    images = [split.images.open(i) for i in range(limit)]
    with gxr.load(model_dir) as model:
        logits = model.logits(images).astype(np.float64)
    y = split.targets[:limit].reshape(limit, -1).astype(bool)
    aucs = []
    for j in range(y.shape[1]):
        pos, neg = logits[y[:, j], j], logits[~y[:, j], j]
        if min(len(pos), len(neg)) >= 10:
            aucs.append(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())
    return float(np.mean(aucs)) if aucs else None


def test_latency_matrix_end_to_end_on_real_models(tmp_path, low_precision, pneumonia_spec):
    out = tmp_path / "matrix.json"
    result = run_gxr("bench", "latency", str(low_precision["fp32"]), str(low_precision["int8"]), "--matrix",
                     "--backend", "onnxruntime,openvino,openvino:bf16", "--batch-sizes", "1,4", "--warmup", "1",
                     "--iters", "3", "--threads", "1", "--auc-images", "200", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["kind"] == "latency-matrix" and data["machine"]["cpu"] and len(data["cells"]) == 6
    assert [c["backend"] for c in data["cells"]] == ["onnxruntime", "openvino", "openvino:bf16"] * 2
    assert [c["graph"] for c in data["cells"]] == ["fp32"] * 3 + ["int8"] * 3
    # each model's cells are consecutive blocks in the raw timings: model by model, backend by backend
    order = [t["model"] for t in data["timings"]]
    assert order == [c["label"] for c in data["cells"] for _ in (1, 4)]
    rows = data["rows"]
    assert len(rows) == 12 and all(r["reference"] == "gray-fp32/1 (onnxruntime)" for r in rows)
    # speed-up: the reference's p50 over the cell's p50, recomputed from the raw per-batch timings
    p50 = {(t["model"], t["batch"]): float(np.percentile(np.array(t["raw_ms_per_batch"]) / t["batch"], 50))
           for t in data["timings"]}
    for r in rows:
        assert r["speedup_vs_fp32_ort"] == pytest.approx(p50[(r["reference"], r["batch"])] / p50[(r["model"],
                                                                                                 r["batch"])],
                                                         rel=1e-3)
    # AUC: each graph's mean test AUC by definition on its own logits; the delta against the FP32 graph
    fp32_auc = _mean_auc_reference(low_precision["fp32"], pneumonia_spec, 200)
    int8_auc = _mean_auc_reference(low_precision["int8"], pneumonia_spec, 200)
    for c in data["cells"]:
        if c["backend"] == "onnxruntime":
            assert c["mean_auc"] == pytest.approx(fp32_auc if c["graph"] == "fp32" else int8_auc, abs=1e-9)
    int8_ort = next(r for r in rows if r["model"].startswith("gray-int8") and r["backend"] == "onnxruntime")
    assert int8_ort["auc_delta"] == pytest.approx(int8_auc - fp32_auc, abs=1e-9) and int8_ort["auc_images"] == 200
    assert all(r["auc_delta"] == 0.0 for r in rows if r["model"] == "gray-fp32/1 (onnxruntime)")
    # the noise rule's verdicts follow from the recorded blocks and timings
    rule = data["noise"]["rule"]
    noisy = [b["label"] for b in data["noise"]["blocks"] if b["foreign_cpu"] > rule["foreign_limit"]]
    spread = [t for t in data["timings"] if t["ms_per_image_p90"] / t["ms_per_image_p50"] > rule["spread_limit"]]
    assert len(data["noise"]["blocks"]) == 6
    assert sum("other processes used" in w for w in data["warnings"]) == len(noisy)
    assert sum("p90/p50" in w for w in data["warnings"]) == len(spread)
    assert "speed-up" in result.stdout and "AUC delta" in result.stdout
