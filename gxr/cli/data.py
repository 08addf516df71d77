"""`gxr data info SPEC`: what a data spec resolves to."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from gxr.cli.common import console, handle_errors

app = typer.Typer(help="Inspect data sources.", no_args_is_help=True)


@app.command()
@handle_errors
def info(spec: str = typer.Argument(..., help="Data spec, e.g. nih:../shared/data/nih")) -> None:
    """Show the task, labels, split sizes, positives per label and notes of a data spec; warn about empty splits."""
    from gxr.core.metrics import one_hot_targets
    from gxr.data import open_source

    source = open_source(spec)
    table = Table(title=f"{spec}  ({source.task}, fingerprint {source.fingerprint[:12]})")
    table.add_column("label")
    for name in source.splits:
        table.add_column(f"{name} ({len(source.splits[name])})", justify="right")
    positives = {name: one_hot_targets(s.targets, source.task, len(source.labels)).sum(axis=0) if len(s)
                 else [0] * len(source.labels) for name, s in source.splits.items()}
    for i, label in enumerate(source.labels):
        table.add_row(label, *(str(int(positives[name][i])) for name in source.splits))
    console.print(table)
    for note in source.notes:
        console.print(f"[yellow]note[/]: {escape(note)}")
    for name in source.empty_splits():
        console.print(f"[bold yellow]warning[/]: the {name!r} split is empty: training needs train and val images, "
                      "evaluation needs test images")
