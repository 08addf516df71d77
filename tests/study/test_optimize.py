"""`gxr optimize`: candidates exported into the repository (reused when already there), every cell timed and
gated on the test AUC against FP32 ONNX Runtime, a failing backend is a row not a crash, the winner recorded and
followed by gxr.load / gxr predict / gxr models."""

import json

import numpy as np
import pytest

import gxr
from gxr.core.recommended import RECOMMENDED, read_recommendation
from gxr.study.optimize import (
    Candidate,
    OptimizeOptions,
    Row,
    build_candidate,
    choose,
    gate,
    mark_pareto,
    resolve_source,
    run_optimize,
)
from tests.helpers import assert_one_line_error, run_gxr

OPTIONS = dict(precisions=("fp32", "int8"), calib_methods=("minmax",), calib_count=32,
               backends=("onnxruntime", "openvino", "tensorrt"), threads=(1,), batch_sizes=(1, 4), warmup=1, iters=3,
               auc_limit=300)


@pytest.fixture(scope="module")
def optimized(tmp_path_factory, cli_runs):
    repo = tmp_path_factory.mktemp("opt-models")
    options = OptimizeOptions(repo=repo, name="gray", **OPTIONS)
    steps = []
    result = run_optimize(cli_runs["gray"], options, report="somewhere/optimize.json", on_step=steps.append)
    return result, repo, steps


def test_every_cell_is_a_row_and_the_winner_is_the_fastest_that_passes(optimized):
    result, repo, steps = optimized
    assert [(c.key, c.version, c.problem) for c in result.candidates] == [("fp32", 1, None), ("int8-minmax", 2, None)]
    measured = [r for r in result.rows if r.p50_ms is not None]
    assert {(r.candidate, r.backend, r.batch) for r in measured} == {
        (c, b, n) for c in ("fp32", "int8-minmax") for b in ("onnxruntime", "openvino") for n in (1, 4)}
    failed = [r for r in result.rows if r.p50_ms is None]   # no TensorRT engine (or no TensorRT) here
    assert {r.candidate for r in failed} == {"fp32", "int8-minmax"} and all(r.backend == "tensorrt" for r in failed)
    assert all(r.verdict.startswith("failed: ") and "\n" not in r.verdict for r in failed)
    ref = [r for r in measured if r.candidate == "fp32" and r.backend == "onnxruntime"]
    assert all(r.auc_delta == 0.0 and r.label_agreement == 1.0 and r.speedup_vs_fp32_ort == 1.0 for r in ref)
    w = result.winner
    assert w is not None and w.passes_gate and w.verdict == "winner"
    assert w.p50_ms == min(r.p50_ms for r in measured if r.passes_gate)
    assert all(r.verdict for r in result.rows if r is not w)   # every loser says why
    assert any(r.on_front for r in measured) and w.on_front
    assert len(steps) == 2 + 2 * 3 * 2   # one per candidate built, one per (cell, batch)


def test_the_recommendation_is_recorded_and_gxr_load_follows_it(optimized, pneumonia_spec):
    result, repo, _ = optimized
    rec = read_recommendation(repo / "gray")
    w = result.winner
    assert (rec.version, rec.backend, rec.precision, rec.threads, rec.batch) == (w.version, w.backend, w.precision,
                                                                                w.threads, w.batch)
    assert rec.machine["cpu"] and rec.report == "somewhere/optimize.json" and rec.auc_tolerance == 0.005
    with gxr.load(repo / "gray") as model:
        assert model.recommendation == rec and model.backend == rec.backend
        assert model.source.endswith(f"gray/{rec.version}") and model.batch_size == rec.batch
        images = np.zeros((2, 40, 40), np.uint8)
        recommended = model.predict(list(images))
    other = "onnxruntime" if rec.backend != "onnxruntime" else "openvino"
    with gxr.load(repo / "gray", backend=other) as model:   # an explicit backend: newest version, no recommendation
        assert model.recommendation is None and model.backend == other and model.source.endswith("gray/2")
    with gxr.load(repo / "gray" / str(rec.version), backend=rec.backend) as model:
        np.testing.assert_allclose(model.predict(list(images)), recommended, atol=1e-6)
    listing = json.loads(run_gxr("models", str(repo), "--json").stdout)
    marked = [(r["version"], r["recommended"]) for r in listing if r["recommended"]]
    assert marked == [(rec.version, f"{rec.backend}, 1 threads, batch {rec.batch} (throughput)")]


