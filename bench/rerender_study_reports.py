"""Re-render committed reports under gxr's scoring rules: the grayscale-study reports (bench/results/
study-grayscale*) and the gray-vs-color comparisons (bench/results/*-gray-vs-color.json). The rules:
the min-positives rule (>= 10 positives and negatives for a p-value and a place in the mean) and Holm-adjusted
p-values over every pair and label of a task.

What cannot be redone: those runs kept only probabilities rounded to 6 decimals, not logits, and their models
are not on this machine, so AUC-from-logits cannot be recomputed for them. This script says how much the rounding
mattered instead: the share of test probabilities tied at exactly 0 or 1, and, per label, the AUC the report's
per-arm table printed (float64 probabilities at evaluation time) against the AUC of the kept rounded
probabilities (what its DeLong table used). It writes `rerender.json` and `rerender.md` beside each report and
changes nothing else. The test labels are not kept in the committed JSON (they are the data's): they come from
the test split of ../shared/data, in the order the runs scored it (the same order: checked 2026-12-03, when they were
removed from those files).

For a gray-vs-color JSON (which kept per-label AUCs, positives and raw DeLong p, computed from float64
probabilities of models whose logits stay small), the re-render applies the rule and Holm to those numbers and
writes `<name>.rerender.md` beside it.

    python bench/rerender_study_reports.py bench/results/study-grayscale-h100 bench/results/study-grayscale-h100-96px \
        bench/results/cpu-2vcpu-nih1000-inception_v3-128-gray-vs-color.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gxr.core.comparator import MIN_POSITIVES, auc_summary, delong_comparison, holm_family, rule_text
from gxr.core.errors import GxrError
from gxr.core.fileio import write_json, write_text
from gxr.core.metrics import holm, stars
from gxr.core.render import fmt, fmt_p, md_table
from gxr.core.scores import Scores
from gxr.data import open_source
from gxr.study.context import data_specs, find_data_root

PAIRS = (("gray-pretrained", "color-pretrained"), ("gray-pretrained", "color-folded-to-gray"),
         ("gray-pretrained", "scratch"), ("color-pretrained", "scratch"))


def kept_scores(arm: dict, task: str, labels: list[str], name: str, targets: np.ndarray) -> Scores:
    """The kept rounded probabilities as Scores whose logits rank exactly as those probabilities do (ties kept:
    every probability rounded to 0 or 1 maps to one clipped value); `targets`: the test split's labels."""
    p = np.clip(np.asarray(arm["test"]["probabilities"], np.float64), 1e-12, 1 - 1e-12)
    logits = np.log(p) if task == "multiclass" else np.log(p) - np.log1p(-p)
    if len(targets) != len(p):
        raise GxrError(f"{name}: {len(p)} kept probabilities but {len(targets)} test images in the data")
    return Scores(logits, targets, labels, task, [str(i) for i in range(len(p))], name)


def split_test_targets(task: str) -> np.ndarray:
    """The test split's labels in the order the data lists them (the order the runs scored them)."""
    return np.asarray(open_source(data_specs(find_data_root())[task]).split("test").targets, np.float32)


def rerender(folder: Path) -> dict:
    doc = json.loads((folder / "results.json").read_text())
    out: dict = {"report": str(folder / "report.md"), "rule": rule_text(MIN_POSITIVES), "tasks": {}}
    for task, arms in doc["results"]["tasks"].items():
        run = arms["gray-pretrained"]["run"]
        targets = split_test_targets(task)
        scores = {name: kept_scores(arm, run["task"], run["labels"], name, targets) for name, arm in arms.items()}
        probs = np.concatenate([np.asarray(a["test"]["probabilities"]).ravel() for a in arms.values()])
        arms_out = {}
        for name, arm in arms.items():
            summary = auc_summary(scores[name])
            printed = arm["test"]["auc"]
            arms_out[name] = {
                "mean_auc_printed": arm["test"]["mean_auc"], "mean_auc_rule": summary.mean_auc,
                "left_out": summary.left_out,
                "auc_printed_vs_rounded": {r.label: [printed.get(r.label), r.auc] for r in summary.labels}}
        pairs = [delong_comparison(scores[a], scores[b], name_a=a, name_b=b) for a, b in PAIRS]
        holm_family(pairs)
        out["tasks"][task] = {"tied_at_0_or_1": float(np.mean((probs == 0) | (probs == 1))), "arms": arms_out,
                              "pairs": {f"{c.name_a} vs {c.name_b}": c.to_json() for c in pairs},
                              "old_pairs": doc["results"]["comparisons"][task]}
    return out


