"""`gxr demo`: the main job on the shipped real data, end to end, under one output folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
    summary = run_demo(settings, out, console, root)
    render(summary, out)


def _optional_root() -> Path | None:
    from gxr.data import data_root

    return data_root()


def render(summary: dict[str, Any], out: Path) -> None:
    """The closing tables and the two-or-three-sentence summary of what the user just saw."""
    import json

    from gxr.core.render import latency_table
    from gxr.study.report import fmt, fmt_p, rich_table

    comparison = json.loads((out / "comparison.json").read_text())
    rows = [[r["label"], str(r["positives"]), fmt(r["auc_a"], 4), fmt(r["auc_b"], 4), fmt_p(r["p_value"]) + r["stars"]]
            for r in comparison["rows"]]
    m, acc, ms = summary["test_mean_auc"], summary["test_accuracy"], summary["ms_per_image_b1"]
    rows += [["mean AUC", "", fmt(m["gray"], 4), fmt(m["color"], 4), ""]]
    if acc["gray"] is not None:
        rows.append(["accuracy", "", fmt(acc["gray"], 4), fmt(acc["color"], 4), ""])
    rows.append(["ms/image (b1, ONNX Runtime)", "", f"{ms['gray']:.2f}", f"{ms['color']:.2f}", ""])
    latency = json.loads((out / "latency.json").read_text())
    console.print(latency_table([_Row(t) for t in latency["timings"]]))
    console.print(rich_table(f"gray vs color, {summary['test_images']} test images (DeLong; * p < 0.05, ** p < 0.01)",
                             ["label", "pos", "gray", "color", "p"], rows))
    for warning in summary["timing_warnings"]:
        console.print(f"[yellow]warning[/]: {warning}")
    if summary["fullsize"]:
        f = summary["fullsize"]
        console.print(f"full-size radiographs ({f['images']} PNGs, 2000-2500 px): largest |logit| gray "
                      f"{f['gray']['max_abs_logit']:.1f}, color {f['color']['max_abs_logit']:.1f}")
    console.print(f"[yellow]note[/]: NIH comparison: `gxr bench nih --gray MODEL --color MODEL`; caveat: "
                  f"{summary['nih_caveat']}")
    console.print(_closing(summary))
    console.print(f"[bold green]done[/] in {summary['seconds'] / 60:.1f} min; everything is under [bold]{out}[/] "
                  f"(summary.json, comparison.json, latency.json, models/)")


def _closing(s: dict[str, Any]) -> str:
    m, ms = s["test_mean_auc"], s["ms_per_image_b1"]
    return (f"What you just saw: a gray (1-channel) and a color (3-channel) {s['arch']} were trained from "
            f"{'pre-trained weights' if s['init']['gray'] or s['init']['color'] else 'scratch'} on "
            f"{s['train_images']} real chest X-rays ({', '.join(s['labels'])}), exported to ONNX and checked against "
            f"PyTorch. On {s['test_images']} held-out test images the gray model reached mean AUC {m['gray']:.3f} "
            f"and the color model {m['color']:.3f} "
            f"(the DeLong p-values above say whether the difference is more than chance), and the gray model ran at "
            f"{ms['gray']:.2f} ms/image against {ms['color']:.2f} for color (ONNX Runtime, batch 1).")


class _Row:
    """A timing dict seen as the attribute object that latency_table renders."""

    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)
