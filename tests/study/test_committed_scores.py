"""The committed run of record keeps per-image test logits (scores.json) but not the test labels: every AUC in its
results.json re-computes exactly from those logits with the labels re-joined from ../shared/data by image id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gxr.core.comparator import auc_summary
from gxr.core.errors import GxrError
from gxr.study.context import data_specs
from gxr.study.evaluation import scores_from_record
from gxr.study.report import split_per_image

RECORD = Path(__file__).resolve().parents[2] / "bench" / "results" / "study-grayscale-cpu-2vcpu"


def test_committed_aucs_recompute_from_logits_and_data(data_root):
    results = json.loads((RECORD / "results.json").read_text())["results"]
    per_image = json.loads((RECORD / "scores.json").read_text())
    assert per_image and not any("targets" in record for record in per_image.values())
    specs = data_specs(data_root)
    checked = 0
    for task in ("pneumonia", "covid"):
        for arm, runs in results["tasks"][task].items():
            for run in runs:
                file, key = run["scores"].split("#")
                assert file == "scores.json"
                summary = auc_summary(scores_from_record(per_image[key], specs[task]))
                assert summary.mean_auc == pytest.approx(run["test"]["mean_auc"], abs=1e-12), (task, arm)
                checked += 1
    assert checked == 2 * 4 * 3          # two tasks, four arms, three seeds


def test_split_per_image_moves_logits_out_and_drops_targets():
    record = {"logits": [[0.25, -1.5]], "logits_dtype": "float32", "targets": [1], "labels": ["a", "b"],
              "task": "multiclass", "image_ids": ["x.png"], "split": "test", "data": "npz:d.npz"}
    kept, per_image = split_per_image({"tasks": {"t": {"arm": [{"test": {"mean_auc": 0.5}, "scores": record}]}}})
    assert kept == {"tasks": {"t": {"arm": [{"test": {"mean_auc": 0.5},
                                             "scores": "scores.json#tasks/t/arm/0/scores"}]}}}
    stored = per_image["tasks/t/arm/0/scores"]
    assert "targets" not in stored and stored["logits"] == [[0.25, -1.5]] and stored["image_ids"] == ["x.png"]


def test_a_record_without_targets_needs_its_data():
    record = {"logits": [[0.5]], "labels": ["p"], "task": "binary", "image_ids": ["nowhere.png"], "split": "test",
              "data": "medmnist:/no/such/file.npz"}
    with pytest.raises(GxrError):
        scores_from_record(record)