def markdown(result: dict) -> str:
    lines = ["# Re-rendered under gxr's scoring rules (2026-12-02)", "",
             f"Source: `{result['report']}` (left unchanged). Rule now applied: {result['rule']}; Holm-adjusted "
             "p-values over every pair and label of a task. These runs kept only probabilities rounded to 6 "
             "decimals, so AUC-from-logits cannot be recomputed for them: the AUCs below come from what was kept. "
             "These runs are also superseded for their content (their pre-training used RMSProp without momentum; "
             "see bench/STUDIES.md).", ""]
    for task, t in result["tasks"].items():
        lines += [f"## {task}", "", f"Test probabilities tied at exactly 0 or 1 after rounding: "
                  f"{t['tied_at_0_or_1']:.1%}.", ""]
        rows = [[arm, fmt(a["mean_auc_printed"]), fmt(a["mean_auc_rule"]), ", ".join(a["left_out"]) or "-"]
                for arm, a in t["arms"].items()]
        lines += [md_table(["arm", "mean AUC as printed", "mean AUC under the rule", "left out of the mean"], rows),
                  ""]
        changed = [[arm, label, fmt(v[0]), fmt(v[1])] for arm, a in t["arms"].items()
                   for label, v in a["auc_printed_vs_rounded"].items()
                   if v[0] is not None and v[1] is not None and abs(v[0] - v[1]) >= 5e-4]
        if changed:
            lines += ["Labels whose AUC differs by >= 0.0005 between the report's per-arm table (float64 "
                      "probabilities) and its DeLong table (rounded probabilities):", "",
                      md_table(["arm", "label", "per-arm table", "DeLong table"], changed), ""]
        old = {(pair, r["label"]): r for pair, rows_ in t["old_pairs"].items() for r in rows_}
        rows = []
        for pair, c in t["pairs"].items():
            for r in c["rows"]:
                before = old[(pair, r["label"])]
                rows.append([pair, r["label"] + ("" if r["eligible"] else " \u2020"), str(r["positives"]),
                             fmt_p(before["p_value"]) + before["stars"], fmt_p(r["p_value"]),
                             fmt_p(r["p_holm"]) + r["stars"]])
        lines += ["DeLong p as printed, then under the rule (\u2020: no p-value) and Holm-adjusted:", "",
                  md_table(["pair", "label", "positives", "p as printed", "p (rule)", "p (Holm)"], rows), ""]
    return "\n".join(lines)


def comparison_markdown(path: Path) -> str:
    """A gray-vs-color JSON's table under the rule: p-values and the mean only for labels with enough cases."""
    doc = json.loads(path.read_text())
    rows, kept, out = [], [], []
    for r in doc["labels"]:
        ok = min(r["positives"], doc["images"] - r["positives"]) >= MIN_POSITIVES and r["p_value"] is not None
        (kept if ok else out).append(r)
    adjusted = dict(zip([r["label"] for r in kept], holm([r["p_value"] for r in kept])))
    for r in doc["labels"]:
        ok = r["label"] in adjusted
        rows.append([r["label"] + ("" if ok else " \u2020"), str(r["positives"]), fmt(r["gray_auc"]),
                     fmt(r["color_auc"]), fmt_p(r["p_value"]) + r["stars"], fmt_p(r["p_value"] if ok else None),
                     fmt_p(adjusted.get(r["label"])) + stars(adjusted.get(r["label"]))])
    mean = {k: np.mean([r[f"{k}_auc"] for r in kept]) if kept else None for k in ("gray", "color")}
    return "\n".join([
        f"# {path.name} re-rendered under gxr's scoring rules (2026-12-02)", "",
        f"Source: `{path.name}` (left unchanged). Rule now applied: {rule_text(MIN_POSITIVES)}; Holm over the "
        f"labels tested. {doc['images']} {doc['split']} images.", "",
        md_table(["label", "positives", "gray AUC", "color AUC", "p as printed", "p (rule)", "p (Holm)"], rows), "",
        md_table(["", "gray", "color"], [["mean AUC as printed", fmt(doc["mean_auc"]["gray"]),
                                         fmt(doc["mean_auc"]["color"])],
                                        [f"mean AUC under the rule ({len(kept)} labels)", fmt(mean["gray"]),
                                         fmt(mean["color"])]]), ""])


def main(paths: list[str]) -> None:
    for name in paths:
        path = Path(name)
        if path.suffix == ".json":
            target = path.with_name(path.stem + ".rerender.md")
            write_text(target, comparison_markdown(path))
            print(f"wrote {target}")
            continue
        result = rerender(path)
        write_json(path / "rerender.json", result)
        write_text(path / "rerender.md", markdown(result))
        print(f"wrote {path / 'rerender.md'}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except GxrError as exc:   # missing data, a split that does not match the kept probabilities
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
