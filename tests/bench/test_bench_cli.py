"""`gxr bench latency | parity | compare | nih` end to end, each number checked against an independent
computation (raw timings, gxr.load(...).predict + a reference DeLong), not against the tool's own report."""

import json

import numpy as np
import pytest

import gxr
from gxr.data import open_source
from tests.helpers import assert_one_line_error, delong_reference, expect_cli_error, run_gxr


def _check_timing_stats(t: dict) -> None:
    per_image = np.array(t["raw_ms_per_batch"]) / t["batch"]
    for q in (50, 90, 99):
        assert t[f"ms_per_image_p{q}"] == pytest.approx(np.percentile(per_image, q), rel=1e-3, abs=1e-4)
    assert t["images_per_s"] == pytest.approx(t["batch"] * len(per_image) / (sum(t["raw_ms_per_batch"]) / 1000),
                                              rel=1e-3)


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
        _check_timing_stats(t)
    compute = {t["channels"]: t for t in data["timings"] if t["mode"] == "compute" and t["batch"] == 1}
    assert compute[1]["input_bytes_per_image"] * 3 == compute[3]["input_bytes_per_image"] == 3 * 32 * 32
    assert len(data["gray_over_color"]) == 4
    p50 = {(t["channels"], t["mode"], t["batch"]): t["ms_per_image_p50"] for t in data["timings"]}
    for r in data["gray_over_color"]:
        assert r["gray_over_color"] == pytest.approx(p50[(1, r["mode"], r["batch"])] / p50[(3, r["mode"], r["batch"])])
    assert "gray / color" in result.stdout


