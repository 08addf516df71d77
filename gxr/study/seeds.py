"""Fine-tuning arms run with several seeds, summarized the way the grayscale study reports them: per-seed results,
mean +- sd across seeds, per-seed DeLong tests with Holm over the task's family, paired bootstrap CIs of mean-AUC
differences over test images and seeds, and the pre-trained-vs-scratch gate on validation (torch-free)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from gxr.core.comparator import DifferenceCI, PairedAuc, bootstrap_difference, delong_comparison, holm_family
from gxr.core.render import fmt
from gxr.core.scores import Scores


@dataclass
class Spread:
    """One number over seeds: mean, sample sd (None with fewer than two values) and the values themselves."""

    mean: float | None
    sd: float | None
    values: list[float | None]

    def text(self, digits: int = 3) -> str:
        """'0.934 +- 0.004' (or just the mean with one seed, 'n/a' without a value)."""
        if self.mean is None:
            return "n/a"
        return fmt(self.mean, digits) + ("" if self.sd is None else f" \u00b1 {fmt(self.sd, digits)}")


def spread(values: Sequence[float | None]) -> Spread:
    kept = [float(v) for v in values if v is not None and v == v]
    mean = float(np.mean(kept)) if kept else None
    sd = float(np.std(kept, ddof=1)) if len(kept) > 1 else None
    return Spread(mean, sd, [None if v is None else float(v) for v in values])


@dataclass
class SeedRun:
    """One fine-tuning seed of one arm: the epoch kept on validation loss and its test summary."""

    seed: int
    best_epoch: int
    epochs_run: int
    val_loss: float
    val_mean_auc: float | None
    test_mean_auc: float | None
    test_accuracy: float | None
    test_ece: float | None
    test_brier: float | None
    max_abs_logit: float
    dir: str


def seed_run(seed: int, arm: dict[str, Any]) -> SeedRun:
    """A `gxr.study.arms.finetune` result as a SeedRun (validation numbers at the selected epoch)."""
    run, test = arm["run"], arm["test"]
    kept = next(h for h in run["history"] if h["epoch"] == run["best_epoch"])
    return SeedRun(seed, run["best_epoch"], len(run["history"]), kept["val_loss"], kept["val_mean_auc"],
                   test["mean_auc"], test["accuracy"], test["ece"], test["brier"], test["max_abs_logit"], arm["dir"])


@dataclass
class ArmSummary:
    """One arm over its seeds."""

    arm: str
    seeds: list[SeedRun]
    test_mean_auc: Spread
    test_accuracy: Spread
    test_ece: Spread
    test_brier: Spread
    val_mean_auc: Spread
    label_auc: dict[str, Spread]     # per label, over seeds (labels under the min-positives rule included)


def arm_summary(arm: str, runs: Sequence[dict[str, Any]]) -> ArmSummary:
    seeds = [seed_run(i, r) for i, r in enumerate(runs)]
    labels = list(runs[0]["test"]["auc"])
    return ArmSummary(arm, seeds, spread([s.test_mean_auc for s in seeds]), spread([s.test_accuracy for s in seeds]),
                      spread([s.test_ece for s in seeds]), spread([s.test_brier for s in seeds]),
                      spread([s.val_mean_auc for s in seeds]),
                      {label: spread([r["test"]["auc"][label] for r in runs]) for label in labels})


@dataclass
class Gate:
    """Whether every pre-trained arm beats scratch on validation (mean over seeds of the validation mean AUC at the
    selected epoch): if not, the pre-training did not transfer and gray vs color says little."""

    passed: bool | None
    val_mean_auc: dict[str, float | None]

    def line(self) -> str:
        verdict = {True: "yes", False: "no", None: "n/a"}[self.passed]
        numbers = ", ".join(f"{arm} {fmt(v, 3)}" for arm, v in self.val_mean_auc.items())
        return (f"pre-trained beats scratch on validation: {verdict} (mean validation AUC at the selected epoch, over "
                f"the seeds: {numbers})")


def gate(arms: dict[str, ArmSummary], pretrained: Sequence[str], scratch: str) -> Gate:
    values = {arm: arms[arm].val_mean_auc.mean for arm in (*pretrained, scratch)}
    if any(v is None for v in values.values()):
        return Gate(None, values)
    return Gate(all(values[arm] > values[scratch] for arm in pretrained), values)


@dataclass
class TaskSummary:
    """Every arm of one task over its seeds, the per-seed DeLong tests (Holm over every pair, seed and label of the
    task: one family) and the bootstrap CIs of each pair's mean-AUC difference (the first pair is the primary
    endpoint)."""

    task: str
    seeds: int
    arms: dict[str, ArmSummary]
    delong: dict[str, list[PairedAuc]]       # "a vs b" -> one comparison per seed
    differences: dict[str, DifferenceCI]     # "a vs b" -> a - b over test images and seeds
    gate: Gate
    left_out_note: str

    @property
    def primary(self) -> DifferenceCI:
        return next(iter(self.differences.values()))

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "seeds": self.seeds, "arms": {k: asdict(v) for k, v in self.arms.items()},
                "delong_per_seed": {k: [c.to_json() for c in v] for k, v in self.delong.items()},
                "bootstrap_difference": {k: asdict(v) for k, v in self.differences.items()},
                "gate": asdict(self.gate) | {"line": self.gate.line()}, "left_out_note": self.left_out_note}


def summarize_task(task: str, runs: dict[str, list[dict[str, Any]]], pairs: Sequence[tuple[str, str]],
                   pretrained: Sequence[str], scratch: str, resamples: int = 1000) -> TaskSummary:
    """`runs`: arm -> its `finetune` results, one per seed (seed i at index i), all scored on the same test split."""
    scores = {arm: [Scores.from_json(r["scores"]) for r in rs] for arm, rs in runs.items()}
    seeds = min(len(v) for v in scores.values())
    delong = {f"{a} vs {b}": [delong_comparison(scores[a][i], scores[b][i], name_a=a, name_b=b) for i in range(seeds)]
              for a, b in pairs}
    holm_family([c for comparisons in delong.values() for c in comparisons])
    differences = {f"{a} vs {b}": bootstrap_difference(list(zip(scores[a][:seeds], scores[b][:seeds])), resamples,
                                                       name_a=a, name_b=b) for a, b in pairs}
    arms = {arm: arm_summary(arm, rs[:seeds]) for arm, rs in runs.items()}
    first = next(iter(delong.values()))[0]
    return TaskSummary(task, seeds, arms, delong, differences, gate(arms, pretrained, scratch), first.note())
