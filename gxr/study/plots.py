"""The studies' figures (matplotlib, Agg backend, imported lazily: `pip install 'gxr[plots]'`).

Every function takes plain numbers and writes one PNG atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gxr.core.lazy import pyplot, save_png


def _kernel_tiles(weight: np.ndarray) -> np.ndarray:
    """(out, in, kh, kw) first-layer weights -> a grid image (gray: 2-D, color: RGB), each kernel scaled
    to [0, 1] on its own so its pattern is visible."""
    out, chans, kh, kw = weight.shape
    cols = int(np.ceil(np.sqrt(out)))
    rows = int(np.ceil(out / cols))
    grid = np.ones((rows * (kh + 1) + 1, cols * (kw + 1) + 1, 3))
    for i in range(out):
        k = weight[i].transpose(1, 2, 0)
        k = (k - k.min()) / (k.max() - k.min() + 1e-12)
        if chans == 1:
            k = np.repeat(k, 3, axis=2)
        r, c = divmod(i, cols)
        grid[1 + r * (kh + 1):1 + r * (kh + 1) + kh, 1 + c * (kw + 1):1 + c * (kw + 1) + kw] = k
    return grid


def kernels_png(weights: dict[str, np.ndarray], title: str, path: Path) -> Path:
    """First-layer kernels of several models side by side (the paper's Figure 3)."""
    plt = pyplot("study plots")
    fig, axes = plt.subplots(1, len(weights), figsize=(4.2 * len(weights), 4.6))
    for ax, (name, w) in zip(np.atleast_1d(axes), weights.items()):
        ax.imshow(_kernel_tiles(np.asarray(w, dtype=np.float64)), interpolation="nearest")
        ax.set_title(f"{name}\n{w.shape[0]} kernels, {w.shape[1]} channel(s), {w.shape[2]}x{w.shape[3]}")
        ax.axis("off")
    fig.suptitle(title)
    return save_png(fig, path)


def roc_png(panels: list[dict[str, Any]], path: Path) -> Path:
    """One panel per task: ROC curves of several arms. Each panel: {title, curves: {arm: (fpr, tpr, auc)}}."""
    plt = pyplot("study plots")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for arm, (fpr, tpr, auc) in panel["curves"].items():
            ax.plot(fpr, tpr, label=f"{arm} (mean AUC {auc:.3f})", linewidth=1.6)
        ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1)
        ax.set(title=panel["title"], xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1),
               ylim=(0, 1.01))
        ax.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def grouped_bars_png(groups: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str, title: str,
                     path: Path, ylim: tuple[float, float] = (0.0, 1.0),
                     errors: dict[str, Sequence[float | None]] | None = None) -> Path:
    """Grouped bar chart (e.g. test AUC per task for each fine-tuning arm), values written on the bars, with error
    bars (e.g. sd over seeds) where `errors` gives them."""
    plt = pyplot("study plots")
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(groups)), 4.4))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        vals = [np.nan if v is None else v for v in values]
        err = [np.nan if e is None else e for e in (errors or {}).get(name, [None] * len(vals))]
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=name,
                      yerr=None if all(np.isnan(err)) else np.nan_to_num(err), capsize=3)
        for bar, v in zip(bars, vals):
            if not np.isnan(v):
                ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(0.5, color="0.6", linestyle=":", linewidth=1)
    ax.set_xticks(x, groups)
    ax.set(ylabel=ylabel, title=title, ylim=ylim)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, path)


def curves_png(panels: list[dict[str, Any]], ylabel: str, path: Path) -> Path:
    """One panel per architecture (and metric): a metric per epoch for several runs. Each panel: {title, lines:
    {name: [values]}, marks: {name: epoch}} (optional: a circle on that epoch of that line, e.g. the epoch kept).
    Lines whose name ends in "train" are dashed and share the colour of the line with the same name before it."""
    plt = pyplot("study plots")
    cols = min(len(panels), 4)
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        colours: dict[str, Any] = {}
        for name, values in panel["lines"].items():
            base = name.rsplit(" ", 1)[0] if name.endswith((" train", " val")) else name
            vals = [np.nan if v is None else v for v in values]
            line, = ax.plot(range(1, len(vals) + 1), vals, marker=".", markersize=3, label=name,
                            linestyle="--" if name.endswith("train") else "-", color=colours.get(base))
            colours.setdefault(base, line.get_color())
            epoch = panel.get("marks", {}).get(name)
            if epoch is not None and 1 <= epoch <= len(vals):
                ax.plot([epoch], [vals[epoch - 1]], marker="o", markersize=8, fillstyle="none",
                        color=line.get_color())
        ax.set(title=panel["title"], xlabel="epoch", ylabel=panel.get("ylabel", ylabel))
        ax.legend(fontsize=6)
    fig.tight_layout()
    return save_png(fig, path)


def symmetric_range(centre: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Half-range of a diverging colour scale centred on 0: the largest |difference| or CI half-width, whichever is
    larger (at least 0.001), so that a difference inside its CI never takes the scale's strongest colour."""
    values = np.concatenate([np.abs(centre).ravel(), ((high - low) / 2).ravel(), [1e-3]])
    return float(np.nanmax(values))


def heatmap_png(rows: Sequence[str], cols: Sequence[str], values: np.ndarray, title: str, path: Path,
                colorbar: str = "test AUC", centre: np.ndarray | None = None, low: np.ndarray | None = None,
                high: np.ndarray | None = None) -> Path:
    """Annotated heat map (e.g. fine-tuning depth x training fraction -> test AUC). With `centre` (each cell's
    difference from a reference) and its CI (`low`, `high`), the colours show the difference on a diverging scale
    centred on 0 whose half-range is at least the largest CI half-width (noise stays pale), and each cell is
    annotated with its value and the CI; without, the colours show `values` themselves."""
    plt = pyplot("study plots")
    fig, ax = plt.subplots(figsize=(1.7 * len(cols) + 3, 0.75 * len(rows) + 2))
    if centre is None:
        image = ax.imshow(values, cmap="viridis", aspect="auto")
    else:
        half = symmetric_range(centre, low, high)
        image = ax.imshow(centre, cmap="RdBu", vmin=-half, vmax=half, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = values[i, j]
            if np.isnan(v):
                continue
            text = f"{v:.3f}"
            if centre is not None and not np.isnan(low[i, j]):
                text += f"\n[{low[i, j]:+.3f}, {high[i, j]:+.3f}]"
            dark = centre is None and v < np.nanmean(values)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(title=title, xlabel="training-set fraction")
    fig.colorbar(image, ax=ax, label=colorbar)
    return save_png(fig, path)
