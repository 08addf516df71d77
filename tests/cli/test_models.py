"""`gxr models [REPO]`: every exported version with its precision, contract, size, parity and backends."""

import json
import shutil

from tests.helpers import assert_one_line_error, run_gxr


def test_models_lists_what_was_exported(tmp_path, low_precision):
    repo = tmp_path / "models"
    shutil.copytree(low_precision["int8"].parent.parent, repo)
    result = run_gxr("models", str(repo), "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"gray-fp32", "gray-int8", "gray-fp16"}
    assert {n: r["precision"] for n, r in rows.items()} == {"gray-fp32": "fp32", "gray-int8": "int8",
                                                           "gray-fp16": "fp16"}
    assert rows["gray-int8"]["input"] == "pixels uint8 [batch,1,32,32], normalized in graph"
    assert rows["gray-fp16"]["input"].startswith("input float32 [batch,1,32,32]")
    assert rows["gray-int8"]["parity"].startswith("AUC ") and "vs fp32 (624 test images)" in rows["gray-int8"]["parity"]
    assert rows["gray-fp32"]["parity"].startswith("fp32: rel err")
    assert rows["gray-int8"]["bytes"] < rows["gray-fp32"]["bytes"] / 2   # int8 weights are a quarter of fp32
    assert {"onnxruntime", "openvino", "torch"} <= set(rows["gray-fp32"]["backends"])
    assert "torch (fp32 source)" in rows["gray-int8"]["backends"]   # torch never runs the int8 graph
    table = run_gxr("models", str(repo))
    assert table.returncode == 0 and "gray-int8" in table.stdout and "int8" in table.stdout


def test_broken_entry_is_reported_not_fatal_and_missing_repo_is_one_line(tmp_path, low_precision):
    repo = tmp_path / "models"
    shutil.copytree(low_precision["int8"].parent, repo / "gray-int8")
    (repo / "broken" / "3").mkdir(parents=True)
    (repo / "broken" / "3" / "manifest.json").write_text("{not json")
    rows = json.loads(run_gxr("models", str(repo), "--json").stdout)
    assert [(r["name"], r["version"]) for r in rows] == [("broken", 3), ("gray-int8", 1)]
    assert rows[0]["problem"] and rows[1]["problem"] is None
    assert_one_line_error(run_gxr("models", str(tmp_path / "nope")), "model repository not found",
                          names=tmp_path / "nope")