def test_report_json_markdown_and_pareto_png(optimized, tmp_path):
    from gxr.study.optimize_report import write_report

    result, _, _ = optimized
    written = write_report(result, tmp_path / "out")
    assert [p.name for p in written] == ["optimize.json", "report.md", "pareto.png"]
    data = json.loads(written[0].read_text())
    assert data["kind"] == "optimize" and data["winner"]["label"] == result.winner.label
    assert len(data["rows"]) == len(result.rows) and data["recommended"]["version"] == result.winner.version
    assert data["pareto_front"] and data["machine"]["logical_cpus"] and data["noise"]["blocks"]
    text = written[1].read_text()
    assert "**Winner**" in text and "failed: " in text and "slower than the winner" in text
    assert written[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_versions_are_reused_and_never_changed(optimized, cli_runs):
    result, repo, _ = optimized
    options = OptimizeOptions(repo=repo, name="gray", **OPTIONS)
    before = {p: p.stat().st_mtime_ns for p in (repo / "gray").rglob("*") if p.is_file() and p.name != RECOMMENDED}
    source = resolve_source(cli_runs["gray"], options)
    again = build_candidate(Candidate("int8-minmax", "int8", "minmax"), source, options, lambda _: None)
    assert again.reused and again.version == 2
    by_name = resolve_source(repo / "gray", OptimizeOptions())   # models/NAME finds its checkpoint and contract
    assert (by_name.checkpoint, by_name.name, by_name.input_dtype) == (source.checkpoint, "gray", "uint8")
    assert before == {p: p.stat().st_mtime_ns for p in (repo / "gray").rglob("*")
                      if p.is_file() and p.name != RECOMMENDED}


def _row(name: str, ms: float, delta: float, agreement: float = 1.0) -> Row:
    return Row(name, 1, "int8", "openvino", 2, 16, p50_ms=ms, auc_delta=delta, label_agreement=agreement)


def test_gate_pareto_and_choice():
    options = OptimizeOptions(auc_tolerance=0.005, min_agreement=0.98)
    rows = [_row("ref", 50.0, 0.0), _row("bf16", 25.0, -0.001), _row("int8", 13.0, -0.004),
            _row("lossy", 8.0, -0.006), _row("flippy", 10.0, -0.003, 0.95), _row("slow", 60.0, -0.002)]
    for r in rows:
        r.passes_gate, r.verdict = gate(r, options)
    assert [r.passes_gate for r in rows] == [True, True, True, False, False, True]
    assert "drops 0.0060 > tolerance 0.005" in rows[3].verdict and "agreement 0.950 < 0.98" in rows[4].verdict
    mark_pareto(rows, options)
    # the front ignores the gate: flippy (faster, smaller drop) pushes int8 off it; slow is behind ref
    assert [r.candidate for r in rows if r.on_front] == ["ref", "bf16", "lossy", "flippy"]
    winner = choose(rows, options)
    assert winner.candidate == "int8" and rows[1].verdict.startswith("1.92x slower than the winner")
    latency = OptimizeOptions(objective="latency", batch_sizes=(1, 16))
    assert choose([_row("b16", 5.0, 0.0)] + [Row("b1", 1, "fp32", "onnxruntime", 2, 1, p50_ms=9.0, auc_delta=0.0,
                                                 passes_gate=True)], latency).candidate == "b1"


def test_bad_requests_are_one_line_errors(tmp_path, trained_runs):
    assert_one_line_error(run_gxr("optimize", str(tmp_path / "nope")), "not found", names=tmp_path / "nope")
    assert_one_line_error(run_gxr("optimize", str(trained_runs["gray"]), "--objective", "fast", "--repo",
                                  str(tmp_path / "m")), "objective 'fast'", names=None)
    assert_one_line_error(run_gxr("optimize", str(trained_runs["gray"]), "--precisions", "int8", "--repo",
                                  str(tmp_path / "m")), "must include fp32", names=None)
    assert not (tmp_path / "m").exists()
