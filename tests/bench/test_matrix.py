"""The precision/backend matrix: cells timed per model, speed-up vs FP32 ONNX Runtime of the same source model,
AUC delta beside it, noise warnings."""

import json

import pytest

from gxr.bench.latency import Timing
from gxr.bench.matrix import Cell, matrix_rows, noise_warnings
from gxr.core.render import matrix_markdown
from tests.helpers import run_gxr


def _timing(label: str, batch: int, p50: float, p90: float) -> Timing:
    return Timing(label, label, "x", "x", 1, "uint8", "compute", batch, 3, p50, p90, p90, 1000 / p50, 1, [])


def test_rows_compare_each_cell_with_fp32_onnxruntime_of_the_same_source():
    cells = [Cell("a/1 (onnxruntime)", "a/1", "onnxruntime", "src1", "fp32", "cpu", 0.90),
             Cell("a-int8/1 (openvino)", "a-int8/1", "openvino", "src1", "int8", "ov", 0.89),
             Cell("b/1 (onnxruntime)", "b/1", "openvino", "src2", "int8", "ov", 0.70)]
    timings = [_timing(cells[0].label, 1, 30.0, 31.0), _timing(cells[1].label, 1, 10.0, 15.0),
               _timing(cells[2].label, 1, 5.0, 5.1)]
    rows = {r["model"]: r for r in matrix_rows(cells, timings)}
    assert rows["a/1 (onnxruntime)"]["speedup_vs_fp32_ort"] == 1.0 and rows["a/1 (onnxruntime)"]["auc_delta"] == 0.0
    assert rows["a-int8/1 (openvino)"]["speedup_vs_fp32_ort"] == 3.0
    assert rows["a-int8/1 (openvino)"]["auc_delta"] == pytest.approx(-0.01)
    assert rows["b/1 (onnxruntime)"]["speedup_vs_fp32_ort"] is None   # no FP32 ORT cell of its source
    warnings = noise_warnings(list(rows.values()), [0.5, 2.5], cores=2, threshold=1.10)
    assert len(warnings) == 2 and "p90/p50 = 1.50" in warnings[0] and "load average reached 2.50" in warnings[1]
    assert noise_warnings(list(rows.values()), [0.5], cores=2, threshold=2.0) == []
    assert matrix_markdown(list(rows.values())).count("\n") == 5 and "3.00x" in matrix_markdown(list(rows.values()))


def test_latency_matrix_end_to_end_on_real_models(tmp_path, low_precision):
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
    ref = [r for r in rows if r["model"] == "gray-fp32/1 (onnxruntime)"]
    assert all(r["speedup_vs_fp32_ort"] == 1.0 and r["auc_delta"] == 0.0 for r in ref)
    assert all(r["speedup_vs_fp32_ort"] > 0 and r["auc_images"] == 200 and abs(r["auc_delta"]) < 0.05 for r in rows)
    assert isinstance(data["warnings"], list) and len(data["load_averages"]) == 12
    assert "speed-up" in result.stdout and "AUC delta" in result.stdout


def test_foreign_cpu_share_separates_other_processes_from_ours():
    from gxr.bench.matrix import Cell, cpu_snapshot, foreign_cpu_share, foreign_warnings

    # 2 s on 2 cores; the machine was busy 3 CPU-seconds, 2 of them ours: others used 1 of 4 = 25%
    assert foreign_cpu_share((0.0, 10.0, 1.0), (2.0, 13.0, 3.0), cores=2) == 0.25
    assert foreign_cpu_share((0.0, 10.0, 1.0), (2.0, 11.0, 3.0), cores=2) == 0.0   # never negative
    assert foreign_cpu_share(None, (2.0, 11.0, 3.0), cores=2) is None
    snap = cpu_snapshot()
    assert snap is None or (snap[1] > 0 and snap[2] > 0)
    cell = Cell("m/1 (onnxruntime)", "m/1", "onnxruntime", "s", "fp32", foreign_cpu=0.3)
    assert foreign_warnings([cell]) == ["m/1 (onnxruntime): other processes used 30% of the CPUs while it was timed"]
