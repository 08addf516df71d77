"""Cached stages, settings, curves and timing checks of `gxr study` (fast; no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from gxr.bench.machine_load import timing_warnings
from gxr.core.errors import GxrError
from gxr.study.evaluation import roc_points, top_k_accuracy
from gxr.study.runner import study_settings
from gxr.study.stages import Stages, settings_hash
from gxr.study.transfer import epochs_to_fraction
from tests.helpers import expect_cli_error


def test_settings_hash_ignores_key_order_and_sees_values():
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})


def test_stage_runs_once_then_is_skipped_and_reruns_when_settings_change(tmp_path):
    stages, calls = Stages(tmp_path, Console(quiet=True)), []

    def work(folder, resume):
        calls.append(resume)
        (folder / "out.txt").write_text("x")
        return {"value": len(calls)}

    assert stages.run("s", {"k": 1}, work) == {"value": 1}
    assert stages.run("s", {"k": 1}, work) == {"value": 1}          # cached: work not called again
    assert calls == [False] and [e["status"] for e in stages.log.entries] == ["ran", "skipped"]
    assert stages.run("s", {"k": 2}, work) == {"value": 2}          # other settings: runs again
    stale = [p.name for p in tmp_path.iterdir() if p.name.startswith("s.stale-")]
    assert stale == [f"s.stale-{settings_hash({'k': 1})}"]           # the old attempt is kept, not deleted
    assert json.loads((tmp_path / "s" / "stage.json").read_text())["settings"] == {"k": 2}


def test_interrupted_stage_is_resumed_with_the_same_settings(tmp_path):
    stages = Stages(tmp_path, Console(quiet=True))

    def crash(folder, resume):
        (folder / "partial").write_text("epoch 1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stages.run("train", {"epochs": 3}, crash)
    seen = []
    stages.run("train", {"epochs": 3}, lambda folder, resume: seen.append((resume, (folder / "partial").exists()))
               or {})
    assert seen == [(True, True)]


def test_roc_points_match_a_threshold_sweep_and_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)      # ties on purpose
    fpr, tpr = roc_points(y, s)
    for t in np.unique(s):
        assert (s[y == 0] >= t).mean() in fpr and (s[y == 1] >= t).mean() in tpr
    from gxr.core.metrics import roc_auc

    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(y, s), abs=1e-12)


def test_top_k_accuracy_and_epochs_to_90_percent():
    logits = np.array([[3, 2, 1], [1, 3, 2], [1, 2, 3]], dtype=float)
    assert top_k_accuracy(logits, np.array([0, 2, 0]), 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(logits, np.array([0, 2, 0]), 2) == pytest.approx(2 / 3)
    assert epochs_to_fraction([0.3, 0.7, 0.85, 0.9]) == 3      # 0.85 >= 0.9 * 0.9
    assert epochs_to_fraction([]) is None


def test_timing_warnings_flag_busy_machines_and_spread():
    calm = {"model": "gray", "batch": 1, "ms_per_image_p50": 5.0, "ms_per_image_p99": 6.0}
    spread = {**calm, "ms_per_image_p99": 3300.0}
    assert timing_warnings({"busy_fraction": 0.05}, [calm]) == []
    notes = timing_warnings({"busy_fraction": 0.9}, [spread])
    assert len(notes) == 2 and "90% busy" in notes[0] and "p99 3300.0 ms" in notes[1]


def test_settings_overrides_and_unknown_setting():
    s = study_settings("grayscale", True, {"pretrain_epochs": 3, "finetune_epochs": None})
    assert s["pretrain_epochs"] == 3 and s["finetune_epochs"] == 1 and s["arch"] == "resnet18"
    with pytest.raises(GxrError, match="no setting 'bogus'"):
        study_settings("depth", False, {"bogus": 1})


def test_unknown_study_is_a_one_line_error(tmp_path):
    expect_cli_error("study", "colour", "--out", str(tmp_path / "x"), names=None, needles=["unknown study 'colour'"],
                     watch=[tmp_path])
