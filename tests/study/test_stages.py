"""Cached stages, settings, curves and timing checks of `gxr study` (fast; no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from gxr.bench.latency import Timing
from gxr.bench.noise import Block, NoiseMonitor, NoiseRule, foreign_cpu_share, noise_warnings
from gxr.core.errors import GxrError
from gxr.core.metrics import roc_points
from gxr.study.evaluation import top_k_accuracy
from gxr.study.runner import study_settings
from gxr.study.stages import Stages, settings_hash
from gxr.study.transfer import _optimizer, epochs_to_fraction, pretrain_epochs
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


def _timing(p50: float, p90: float) -> Timing:
    return Timing("gray", "gray", "torch", "cpu", 1, "float32", "compute", 1, 3, p50, p90, p90, 1000 / p50, 1, [])


def test_the_one_noise_rule_flags_foreign_cpu_load_and_spread():
    rule = NoiseRule(spread_limit=1.10, foreign_limit=0.05)
    calm = [Block("gray (torch)", 2.0, 0.01, 0.5)]
    assert noise_warnings(calm, [_timing(5.0, 5.4)], rule, cores=2) == []
    notes = noise_warnings([Block("gray (torch)", 2.0, 0.30, 2.5)], [_timing(5.0, 6.0)], rule, cores=2)
    assert len(notes) == 3
    assert "other processes used 30% of the CPUs" in notes[0] and "load average reached 2.50 on 2 cores" in notes[1]
    assert "p90/p50 = 1.20 > 1.1" in notes[2]
    assert noise_warnings(calm, [_timing(5.0, 6.0)], NoiseRule(spread_limit=1.25), cores=2) == []


def test_foreign_cpu_share_separates_other_processes_from_ours():
    from gxr.bench.noise import CpuSnapshot

    # 2 s on 2 cores; the machine was busy 3 CPU-seconds, 2 of them ours: others used 1 of 4 = 25%
    assert foreign_cpu_share(CpuSnapshot(0.0, 10.0, 1.0), CpuSnapshot(2.0, 13.0, 3.0), cores=2) == 0.25
    assert foreign_cpu_share(CpuSnapshot(0.0, 10.0, 1.0), CpuSnapshot(2.0, 11.0, 3.0), cores=2) == 0.0   # never < 0
    assert foreign_cpu_share(None, CpuSnapshot(2.0, 11.0, 3.0), cores=2) is None


def test_monitor_measures_our_own_work_as_ours_and_a_busy_child_as_foreign():
    import subprocess
    import sys
    import time

    monitor = NoiseMonitor(cores=1)
    with monitor.block("own"):
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:      # this process's own busy loop is not foreign load
            pass
    with monitor.block("other"):
        subprocess.run([sys.executable, "-c", "import time\nend = time.time() + 0.6\nwhile time.time() < end: pass"],
                       check=True)
    own, other = monitor.blocks
    assert own.foreign_cpu is not None and other.foreign_cpu is not None    # Linux: /proc/stat is there
    assert other.foreign_cpu > own.foreign_cpu + 0.3                          # the child was another process
    assert monitor.foreign_of("other") == other.foreign_cpu


def test_settings_overrides_and_unknown_setting():
    s = study_settings("grayscale", True, {"pretrain_epochs": 3, "finetune_epochs": None})
    assert s["pretrain_epochs"] == 3 and s["finetune_epochs"] == 1 and s["arch"] == "resnet18"
    with pytest.raises(GxrError, match="no setting 'bogus'"):
        study_settings("depth", False, {"bogus": 1})


def test_transfer_gives_inception_its_own_pretraining_epochs_unless_told_otherwise():
    from types import SimpleNamespace

    from gxr.study.runner import changed_settings

    defaults = study_settings("transfer", False, {})
    ctx = SimpleNamespace(settings=defaults, overrides=changed_settings("transfer", False, defaults))
    assert [pretrain_epochs(ctx, a) for a in ("resnet18", "inception_v3")] == [14, 28]
    told = study_settings("transfer", False, {"pretrain_epochs": 5})
    ctx = SimpleNamespace(settings=told, overrides=changed_settings("transfer", False, told))
    assert [pretrain_epochs(ctx, a) for a in ("resnet18", "inception_v3")] == [5, 5]
    assert _optimizer({"optimizer": "adam", "lr": 1e-3, "epochs": 28, "zero_init_head": True}) == \
        "adam lr 0.001, 28 epochs, classifier zero-initialised"
    assert _optimizer({"optimizer": "nesterov", "lr": 0.05, "epochs": 14}) == "nesterov lr 0.05, 14 epochs"


def test_unknown_study_is_a_one_line_error(tmp_path):
    expect_cli_error("study", "colour", "--out", str(tmp_path / "x"), names=None, needles=["unknown study 'colour'"],
                     watch=[tmp_path])
