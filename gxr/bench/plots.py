"""Plots for looking at a model: a contact sheet of its mistakes, ROC curves per label (gray and color
overlaid) and a reliability (calibration) diagram. matplotlib (Agg) is an extra: `pip install 'gxr[plots]'`.

Curves and calibration come from gxr.core.metrics (ROC from the logits); files are written atomically."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gxr.core.lazy import pyplot, save_png
from gxr.core.metrics import expected_calibration_error, reliability, roc_auc, roc_points
from gxr.core.scores import Scores

COLORS = {1: "#1f4e9c", 3: "#d1495b"}     # gray model blue, color model red
EXTRA_COLORS = ("#2e8b57", "#8a5a00", "#6a3d9a", "#444444")


@dataclass
class Curves:
    """One model's scores on one labelled set, as a plot shows them."""
    name: str
    channels: int
    scores: Scores

    @property
    def labels(self) -> list[str]:
        return self.scores.labels


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def _color(curves: Curves, index: int, seen: set[int]) -> str:
    if curves.channels in COLORS and curves.channels not in seen:
        seen.add(curves.channels)
        return COLORS[curves.channels]
    return EXTRA_COLORS[index % len(EXTRA_COLORS)]


def roc_figure(models: Sequence[Curves], out: Path, title: str) -> None:
    """One panel per label with every model's ROC curve (from the logits); its AUC in the legend."""
    plt = pyplot("plots")
    labels = models[0].labels
    rows, cols = _grid(len(labels))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.5 * rows), squeeze=False)
    colors = _model_colors(models)
    for j, label in enumerate(labels):
        ax = axes[j // cols][j % cols]
        ax.plot([0, 1], [0, 1], ls=":", lw=0.8, color="#999999")
        for m, color in zip(models, colors):
            y, score = m.scores.truth[:, j], m.scores.ranks[:, j]
            auc = roc_auc(y, score)
            fpr, tpr = roc_points(y, score)
            text = "n/a" if math.isnan(auc) else f"{auc:.3f}"
            ax.plot(fpr, tpr, lw=1.6, color=color, label=f"{m.name}: AUC {text}")
        ax.set_title(f"{label} ({int(models[0].scores.truth[:, j].sum())} positive)", fontsize=9)
        ax.set_xlim(0, 1), ax.set_ylim(0, 1.01), ax.set_aspect("equal")
        ax.set_xlabel("false positive rate", fontsize=8), ax.set_ylabel("true positive rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(loc="lower right", fontsize=7)
    _hide_unused(axes, len(labels), cols)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_png(fig, out)


def calibration_figure(models: Sequence[Curves], out: Path, title: str, bins: int = 10) -> None:
    """Reliability diagram: observed frequency against mean predicted probability, all labels pooled, per
    model; the expected calibration error (ECE) in the legend; a histogram of the probabilities beneath."""
    plt = pyplot("plots")
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.2, 6.4), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls=":", lw=0.8, color="#999999", label="perfectly calibrated")
    for m, color in zip(models, _model_colors(models)):
        truth, probs = m.scores.truth, m.scores.probabilities()
        mean_p, observed, counts = reliability(truth, probs, bins)
        ece = expected_calibration_error(truth, probs, bins)
        ax.plot(mean_p, observed, marker="o", ms=4, lw=1.5, color=color, label=f"{m.name}: ECE {ece:.3f}")
        hist.hist(probs.ravel(), bins=bins, range=(0, 1), histtype="step", lw=1.4, color=color)
    ax.set_ylabel("observed frequency"), ax.set_xlim(0, 1), ax.set_ylim(0, 1.01)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    hist.set_xlabel("predicted probability (all labels pooled)"), hist.set_ylabel("count")
    fig.tight_layout()
    save_png(fig, out)


def _model_colors(models: Sequence[Curves]) -> list[str]:
    seen: set[int] = set()
    return [_color(m, i, seen) for i, m in enumerate(models)]


def _hide_unused(axes, used: int, cols: int) -> None:
    for k in range(used, len(axes) * cols):
        axes[k // cols][k % cols].axis("off")


def contact_sheet(rows: Sequence[tuple[str, Sequence[tuple[Image.Image, str]]]], k: int, title: str,
                  out: Path) -> None:
    """A grid: one row per (label, kind) titled on its left, up to `k` captioned image tiles per row."""
    plt = pyplot("plots")
    cols = max(k, 1)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.9 * cols + 1.2, 2.55 * len(rows)), squeeze=False)
    for r, (row_title, tiles) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(tiles):
                img, text = tiles[c]
                ax.imshow(_thumbnail(img), cmap="gray", vmin=0, vmax=255)
                ax.set_xlabel(text, fontsize=6.5)
            else:
                for side in ax.spines.values():
                    side.set_visible(False)
                if c == 0:
                    ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=8, color="#777777")
        axes[r][0].set_ylabel(row_title.replace(": ", ":\n", 1), fontsize=8, rotation=0, ha="right", va="center",
                              labelpad=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, out)


def _thumbnail(img: Image.Image, size: int = 256) -> np.ndarray:
    """An 8-bit gray thumbnail (X-rays), never upsampled past `size` pixels."""
    gray = img.convert("L") if img.mode != "L" else img
    gray = gray.copy()
    gray.thumbnail((size, size))
    return np.asarray(gray)