def test_parity_between_torch_checkpoint_and_onnx(tmp_path, exported, trained_runs, pneumonia_spec):
    from gxr.data import split_pixels

    out = tmp_path / "parity.json"
    result = run_gxr("bench", "parity", str(trained_runs["gray"]), str(exported["gray"]), "--limit", "64",
                     "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    pixels = split_pixels(open_source(pneumonia_spec).split("test"), 1, 32, 64)
    ref = gxr.load(trained_runs["gray"]).logits_from_pixels(pixels)
    cand = gxr.load(exported["gray"]).logits_from_pixels(pixels)
    assert data["images"] == 64
    assert data["max_abs_error"] == pytest.approx(float(np.abs(ref - cand).max()), rel=1e-6, abs=1e-9)
    assert data["label_agreement"] == float(((ref >= 0) == (cand >= 0)).mean())
    assert data["max_rel_error"] < 1e-3 and abs(data["auc_difference"]) < 1e-3


def _reference_rows(gray, color, spec: str, limit: int | None = None) -> list[tuple]:
    """Per label: (auc gray, auc color, z, p) or None where a class is missing, from predict()."""
    split = open_source(spec).split("test")
    n = len(split) if limit is None else limit
    images = [split.images.open(i) for i in range(n)]
    pg, pc = gxr.load(gray).predict(images), gxr.load(color).predict(images)
    y = split.targets[:n].reshape(n, -1)
    rows = []
    for i in range(pg.shape[1]):
        has_both = 0 < y[:, i].sum() < len(y)
        rows.append(delong_reference(y[:, i], pg[:, i], pc[:, i]) if has_both else None)
    return rows


def _check_rows(data: dict, reference: list, targets: np.ndarray) -> None:
    """Per label: AUCs always; z and p only for labels with >= 10 positives and negatives, which alone make the
    mean; Holm-adjusted p over those labels."""
    eligible = []
    for j, (row, ref) in enumerate(zip(data["labels"], reference)):
        if ref is None:
            assert row["gray_auc"] is None and row["color_auc"] is None and row["label"] in data["undefined_labels"]
            continue
        assert row["gray_auc"] == pytest.approx(ref[0], abs=1e-6)
        assert row["color_auc"] == pytest.approx(ref[1], abs=1e-6)
        pos = int(targets[:, j].sum())
        if min(pos, len(targets) - pos) >= 10:
            eligible.append((row, ref))
            assert row["in_mean"] and row["z"] == pytest.approx(ref[2], rel=1e-4, abs=1e-6)
            assert row["p_value"] == pytest.approx(ref[3], rel=1e-4, abs=1e-9)
        else:
            assert not row["in_mean"] and row["p_value"] is None and row["label"] in data["left_out"]
    if eligible:
        assert data["mean_auc"]["gray"] == pytest.approx(np.mean([r[0] for _, r in eligible]), abs=1e-6)
        assert data["mean_auc"]["color"] == pytest.approx(np.mean([r[1] for _, r in eligible]), abs=1e-6)
        k, ordered = len(eligible), sorted(r["p_value"] for r, _ in eligible)
        for row, _ in eligible:   # Holm by its definition: max over the smaller p's of (k - rank) * p, capped at 1
            rank = ordered.index(row["p_value"])
            expected = min(1.0, max((k - i) * ordered[i] for i in range(rank + 1)))
            assert row["p_holm"] == pytest.approx(expected, rel=1e-9)
    else:
        assert data["mean_auc"] == {"gray": None, "color": None}


def test_compare_gray_vs_color_matches_an_independent_delong(tmp_path, exported, pneumonia_spec):
    out = tmp_path / "cmp"
    result = run_gxr("bench", "compare", "--gray", str(exported["gray"]), "--color", str(exported["color"]),
                     "--iters", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["images"] == 624 and [r["label"] for r in data["labels"]] == ["pneumonia"]
    targets = open_source(pneumonia_spec).split("test").targets.reshape(624, -1)
    _check_rows(data, _reference_rows(exported["gray"], exported["color"], pneumonia_spec), targets)
    assert "| pneumonia |" in out.with_suffix(".md").read_text()
    assert "from scratch" in data["trained"]["gray"]


def test_nih_suite_multilabel_in_the_papers_order_with_its_numbers(tmp_path, nih_runs, nih_spec):
    from gxr.data.nih import NIH_LABELS

    out = tmp_path / "nih"
    result = run_gxr("bench", "nih", "--gray", str(nih_runs["gray"]), "--color", str(nih_runs["color"]),
                     "--iters", "3", "--limit", "40", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["label"] for r in data["labels"]] == NIH_LABELS and data["images"] == 40
    reference = _reference_rows(nih_runs["gray"], nih_runs["color"], nih_spec, limit=40)
    assert any(r is None for r in reference)   # 40 test images: some findings have no positive case
    targets = open_source(nih_spec).split("test").targets[:40]
    _check_rows(data, reference, targets)
    few = [label for j, label in enumerate(NIH_LABELS) if min(targets[:, j].sum(), 40 - targets[:, j].sum()) < 10]
    assert data["left_out"] == few and len(few) >= 10                   # 40 images: most findings are too rare
    assert data["paper"]["gray_mean_auc"] == 0.7706 and data["paper"]["color_mean_auc"] == 0.7498
    table2 = {row["label"]: row for row in data["paper"]["labels"]}
    assert table2["Cardiomegaly"]["gray_auc"] == 0.8091 and table2["Cardiomegaly"]["significance"] == "*"
    text = " ".join(result.stdout.split())
    assert "paper gray" in text and "0.8091" in text and "trained on nih:" in text and "from scratch" in text
    assert "fewer than 10 positives" in text


def test_nih_suite_refuses_a_model_of_another_task(tmp_path, exported):
    result = run_gxr("bench", "nih", "--gray", str(exported["gray"]), "--color", str(exported["color"]),
                     "--out", str(tmp_path / "x"))
    assert_one_line_error(result, "not an NIH ChestX-ray14 model", names=exported["gray"])


def test_compare_refuses_swapped_models(tmp_path, exported):
    expect_cli_error("bench", "compare", "--gray", str(exported["color"]), "--color", str(exported["gray"]),
                     "--out", str(tmp_path / "x"), names=exported["color"],
                     needles=["the gray model must have 1 channel"], watch=[tmp_path])


def test_latency_bad_batch_sizes(exported):
    expect_cli_error("bench", "latency", str(exported["gray"]), "--batch-sizes", "1,x", names=None,
                     needles=["expected comma-separated integers"], watch=[exported["gray"]])


def test_latency_same_model_under_onnxruntime_and_torch(tmp_path, exported):
    out = tmp_path / "both.json"
    result = run_gxr("bench", "latency", str(exported["gray"]), "--backend", "onnxruntime,torch",
                     "--batch-sizes", "1", "--warmup", "1", "--iters", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [t["backend"] for t in data["timings"]] == ["onnxruntime", "torch"]
    assert data["timings"][1]["provider"] == "cpu"
    ort, pt = data["timings"]
    (row,) = data["torch_over_onnxruntime"]
    assert row["batch"] == 1
    assert row["torch_over_onnxruntime"] == pytest.approx(pt["ms_per_image_p50"] / ort["ms_per_image_p50"])
    assert "PyTorch eager / ONNX Runtime" in result.stdout
