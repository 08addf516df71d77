"""Showing results: the rendered tables, notes and warnings of a report, and where it was saved.

Shared by the commands (bench, demo, study) so one result looks the same wherever it appears."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from gxr.cli.common import console


def save_json(result: dict, path: Path | None) -> None:
    from gxr.core.fileio import write_json

    if path is not None:
        write_json(path, result)
        console.print(f"wrote {path}")


def print_latency(report) -> None:
    from gxr.core.render import latency_tables

    for table in latency_tables(report):
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note[/]: {escape(note)}")
    for warning in report.warnings:
        console.print(f"[bold yellow]warning[/]: {escape(warning)}")


def save_comparison(result, out: Path | None) -> None:
    """Print a gray-vs-color comparison and write OUT.json + OUT.md."""
    from gxr.core.fileio import write_json, write_text
    from gxr.core.render import comparison_lines, comparison_markdown, comparison_tables

    for table in comparison_tables(result):
        console.print(table)
    for line in comparison_lines(result):
        console.print(escape(line))
    if out is not None:
        write_json(out.with_suffix(".json"), result.to_json())
        write_text(out.with_suffix(".md"), comparison_markdown(result))
        console.print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
