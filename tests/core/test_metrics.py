"""AUC and DeLong against independent computations (explicit O(m*n) placements, scipy)."""

import math

import numpy as np
import pytest
from scipy import stats

from gxr.core.comparator import auc_summary
from gxr.core.metrics import delong_test, roc_auc, stars
from gxr.core.scores import Scores
from tests.helpers import delong_reference


@pytest.mark.parametrize("seed,n,ties", [(0, 200, False), (1, 57, True), (2, 1000, True), (3, 30, False)])
def test_delong_matches_independent_computation(seed, n, ties):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    y[:2], y[2:4] = True, False
    a = y * 0.8 + rng.normal(size=n)
    b = 0.6 * a + y * 0.3 + rng.normal(size=n) * 0.8   # correlated with a, as two models on one test set
    if ties:
        a, b = np.round(a, 1), np.round(b, 1)
    ours = delong_test(y, a, b)
    auc_a, auc_b, z, p = delong_reference(y, a, b)
    assert ours.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert ours.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert ours.z == pytest.approx(z, rel=1e-9)
    assert ours.p_value == pytest.approx(p, rel=1e-7)


def test_auc_matches_mann_whitney():
    rng = np.random.default_rng(5)
    y = rng.random(300) < 0.4
    s = np.round(y + rng.normal(size=300), 1)
    u = stats.mannwhitneyu(s[y], s[~y], alternative="two-sided").statistic
    assert roc_auc(y, s) == pytest.approx(u / (y.sum() * (~y).sum()), abs=1e-12)


def test_auc_edge_cases():
    assert math.isnan(roc_auc(np.zeros(5), np.arange(5)))
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    same = delong_test(np.array([0, 0, 1, 1, 0, 1]), np.arange(6.0), np.arange(6.0))
    assert same.p_value == 1.0
    assert math.isnan(delong_test(np.array([0, 0, 1]), np.arange(3.0), np.arange(3.0)).p_value)
    # a diverged model's NaN scores give an undefined AUC (this once looped forever)
    assert math.isnan(roc_auc(np.array([0, 1, 0, 1]), np.array([np.nan, 0.2, np.nan, 0.4])))
    assert math.isnan(delong_test(np.array([0, 1, 0, 1, 1]), np.full(5, np.nan), np.arange(5.0)).p_value)


def test_stars():
    assert (stars(0.001), stars(0.02), stars(0.2), stars(float("nan"))) == ("**", "*", "", "")


def _summary(task, labels, targets, logits, min_positives=1):
    n = len(logits)
    return auc_summary(Scores(np.asarray(logits, np.float32), np.asarray(targets, np.float32), labels, task,
                              [str(i) for i in range(n)]), min_positives).to_metrics()


def test_auc_summary_multiclass_binary_multilabel():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]]))
    res = _summary("multiclass", ["a", "b", "c"], [0, 1, 2, 1], logits)
    assert res["accuracy"] == 0.75 and set(res["auc"]) == {"a", "b", "c"}
    res = _summary("binary", ["pos"], [[0], [1], [1]], [[-1.4], [2.2], [-0.4]])
    assert res["accuracy"] == pytest.approx(2 / 3) and res["auc"]["pos"] == 1.0
    res = _summary("multilabel", ["x", "y"], [[1, 0], [0, 0], [1, 0]], [[2.2, -2.2], [-1.4, -0.8], [0.4, -1.4]])
    assert res["accuracy"] is None and res["auc"]["y"] is None and res["auc_undefined"] == ["y"]
    assert res["mean_auc"] == 1.0
    strict = _summary("multilabel", ["x", "y"], [[1, 0], [0, 0], [1, 0]], [[2.2, -2.2], [-1.4, -0.8], [0.4, -1.4]],
                      min_positives=10)
    assert strict["mean_auc"] is None and strict["left_out_of_mean"] == ["x", "y"]
