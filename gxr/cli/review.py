"""`gxr bench errors` and `gxr bench roc`: look at what a model gets wrong (plots need `pip install 'gxr[plots]'`,
which installs matplotlib)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gxr.cli.common import console, handle_errors
from gxr.cli.show import save_json


@handle_errors
def errors(
    model: Path = typer.Argument(..., help="Model repository entry, model.onnx, model.pt or run directory"),
    out: Path = typer.Option(..., help="Folder for contact-sheet.png, mistakes.csv and mistakes.json"),
    data: str | None = typer.Option(None, help="Data spec (default: the model's own data)"),
    split: str = typer.Option("test", help="train | val | test"),
    label: list[str] | None = typer.Option(None, help="Only this label (repeat for several; default: all)"),
    top: int = typer.Option(8, help="Images per label and kind (false positives, false negatives) on the sheet"),
    limit: int | None = typer.Option(None, help="At most this many images of the split"),
) -> None:
    r"""The K most confidently wrong images per label (false positives and false negatives) as a captioned
    contact sheet, plus a CSV of every mistake. Needs matplotlib: pip install 'gxr\[plots]'."""
    from gxr.bench.mistakes import KINDS
    from gxr.bench.review import run_errors

    report, paths = run_errors(model, out, data=data, split=split, labels=label, top=top, limit=limit)
    table = Table(title=f"mistakes on {report.split} ({report.images} images): {model}")
    table.add_column("label")
    for kind in KINDS:
        table.add_column(f"{kind}s", justify="right")
    for name, counts in report.counts().items():
        table.add_row(name, *(str(counts[k]) for k in KINDS))
    console.print(table)
    console.print("wrote " + ", ".join(str(p) for p in paths))


@handle_errors
def roc(
    models: list[Path] = typer.Argument(..., help="One or more models with the same labels (e.g. gray and color)"),
    out: Path = typer.Option(Path("roc.png"), help="ROC PNG; the reliability diagram goes beside it as "
                             "<name>-calibration.png and AUCs to <name>.json"),
    data: str | None = typer.Option(None, help="Data spec (default: the first model's own data)"),
    split: str = typer.Option("test", help="train | val | test"),
    limit: int | None = typer.Option(None, help="At most this many images of the split"),
) -> None:
    r"""ROC curves per label with AUC in the legend (gray and color overlaid when both are given), and a
    calibration (reliability) plot. Needs matplotlib: pip install 'gxr\[plots]'."""
    from gxr.bench.review import run_roc
    from gxr.core.render import fmt, rule_caption

    report = run_roc(models, out, data=data, split=split, limit=limit)
    first = report.models[0].summary
    table = Table(title=f"{report.split} ({report.images} images): AUC per label", caption=rule_caption(first))
    table.add_column("label")
    for m in report.models:
        table.add_column(m.name, justify="right")
    for i, row in enumerate(first.labels):
        name = row.label + ("" if row.eligible else " \u2020")
        table.add_row(name, *(fmt(m.summary.labels[i].auc) for m in report.models))
    for name, key in (("mean AUC", "mean_auc"), ("ECE", "ece"), ("Brier", "brier")):
        table.add_row(name, *(fmt(getattr(m.summary, key)) for m in report.models))
    console.print(table)
    console.print("wrote " + ", ".join(report.pictures))
    save_json(report.to_json(), out.with_suffix(".json"))


def register(app: typer.Typer) -> None:
    """Add `errors` and `roc` to the bench group."""
    app.command("errors")(errors)
    app.command("roc")(roc)
