"""The comparator: AUC and DeLong from logits (where rounded probabilities would tie), the min-positives rule,
Holm's adjustment and the paired bootstrap, each against an independent computation; and reports whose every
printed number is in their JSON."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from rich.console import Console
from scipy.special import log_softmax

from gxr.core.comparator import (
    auc_parity,
    auc_summary,
    bootstrap_difference,
    check_auc_gate,
    compare,
    delong_comparison,
    holm_family,
    tensor_parity,
)
from gxr.core.errors import GxrError
from gxr.core.metrics import holm, roc_auc
from gxr.core.modelinfo import probabilities
from gxr.core.scores import Scores
from tests.helpers import delong_reference


def auc_reference(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney by definition: O(m*n) pairs, ties count one half."""
    y = np.asarray(y).astype(bool)
    pos, neg = s[y], s[~y]
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


def saturated_scores(seed: int = 0, n: int = 240) -> tuple[Scores, Scores]:
    """Two multi-label models whose logits reach +-30: label 0 and 1 have many cases, label 2 has 3 positives."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 3), np.float32)
    y[:, 0] = rng.random(n) < 0.4
    y[:, 1] = rng.random(n) < 0.3
    y[rng.choice(n, 3, replace=False), 2] = 1
    base = (2 * y - 1) * 6 + rng.normal(0, 14, (n, 3))                 # many |logit| > 14: sigmoid rounds to 0 or 1
    a = np.clip(base, -30, 30).astype(np.float32)
    b = np.clip(0.8 * base + rng.normal(0, 7, (n, 3)), -30, 30).astype(np.float32)
    ids = [f"img{i:04d}.png" for i in range(n)]
    labels = ["Effusion", "Mass", "Hernia"]
    return (Scores(a, y, labels, "multilabel", ids, "a"), Scores(b, y, labels, "multilabel", ids, "b"))


def test_auc_and_delong_come_from_logits_where_rounded_probabilities_tie():
    a, b = saturated_scores()
    rounded = np.round(probabilities(a.logits, "multilabel"), 6)
    assert (rounded[:, 0] == 1.0).sum() > 20 and (rounded[:, 0] == 0.0).sum() > 20      # ties at both ends
    assert roc_auc(a.truth[:, 0], rounded[:, 0]) != pytest.approx(auc_reference(a.truth[:, 0], a.logits[:, 0]),
                                                                   abs=1e-6)
    summary = auc_summary(a)
    comparison = delong_comparison(a, b)
    for j in range(2):
        assert summary.labels[j].auc == pytest.approx(auc_reference(a.truth[:, j], a.logits[:, j]), abs=1e-12)
        auc_a, auc_b, z, p = delong_reference(a.truth[:, j], a.logits[:, j].astype(float),
                                              b.logits[:, j].astype(float))
        row = comparison.rows[j]
        assert (row.auc_a, row.auc_b) == (pytest.approx(auc_a, abs=1e-12), pytest.approx(auc_b, abs=1e-12))
        assert row.z == pytest.approx(z, rel=1e-9) and row.p_value == pytest.approx(p, rel=1e-7)


def test_multiclass_auc_ranks_by_log_softmax_without_underflow():
    rng = np.random.default_rng(3)
    n = 150
    targets = rng.integers(0, 3, n)
    logits = (np.eye(3)[targets] * 60 + rng.normal(0, 25, (n, 3))).astype(np.float32)   # softmax underflows to 0
    scores = Scores(logits, targets.astype(np.float32), ["COVID", "Normal", "Viral"], "multiclass",
                    [str(i) for i in range(n)])
    rounded = np.round(probabilities(logits, "multiclass"), 6)            # what reports once computed AUC from
    assert (rounded == 0).sum() > 50
    reference = log_softmax(logits.astype(np.float64), axis=1)
    assert any(roc_auc(targets == j, rounded[:, j]) != pytest.approx(auc_reference(targets == j, reference[:, j]),
                                                                      abs=1e-6) for j in range(3))
    for j, row in enumerate(auc_summary(scores).labels):
        assert row.auc == pytest.approx(auc_reference(targets == j, reference[:, j]), abs=1e-12)


def test_a_label_with_three_positives_gets_no_p_value_and_is_left_out_of_the_mean():
    from gxr.core.render import md_table, paired_auc_caption, paired_auc_header, paired_auc_rows

    a, b = saturated_scores()
    comparison = delong_comparison(a, b, name_a="gray", name_b="color")
    hernia = comparison.rows[2]
    assert hernia.positives == 3 and not hernia.eligible and hernia.p_value is None and hernia.p_holm is None
    assert hernia.auc_a is not None                                     # shown, but not tested or averaged
    assert comparison.mean_auc_a == pytest.approx(np.mean([comparison.rows[0].auc_a, comparison.rows[1].auc_a]))
    assert comparison.left_out == ["Hernia"]
    summary = auc_summary(a)
    assert summary.left_out == ["Hernia"]
    assert summary.mean_auc == pytest.approx(np.mean([summary.labels[0].auc, summary.labels[1].auc]))
    text = md_table(paired_auc_header("gray", "color"), paired_auc_rows(comparison)) + paired_auc_caption(comparison)
    assert "| Hernia \u2020 | 3 |" in text and "fewer than 10 positives" in text
    assert "Hernia (3 positives, 237 negatives)" in text
    hernia_line = next(line for line in text.splitlines() if line.startswith("| Hernia"))
    assert hernia_line.count("n/a") == 2                                # raw and adjusted p both absent
    assert auc_summary(a, min_positives=3).left_out == []               # the threshold is a setting


def holm_by_definition(p: list[float], alpha: float) -> set[int]:
    """Indices Holm's step-down procedure rejects at level alpha."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected = set()
    for rank, i in enumerate(order):
        if p[i] > alpha / (len(p) - rank):
            break
        rejected.add(i)
    return rejected


