"""`gxr study grayscale --quick` end to end on the real shipped data (what CI runs), then again: every
finished stage is skipped."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_gxr

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_grayscale_quick_then_rerun_skips_every_stage(tmp_path):
    out = tmp_path / "gray"
    first = run_gxr("study", "grayscale", "--quick", "--out", str(out), "--device", "cpu")
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert doc["quick"] and doc["command"].startswith("gxr study grayscale --quick")
    assert set(doc["data"]) == {"imagenette", "pneumonia", "nih"}      # --quick: the binary and multi-label tasks
    assert all(len(d["fingerprint"]) == 64 for d in doc["data"].values())
    results = doc["results"]
    per_image = json.loads((out / "scores.json").read_text())
    for key in ("gray", "color"):
        val = results["pretrain"][key]["val"]
        assert val["images"] == 3925 and 0.0 <= val["top1"] <= val["top5"] <= 1.0
    for task, n_labels in (("pneumonia", 1), ("nih", 14)):
        arms = results["tasks"][task]
        assert set(arms) == {"gray-pretrained", "color-pretrained", "color-folded-to-gray", "scratch"}
        assert all(len(runs) == 2 for runs in arms.values())               # --quick: 2 fine-tuning seeds per arm
        summary = results["summaries"][task]
        per_seed = summary["delong_per_seed"]["gray-pretrained vs color-pretrained"]
        assert len(per_seed) == 2 and all(len(c["rows"]) == n_labels for c in per_seed)
        file, key = arms["gray-pretrained"][1]["scores"].split("#")       # per-image logits live in scores.json
        scores = per_image[key]                                            # logits kept exactly, not probabilities
        assert file == "scores.json" and "targets" not in scores           # the labels stay in the data
        assert len(scores["logits"]) == per_seed[0]["images"] and len(scores["logits"][0]) == n_labels
        for row in per_seed[0]["rows"]:   # the min-positives rule: a p-value only with >= 10 positives and negatives
            assert (row["p_value"] is not None) == (min(row["positives"], row["negatives"]) >= 10)
        ci = results["primary_endpoint"][task]
        assert ci["seeds"] == 2 and ci["low"] <= ci["estimate"] <= ci["high"]
        assert results["gate"][task].startswith("pre-trained beats scratch on validation: ")
        gray = summary["arms"]["gray-pretrained"]
        assert len(gray["test_ece"]["values"]) == 2 and gray["test_brier"]["mean"] is not None
    arm = {a: json.loads((out / "pneumonia" / a / "seed0" / "stage.json").read_text())["settings"] for a in arms}
    assert arm["color-folded-to-gray"]["recipe"]["channels"] == 1       # the color model folded to a gray stem
    assert arm["color-folded-to-gray"]["init"] == arm["color-pretrained"]["init"] != arm["gray-pretrained"]["init"]
    assert arm["scratch"]["init"] is None
    for name in doc["plots"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    seed1 = json.loads((out / "pneumonia" / "scratch" / "seed1" / "stage.json").read_text())["settings"]
    assert seed1["recipe"]["seed"] == 1
    report = (out / "report.md").read_text()
    assert "QUICK" in report and "stands in for ImageNet" in report and "Table 4" in report
    assert report.index("Primary endpoint") < report.index("## Table 1") and "cannot stand in for" in report
    ran = [e for e in doc["stages"] if e["status"] == "ran"]
    assert len(ran) >= 2 + 2 + 8 * 2 * 2 + 1 + 1     # pretrains, their evals, 2 x 4 fine-tunes + evals x 2 seeds, ...
    assert doc["stage_seconds_all"] == pytest.approx(sum(e["seconds"] for e in ran), abs=1.0)

    again = run_gxr("study", "grayscale", "--quick", "--out", str(out), "--device", "cpu")
    assert again.returncode == 0, again.stderr[-3000:]
    redo = json.loads((out / "results.json").read_text())
    assert {e["status"] for e in redo["stages"]} == {"skipped"}
    assert len(redo["stages"]) == len(doc["stages"])
    assert redo["stage_seconds_all"] == pytest.approx(doc["stage_seconds_all"], abs=1.0)   # the recorded times
    assert redo["results"]["tasks"]["nih"]["scratch"][1]["test"]["mean_auc"] == \
        results["tasks"]["nih"]["scratch"][1]["test"]["mean_auc"]
