"""`gxr convert`: 1 <-> 3 channel checkpoints, verified numerically."""

from __future__ import annotations

from pathlib import Path

import typer

from gxr.cli.common import console, handle_errors


@handle_errors
def convert(
    ckpt: Path = typer.Argument(..., help="gxr model.pt (or its run directory)"),
    channels: int = typer.Option(..., help="Target stem: 1 (gray) or 3 (color)"),
    out: Path = typer.Option(..., help="Where to write the converted model.pt"),
    mode: str = typer.Option("sum", help="3 -> 1: sum (exact for replicated gray) | luma (approximate)"),
) -> None:
    """Convert a checkpoint's stem between 1 and 3 channels and verify the identity it must satisfy."""
    from gxr.nets.convert import convert_checkpoint

    report = convert_checkpoint(ckpt, channels, out, mode)
    console.print(f"{report['from_channels']} -> {report['to_channels']} channels ({report['identity']}): "
                  f"max abs diff {report['max_abs_diff']:.3g}, max rel diff {report['max_rel_diff']:.3g} "
                  f"on {report['checked_images']} inputs")
    console.print(f"wrote {out}")
