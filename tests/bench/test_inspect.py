"""`gxr bench errors`, `gxr bench roc` and the end-to-end breakdown, each checked against an independent
computation (gxr.load(...).predict on the split's own images, brute-force ROC points)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import numpy as np
import pytest
from PIL import Image

import gxr
from gxr.core.metrics import roc_auc
from gxr.data import open_source
from tests.helpers import expect_cli_error, run_gxr


def _independent_probs(model_path, spec: str, limit: int):
    split = open_source(spec).split("test")
    images = [np.asarray(split.images.open(i)) for i in range(min(limit, len(split)))]
    return gxr.load(model_path).predict(images), split.targets[:len(images)]


def test_errors_lists_every_mistake_most_confident_first(tmp_path, exported, pneumonia_spec):
    out = tmp_path / "mistakes"
    result = run_gxr("bench", "errors", str(exported["gray"]), "--out", str(out), "--top", "4", "--limit", "150")
    assert result.returncode == 0, result.stderr
    probs, targets = _independent_probs(exported["gray"], pneumonia_spec, 150)
    p, y = probs[:, 0], targets[:, 0].astype(bool)
    false_pos, false_neg = np.flatnonzero((p >= 0.5) & ~y), np.flatnonzero((p < 0.5) & y)
    rows = list(csv.DictReader(io.StringIO((out / "mistakes.csv").read_text())))
    assert sorted(int(r["index"]) for r in rows if r["kind"] == "false positive") == sorted(false_pos)
    assert sorted(int(r["index"]) for r in rows if r["kind"] == "false negative") == sorted(false_neg)
    for r in rows:
        assert float(r["probability"]) == pytest.approx(p[int(r["index"])], abs=1e-5)
        assert r["true_labels"] == ("pneumonia" if y[int(r["index"])] else "normal")
    fp_conf = [float(r["confidence"]) for r in rows if r["kind"] == "false positive"]
    assert fp_conf == sorted(fp_conf, reverse=True)
    summary = json.loads((out / "mistakes.json").read_text())
    assert summary["counts"] == {"pneumonia": {"false positive": len(false_pos), "false negative": len(false_neg)}}
    sheet = Image.open(out / "contact-sheet.png")
    assert sheet.format == "PNG" and sheet.width > 400 and sheet.height > 300


def test_errors_refuses_an_unknown_label(tmp_path, exported):
    expect_cli_error("bench", "errors", str(exported["gray"]), "--out", str(tmp_path / "o"), "--label", "Fracture",
                     names=exported["gray"], needles=["'Fracture'", "pneumonia"], watch=[tmp_path])


def test_roc_overlays_gray_and_color_with_the_right_aucs(tmp_path, nih_runs, nih_spec):
    out = tmp_path / "plots" / "roc.png"
    result = run_gxr("bench", "roc", str(nih_runs["gray"]), str(nih_runs["color"]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert [m["name"] for m in report["models"]] == ["gray", "color"] and report["images"] == 198
    for m, key in zip(report["models"], ("gray", "color")):
        probs, targets = _independent_probs(nih_runs[key], nih_spec, 198)
        for j, (label, auc) in enumerate(m["auc"].items()):
            expected = roc_auc(targets[:, j], probs[:, j])
            assert (auc is None and np.isnan(expected)) or auc == pytest.approx(expected, abs=1e-6), label
    for picture in (out, tmp_path / "plots" / "roc-calibration.png"):
        assert Image.open(picture).format == "PNG"


def test_roc_curve_and_reliability_against_brute_force():
    from gxr.core.metrics import reliability
    from gxr.core.metrics import roc_points as roc_curve

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    score = np.round(rng.random(300) + 0.3 * y, 2)     # ties on purpose
    fpr, tpr = roc_curve(y, score)
    for t in np.unique(score):
        point = (((score >= t) & ~y).sum() / (~y).sum(), ((score >= t) & y).sum() / y.sum())
        assert any(np.isclose(fpr, point[0]) & np.isclose(tpr, point[1])), t
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, score), abs=1e-12)
    mean_p, observed, counts = reliability(y, np.clip(score, 0, 1), bins=10)
    assert counts.sum() == 300
    which = np.clip((np.clip(score, 0, 1) * 10).astype(int), 0, 9)
    first = which.min()
    assert observed[0] == pytest.approx(y[which == first].mean())


def test_end_to_end_from_a_folder_with_stages_and_the_decode_pool(tmp_path, exported, pneumonia_spec):
    split = open_source(pneumonia_spec).split("test")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        split.images.open(i).resize((300, 240)).save(folder / f"scan {i}.png")
    out = tmp_path / "e2e.json"
    result = run_gxr("bench", "latency", str(exported["gray"]), "--end-to-end", "--images", str(folder),
                     "--batch-sizes", "1,4", "--iters", "2", "--warmup", "1", "--stream", "12", "--json", str(out),
                     "--formats", "jpeg,dicom-mono1-rle", "--decoders", "auto,pillow")
    assert result.returncode == 0, result.stderr
    e2e = json.loads(out.read_text())["end_to_end"]
    by = {(b["file_format"], b["decoders"]): b for b in e2e["breakdown"]}
    assert set(by) == {("files", "auto"), ("files", "pillow"), ("jpeg", "auto"), ("dicom-mono1-rle", "auto")}
    for stages in by.values():
        assert stages["images"] == 10 and stages["normalization_in_graph"] is True
        assert all(stages["ms"][k] > 0 for k in ("read", "decode", "resize", "tensor", "inference"))
        assert stages["ms"]["total"] >= stages["ms"]["inference"]
    fast = ["libspng (imagecodecs)"] if importlib.util.find_spec("imagecodecs") else ["Pillow PNG"]
    assert by["files", "auto"]["decoded_by"] == fast and by["files", "pillow"]["decoded_by"] == ["Pillow PNG"]
    assert by["jpeg", "auto"]["decoded_by"] == ["Pillow JPEG draft"]     # libjpeg-turbo DCT scaling
    assert by["dicom-mono1-rle", "auto"]["decoded_by"] == ["DICOM RLE Lossless"]
    pool = {(r["batch"], r["decode_workers"] > 0): r for r in e2e["decode_pool"]}
    assert set(pool) == {(b, w) for b in (1, 4) for w in (False, True)}
    for r in pool.values():
        assert r["images"] == 12 and len(r["rounds_seconds"]) == 3
        assert r["seconds"] == pytest.approx(np.median(r["rounds_seconds"]), rel=1e-3)
        assert r["images_per_s"] == pytest.approx(12 / r["seconds"])
    assert "decode pool" in result.stdout


def test_plot_commands_say_which_extra_installs_matplotlib():
    for command in ("errors", "roc"):
        result = run_gxr("bench", command, "--help")
        assert result.returncode == 0 and "pip install 'gxr[plots]'" in result.stdout, result.stdout
