"""`gxr predict`"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from gxr.cli.common import console, handle_errors


@handle_errors
def predict(
    model: Path = typer.Argument(..., help="Model repository entry, model.onnx, model.pt or run directory"),
    images: list[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
    backend: str = typer.Option("auto", help="auto | onnxruntime | openvino[:bf16] | torch | tensorrt"),
    device: str = typer.Option("cpu", help="cpu | cuda"),
) -> None:
    """Print per-label probabilities for each image."""
    from gxr.runtime import load

    with load(model, backend=backend, device=device) as m:
        rows = m.predict_labeled([str(p) for p in images])
    if as_json:
        typer.echo(json.dumps([{"image": str(p), "probabilities": r} for p, r in zip(images, rows)], indent=2))
        return
    table = Table(title=f"{model} ({m.backend})")
    table.add_column("image")
    for label in m.labels:
        table.add_column(label, justify="right")
    for path, row in zip(images, rows):
        table.add_row(path.name, *(f"{v:.4f}" for v in row.values()))
    console.print(table)
