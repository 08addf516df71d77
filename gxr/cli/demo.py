"""`gxr demo`: the main job on the shipped real data, end to end, under one output folder."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors


@handle_errors
def demo(
    out: Path | None = typer.Option(None, help="Output folder (default: runs/demo-<time>)"),
    data: str | None = typer.Option(None, help="Data spec (default: npz:$GXR_DATA/covid/..., the real 3-class "
                                    "COVID-19 Radiography images)"),
    arch: str = typer.Option("inception_v3"),
    epochs: int = typer.Option(3),
    image_size: int = typer.Option(80, help="Input size (Inception-V3 needs >= 75)"),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3, help="Higher than the paper's 1e-4: no ImageNet weights here, training starts "
                             "from scratch"),
    train_fraction: float = typer.Option(1.0, help="Use this fraction of the training split"),
    label_smoothing: float = typer.Option(0.1, help="Label smoothing (multi-class data): keeps logits bounded"),
    init_gray: Path | None = typer.Option(None, help="Pre-trained weights for the gray model (e.g. gxr convert of a "
                                          "color one)"),
    init_color: Path | None = typer.Option(None, help="Pre-trained weights for the color model"),
    iters: int = typer.Option(20, help="Timed runs per model, backend and batch size"),
    device: str = typer.Option("cpu", help="Training device: cpu | cuda | auto (timings are on the CPU)"),
) -> None:
    """Fine-tune gray and color models on real chest X-rays, export both to ONNX (uint8 input) with parity, compare
    test AUCs (DeLong) and latency, and run them on real full-size radiographs."""
    from gxr.study.context import find_data_root
    from gxr.study.demo import DemoSettings, default_data, run_demo

    root = find_data_root() if data is None else _optional_root()
    settings = DemoSettings(data=data or default_data(root), arch=arch, epochs=epochs, image_size=image_size,
                            batch_size=batch_size, lr=lr, train_fraction=train_fraction,
                            label_smoothing=label_smoothing, init_gray=init_gray,
                            init_color=init_color, iters=iters, device=device)
    out = out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    render(run_demo(settings, out, console, root))


def _optional_root() -> Path | None:
    from gxr.data import data_root

    return data_root()


def render(summary) -> None:
    """The closing tables and the two-or-three-sentence summary of what the user just saw (from the DemoSummary
    the library returned; nothing is re-read from disk)."""
    from rich.markup import escape

    from gxr.core.render import (
        fmt,
        latency_table,
        paired_auc_caption,
        paired_auc_header,
        paired_auc_rows,
        rich_table,
    )
    from gxr.study.demo import NIH_CAVEAT

    c = summary.comparison
    rows = paired_auc_rows(c, bold=True)
    acc = {k: v.accuracy for k, v in summary.tests.items()}
    if acc["gray"] is not None:
        rows.append(["accuracy", "", "", fmt(acc["gray"]), fmt(acc["color"]), "", ""])
    ms = summary.ms_per_image_b1
    rows.append(["ms/image (b1, ONNX Runtime)", "", "", f"{ms['gray']:.2f}", f"{ms['color']:.2f}", "", ""])
    console.print(latency_table(summary.latency.timings))
    console.print(rich_table(f"gray vs color, {c.images} test images", paired_auc_header("gray", "color"), rows,
                             caption=paired_auc_caption(c)))
    for warning in summary.latency.warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    if summary.fullsize:
        f = summary.fullsize
        console.print(f"full-size radiographs ({f['images']} PNGs, 2000-2500 px): largest |logit| gray "
                      f"{f['gray']['max_abs_logit']:.1f}, color {f['color']['max_abs_logit']:.1f}")
    console.print(f"[yellow]note[/]: NIH comparison: `gxr bench nih --gray MODEL --color MODEL`; caveat: "
                  f"{NIH_CAVEAT}")
    console.print(_closing(summary))
    console.print(f"[bold green]done[/] in {summary.seconds / 60:.1f} min; everything is under [bold]{summary.out}[/] "
                  f"(summary.json, comparison.json, latency.json, models/)")


def _closing(s) -> str:
    m, ms = {k: v.mean_auc for k, v in s.tests.items()}, s.ms_per_image_b1
    init = s.settings.init_gray or s.settings.init_color
    return (f"What you just saw: a gray (1-channel) and a color (3-channel) {s.settings.arch} were trained from "
            f"{'pre-trained weights' if init else 'scratch'} on {s.train_images} real chest X-rays "
            f"({', '.join(s.labels)}), exported to ONNX and checked against PyTorch. On {s.comparison.images} "
            f"held-out test images the gray model reached mean AUC {m['gray']:.3f} and the color model "
            f"{m['color']:.3f}. The DeLong p-values above cover the choice of test images only: one training run per "
            "model cannot say which stem is better (`gxr study grayscale` asks that with seeds and bootstrap CIs). "
            f"The gray model ran at {ms['gray']:.2f} ms/image against {ms['color']:.2f} for color "
            "(ONNX Runtime, batch 1).")