def test_holm_adjusted_p_is_the_smallest_level_at_which_the_step_down_procedure_rejects():
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = list(rng.random(rng.integers(2, 9)) ** 3)
        adjusted = holm(p)
        candidates = sorted({min(1.0, (len(p) - r) * x) for r in range(len(p)) for x in p} | {1.0})
        for i in range(len(p)):
            smallest = min([alpha for alpha in candidates if i in holm_by_definition(p, alpha + 1e-15)] or [1.0])
            assert adjusted[i] == pytest.approx(smallest, rel=1e-12)
    assert holm([0.01, None, 0.04]) == [0.02, None, 0.04]


def test_holm_over_several_pairs_is_one_family():
    a, b = saturated_scores(1)
    c = Scores(b.logits[::-1].copy(), b.targets, b.labels, b.task, b.image_ids, "c")
    pairs = [delong_comparison(a, b), delong_comparison(a, c)]
    raw = [r.p_value for pair in pairs for r in pair.rows]
    holm_family(pairs)
    assert [r.p_holm for pair in pairs for r in pair.rows] == holm(raw)
    assert all(r.stars == ("**" if r.p_holm < 0.01 else "*" if r.p_holm < 0.05 else "")
               for pair in pairs for r in pair.rows if r.p_holm is not None)


def test_paired_bootstrap_ci_over_images_and_seeds():
    pairs = [saturated_scores(seed) for seed in range(3)]
    ids, y = pairs[0][0].image_ids, pairs[0][0].targets
    pairs = [(Scores(a.logits, y, a.labels, a.task, ids), Scores(b.logits, y, b.labels, b.task, ids))
             for a, b in pairs]
    ci = bootstrap_difference(pairs, resamples=300, seed=1)
    direct = np.mean([np.mean([auc_reference(a.truth[:, j], a.logits[:, j]) - auc_reference(a.truth[:, j],
                                                                                           b.logits[:, j])
                               for j in range(2)]) for a, b in pairs])
    assert ci.estimate == pytest.approx(direct, abs=1e-12) and ci.seeds == 3 and ci.labels == ["Effusion", "Mass"]
    assert ci.low < ci.estimate < ci.high and ci.resamples == 300
    again = bootstrap_difference(pairs, resamples=300, seed=1)
    assert (again.low, again.high) == (ci.low, ci.high)                 # seeded: reproducible
    same = bootstrap_difference([(a, a) for a, _ in pairs], resamples=50)
    assert same.estimate == same.low == same.high == 0.0                 # paired: identical arms, zero width


def test_tensor_and_auc_parity_and_the_gate():
    a, b = saturated_scores()
    t = tensor_parity(a, a)
    assert (t.max_abs_error, t.label_agreement) == (0.0, 1.0)
    result = compare(a, b, ("tensor", "auc"))
    assert result.tensor.max_abs_error == pytest.approx(float(np.abs(a.logits - b.logits).max()))
    assert result.auc.mean_delta == pytest.approx(delong_comparison(a, b).mean_auc_b -
                                                  delong_comparison(a, b).mean_auc_a)
    assert result.auc.left_out == ["Hernia"] and set(result.auc.per_label_delta) == set(a.labels)
    check_auc_gate(auc_parity(a, a), 0.0, "same")                       # no drop: passes
    worse = Scores(np.random.default_rng(0).normal(size=a.logits.shape).astype(np.float32), a.targets, a.labels,
                   a.task, a.image_ids, "noise")
    with pytest.raises(GxrError, match="mean AUC drops .* more than the tolerance 0.005; nothing written"):
        check_auc_gate(auc_parity(a, worse), 0.005, "model.onnx: int8 export")
    few = a.rows(np.arange(12))
    with pytest.raises(GxrError, match="cannot check the AUC tolerance"):
        check_auc_gate(auc_parity(few, few), 0.005, "x")


