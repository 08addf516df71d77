"""`gxr study NAME --out DIR`: the paper's experiments as cached pipelines with reports and plots."""

from __future__ import annotations

from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors


@handle_errors
def study(
    name: str = typer.Argument(..., help="grayscale | transfer | depth"),
    out: Path = typer.Option(..., help="Study folder (one sub-folder per stage; re-running skips finished stages)"),
    quick: bool = typer.Option(False, "--quick", help="Minutes-scale smoke run (what CI runs); numbers mean nothing"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    arch: str | None = typer.Option(None, help="Architecture (grayscale, depth); transfer: comma-separated list"),
    pretrain_epochs: int | None = typer.Option(None, help="Imagenette pre-training epochs"),
    pretrain_fraction: float | None = typer.Option(None, help="Fraction of Imagenette train used for pre-training"),
    finetune_epochs: int | None = typer.Option(None, help="X-ray fine-tuning epochs (best epoch chosen on val)"),
    image_size: int | None = typer.Option(None, help="Input size for pre-training and fine-tuning"),
    recipe: str | None = typer.Option(None, help="Pre-training recipe: modern (default) | paper"),
    seeds: int | None = typer.Option(None, help="Fine-tuning seeds per arm (grayscale, transfer)"),
    cpu_bf16: bool | None = typer.Option(None, "--cpu-bf16/--no-cpu-bf16", help="On a CPU with native bf16: "
                                         "bf16 autocast + channels-last training steps (default on; scores stay fp32)"),
) -> None:
    """Run a study: grayscale (gray vs color pre-training, four fine-tuning arms, DeLong, latency),
    transfer (architectures pre-trained vs scratch on COVID), depth (fine-tuning depth x data size)."""
    from gxr.study.runner import run_study

    overrides = {"pretrain_epochs": pretrain_epochs, "pretrain_fraction": pretrain_fraction,
                 "finetune_epochs": finetune_epochs, "recipe": recipe, "seeds": seeds,
                 "cpu_bf16": cpu_bf16}
    if arch is not None:
        overrides["archs" if name == "transfer" else "arch"] = arch.split(",") if name == "transfer" else arch
    if image_size is not None:
        overrides.update(pretrain_image_size=image_size, finetune_image_size=image_size)
    run_study(name, out, console, quick, device, overrides)
