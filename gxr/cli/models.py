"""`gxr models [REPO]`"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gxr.cli.common import console, handle_errors


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@handle_errors
def models(
    repo: Path = typer.Argument(Path("models"), help="Model repository root"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """List every model version: precision, channels, input contract, size, parity and serving backends."""
    from gxr.core.catalog import list_repository

    rows = list_repository(repo)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"models in {repo}")
    for col in ("name", "version", "precision", "ch", "input", "size", "parity", "backends", "recommended"):
        table.add_column(col, justify="right" if col in ("version", "ch", "size") else "left")
    for r in rows:
        recommended = escape(r.get("recommended") or "")
        if r.get("problem"):
            table.add_row(r["name"], str(r["version"]), "", "", "", "", "", f"[red]{escape(r['problem'])}[/]",
                          recommended)
            continue
        table.add_row(r["name"], str(r["version"]), r["precision"], str(r["channels"]), escape(r["input"]),
                      _size(r["bytes"]), r["parity"], escape(", ".join(r["backends"]) or "none installed"),
                      f"[green]{recommended}[/]" if recommended else "")
    console.print(table)
    if any(r.get("recommended") for r in rows):
        console.print("recommended: what `gxr optimize` measured fastest within its AUC tolerance; gxr.load and "
                      "gxr predict of models/NAME use it unless given a backend")
    if not rows:
        console.print(f"no model versions in {repo} yet (create one with gxr export)")
