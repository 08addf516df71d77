"""The grayscale study's seed summaries and report (no training): per-seed results, mean +- sd, per-seed DeLong with
Holm over the task, paired bootstrap CI, gate, ECE/Brier and the primary endpoint line, from fine-tuning results
built on known synthetic logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gxr.core.comparator import auc_summary
from gxr.core.metrics import holm
from gxr.core.scores import Scores
from gxr.study.grayscale import ARMS, PAIRS, PRETRAINED
from gxr.study.grayscale_report import endpoint_lines, report_sections
from gxr.study.seeds import spread, summarize_task

N = 80
SIGNAL = {"gray-pretrained": 2.0, "color-pretrained": 1.6, "color-folded-to-gray": 1.5, "scratch": 0.6}


def _arm(arm: str, seed: int, labels: list[str], truth: np.ndarray, val_auc: float, task: str | None = None
         ) -> dict:
    """One finetune() result: a run history (kept epoch 2 of 3) and test scores whose signal depends on the arm.
    Multi-class: `truth` holds class indices and the logits are one column per class."""
    rng = np.random.default_rng(100 * seed + list(ARMS).index(arm))
    task = task or ("binary" if len(labels) == 1 else "multilabel")
    onehot = np.eye(len(labels))[truth.astype(int)] if task == "multiclass" else truth
    logits = SIGNAL[arm] * (onehot - 0.5) + rng.normal(size=onehot.shape)
    scores = Scores(logits.astype(np.float32), truth, labels, task, [f"img{i}" for i in range(N)])
    history = [{"epoch": e, "val_loss": 1.0 - 0.1 * (e == 2), "val_mean_auc": val_auc - 0.01 * (e != 2)}
               for e in (1, 2, 3)]
    return {"run": {"history": history, "best_epoch": 2}, "test": auc_summary(scores).to_json(),
            "scores": scores.to_json(), "dir": f"runs/{arm}/seed{seed}"}


def _task(labels: list[str], truth: np.ndarray, scratch_val: float = 0.70, seeds: int = 3, task: str | None = None
          ) -> dict:
    val = {"gray-pretrained": 0.90, "color-pretrained": 0.88, "color-folded-to-gray": 0.87, "scratch": scratch_val}
    return {arm: [_arm(arm, s, labels, truth, val[arm] + 0.001 * s, task) for s in range(seeds)] for arm in ARMS}


@pytest.fixture(scope="module")
def binary_task():
    truth = (np.arange(N) % 2).astype(np.float32)[:, None]
    return _task(["pneumonia"], truth)


def test_spread_is_mean_and_sample_sd_and_skips_missing_values():
    s = spread([0.9, 0.92, None, 0.94])
    assert s.mean == pytest.approx(0.92) and s.sd == pytest.approx(0.02) and s.values[2] is None
    assert spread([0.9]).sd is None and spread([]).mean is None
    assert spread([0.9, 0.92]).text() == "0.910 \u00b1 0.014"


def test_task_summary_holds_seeds_holm_bootstrap_gate_and_calibration(binary_task):
    summary = summarize_task("pneumonia", binary_task, PAIRS, PRETRAINED, "scratch", resamples=200)
    assert summary.seeds == 3
    gray = summary.arms["gray-pretrained"]
    assert [r.seed for r in gray.seeds] == [0, 1, 2] and all(r.best_epoch == 2 for r in gray.seeds)
    aucs = [r["test"]["mean_auc"] for r in binary_task["gray-pretrained"]]
    assert gray.test_mean_auc.values == pytest.approx(aucs)
    assert gray.test_mean_auc.sd == pytest.approx(np.std(aucs, ddof=1))
    assert gray.val_mean_auc.mean == pytest.approx(0.901)                 # the kept epoch's, not the last one's
    for key in ("test_ece", "test_brier"):
        assert all(0.0 <= v <= 1.0 for v in getattr(gray, key).values)
    # Holm over every pair, seed and label of the task: one family of 4 pairs x 3 seeds x 1 label
    rows = [row for comparisons in summary.delong.values() for c in comparisons for row in c.rows]
    assert len(rows) == len(PAIRS) * 3
    assert [r.p_holm for r in rows] == pytest.approx(holm([r.p_value for r in rows]))
    assert all(r.p_holm >= r.p_value for r in rows)
    # the primary endpoint: gray - color, a paired bootstrap over test images and seeds
    d = summary.primary
    assert (d.name_a, d.name_b, d.seeds, d.images) == ("gray-pretrained", "color-pretrained", 3, N)
    means = summary.arms["gray-pretrained"].test_mean_auc.mean - summary.arms["color-pretrained"].test_mean_auc.mean
    assert d.estimate == pytest.approx(means) and d.low <= d.estimate <= d.high and d.resamples == 200
    assert summary.gate.passed is True
    assert summary.gate.line().startswith("pre-trained beats scratch on validation: yes")
    doc = json.loads(json.dumps(summary.to_json()))
    assert set(doc) >= {"arms", "delong_per_seed", "bootstrap_difference", "gate", "left_out_note"}
    assert len(doc["delong_per_seed"]["gray-pretrained vs color-pretrained"]) == 3


def test_gate_says_no_when_scratch_is_as_good_on_validation_and_classes_are_labels():
    truth = (np.arange(N) % 3).astype(np.float32)                        # a 3-class task, as COVID
    runs = _task(["COVID", "Normal", "Viral Pneumonia"], truth, scratch_val=0.95, seeds=2, task="multiclass")
    summary = summarize_task("covid", runs, PAIRS, PRETRAINED, "scratch", resamples=20)
    assert summary.gate.passed is False and "validation: no" in summary.gate.line()
    assert summary.primary.labels == ["COVID", "Normal", "Viral Pneumonia"]
    assert all(len(c.rows) == 3 for c in summary.delong["gray-pretrained vs color-pretrained"])
    assert summary.arms["scratch"].test_accuracy.mean is not None


def test_report_states_the_primary_endpoint_first_and_leaves_rare_labels_out(binary_task):
    rng = np.random.default_rng(1)
    truth = np.stack([np.arange(N) % 2, (rng.random(N) < 0.05)], axis=1).astype(np.float32)   # label 2: < 10 pos
    nih = _task(["Effusion", "Hernia"], truth, seeds=2)
    tasks = {"pneumonia": binary_task, "nih": nih}
    summaries = {t: summarize_task(t, runs, PAIRS, PRETRAINED, "scratch", resamples=50) for t, runs in tasks.items()}
    assert summaries["nih"].primary.labels == ["Effusion"] and "Hernia" in summaries["nih"].left_out_note
    pre = {"val": {"top1": 0.81, "top5": 0.97, "images": 3925}, "heldout_accuracy": 0.8, "best_epoch": 24,
           "epochs_run": 24, "train_images_per_s": 100.0, "seconds": 2000.0}
    results = {"pretrain": {"gray": pre, "color": {**pre, "val": {**pre["val"], "top1": 0.82}}}, "tasks": tasks,
               "latency": {"timings": [], "warnings": []}}
    text = "\n".join(report_sections(results, summaries, "Measured on this machine: 1.0 min"))
    assert text.index("Primary endpoint") < text.index("## Table 1") < text.index("## PneumoniaMNIST")
    lines = endpoint_lines(summaries)
    assert lines[0].startswith("- **PneumoniaMNIST (official split)**: gray-pretrained ")
    assert "gray - color" in lines[0] and "95% CI" in lines[0] and "3 seeds" in lines[0]
    assert lines[1].strip().startswith("- pre-trained beats scratch on validation: yes")
    assert "pipeline check only" in lines[2] and "A pipeline check only, not evidence" in text
    assert "test ECE" in text and "test Brier" in text and "p (Holm)" in text and "Measured on this machine" in text
    assert "-0.010" in text                       # Table 1: gray - color top-1 beside the paper's -0.0049
    assert "Hernia \u2020" in text and "paper gray" in text


def test_depth_colour_scale_is_never_narrower_than_the_widest_ci():
    from gxr.study.plots import symmetric_range

    centre = np.array([[0.0, 0.004], [-0.01, np.nan]])
    low, high = centre - 0.02, centre + 0.02                       # CIs much wider than the differences
    assert symmetric_range(centre, low, high) == pytest.approx(0.02)
    assert symmetric_range(centre * 10, low, high) == pytest.approx(0.1)   # a real difference sets the range


def test_study_settings_refuse_an_unknown_recipe_and_fewer_than_one_seed():
    from gxr.core.errors import GxrError
    from gxr.study.runner import study_settings

    assert study_settings("grayscale", False, {})["recipe"] == "modern"
    assert study_settings("transfer", False, {})["seeds"] == 2
    with pytest.raises(GxrError, match="recipe 'bogus'"):
        study_settings("grayscale", False, {"recipe": "bogus"})
    with pytest.raises(GxrError, match="seeds must be >= 1"):
        study_settings("grayscale", False, {"seeds": 0})