def test_scores_survive_json_exactly_and_refuse_mismatched_shapes():
    a, _ = saturated_scores()
    back = Scores.from_json(a.to_json())
    assert back.logits.dtype == np.float32 and np.array_equal(back.logits, a.logits) and back.image_ids == a.image_ids
    with pytest.raises(GxrError, match="logits for 3 labels"):
        Scores(a.logits[:, :2], a.targets, a.labels, a.task, a.image_ids, "x")
    with pytest.raises(GxrError, match="other images"):
        delong_comparison(a, a.rows(np.arange(10)))


# ---- every printed number is in the JSON -------------------------------------------------------------------------
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?(?![\w.])")


def json_numbers(value) -> list[float]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in json_numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in json_numbers(v)]
    return []


def json_strings(value) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {x for v in value.values() for x in json_strings(v)}
    if isinstance(value, (list, tuple)):
        return {x for v in value for x in json_strings(v)}
    return set()


def printed_as(token: str, value: float) -> bool:
    """Would `value` be printed as `token` by a fixed-point or scientific format of the token's precision?"""
    if "e" in token:
        digits = len(token.split("e")[0].split(".")[1]) if "." in token else 0
        return f"{value:.{digits}e}" == token
    digits = len(token.split(".")[1]) if "." in token else 0
    return f"{value:.{digits}f}" == token or (digits == 0 and f"{value:,.0f}".replace(",", "") == token)


def table_cells(text: str) -> list[str]:
    """Cells of Markdown tables and of rich tables rendered as text (box characters as separators)."""
    cells = []
    for line in text.splitlines():
        if "|" in line or "\u2502" in line or "\u2503" in line:
            cells += [c.strip() for c in re.split(r"[|\u2502\u2503]", line) if c.strip()]
    return cells


def test_every_number_in_a_rendered_comparison_is_in_its_json():
    from gxr.bench.compare import Comparison, PaperFigures
    from gxr.bench.latency import Timing
    from gxr.core.render import comparison_markdown, comparison_tables

    a, b = saturated_scores(2)
    nih = ["Atelectasis", "Cardiomegaly", "Hernia"]
    a = Scores(a.logits, a.targets, nih, a.task, a.image_ids, "gray")
    b = Scores(b.logits, b.targets, nih, b.task, b.image_ids, "color")
    timing = {key: Timing(key, key, "onnxruntime", "CPUExecutionProvider", ch, "uint8", "compute", 1, 3, ms, ms * 1.05,
                          ms * 1.1, 1000 / ms, ch * 299 * 299, [ms, ms, ms]) for key, ch, ms in
              (("gray", 1, 51.23456), ("color", 3, 57.98765))}
    report = Comparison("NIH ChestX-ray14: gray vs color", "multilabel", "nih:/data/nih", "test",
                        delong_comparison(a, b, name_a="gray", name_b="color"), timing, "models/g", "models/c",
                        {"gray": "trained on x", "color": "trained on y"}, {"cpu": "test"}, [], PaperFigures.nih())
    numbers, strings = json_numbers(report.to_json()), json_strings(report.to_json())
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    for table in comparison_tables(report):
        console.print(table)
    texts = [comparison_markdown(report), console.export_text()]
    checked = 0
    for text in texts:
        for cell in table_cells(text):
            if cell in strings:                                           # a JSON string shown as is (e.g. a GPU name)
                continue
            for token in NUMBER.findall(cell.replace("*", "").replace("[bold]", "").replace("[/]", "")):
                assert any(printed_as(token, v) for v in numbers), f"{token!r} (cell {cell!r}) is not in the JSON"
                checked += 1
    assert checked > 40                                                   # the tables really were read
    assert any(math.isclose(v, 0.8091) for v in numbers)                 # the paper's Table 2 travels in the JSON


def test_every_number_in_a_rendered_parity_table_is_in_its_json():
    from gxr.bench.parity import ParityReport
    from gxr.core.render import comparator_table

    a, b = saturated_scores(4)
    report = ParityReport("run", "models/x/1", "torch", "onnxruntime", "npz:x", "test",
                          compare(a, b, ("tensor", "auc")), {"cpu": "test"})
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(comparator_table(report.result, "parity"))
    numbers = json_numbers(report.to_json())
    cells = table_cells(console.export_text())
    tokens = [t for cell in cells for t in NUMBER.findall(cell)]
    assert len(tokens) >= 8
    for token in tokens:
        assert any(printed_as(token, v) or f"{v:.4g}" == token for v in numbers), token


def test_bootstrap_refuses_pairs_scored_on_other_images():
    pairs = [saturated_scores(s) for s in range(2)]
    with pytest.raises(GxrError, match="same test images"):
        bootstrap_difference([pairs[0], (pairs[0][0], pairs[1][1].rows(np.arange(5)))])
