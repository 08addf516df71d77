"""`gxr predict MODEL PATHS...`: files, folders (recursive) and list files; every good image is predicted and
every bad one is reported with its reason.

Exit codes: 0 when at least one image was predicted (1 with --strict when any could not be read), 2 when none
could be read (or the model / arguments are bad)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from gxr.cli.common import console, err_console, fail, handle_errors

SUFFIX_FORMATS = {".json": "json", ".jsonl": "jsonl", ".csv": "csv"}


@handle_errors
def predict(
    model: Path = typer.Argument(..., help="Model repository entry, model.onnx, model.pt or run directory"),
    paths: list[Path] | None = typer.Argument(None, help="Image files (PNG, JPEG, TIFF, DICOM, ...) and folders "
                                              "(searched recursively for images)"),
    list_file: Path | None = typer.Option(None, "--list", help="A text file with one image path per line"),
    fmt: str | None = typer.Option(None, "--format", help="table | json | jsonl | csv (default: table, or from "
                                   "the --out suffix)"),
    out: Path | None = typer.Option(None, "--out", help="Write the results to this file (atomically) instead of "
                                    "printing them"),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any image could not be read"),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json"),
    backend: str = typer.Option("auto", help="auto | onnxruntime | openvino[:bf16] | torch | tensorrt"),
    device: str = typer.Option("cpu", help="cpu | cuda"),
) -> None:
    """Print per-label probabilities (and the predicted class of single-label models) for each image."""
    from gxr.core.errors import GxrError
    from gxr.core.inputs import collect_inputs
    from gxr.runtime import load

    if not paths and list_file is None:
        raise GxrError("no images given: pass image files or folders, or --list FILE")
    fmt = _choose_format(fmt or ("json" if as_json else None), out)
    inputs = collect_inputs(paths or [], list_file)
    with load(model, backend=backend, device=device) as m:
        results = _predict_with_progress(m, [str(p) for p in inputs.files])
        labels, single_label, title = m.labels, m.single_label, f"{model} ({m.backend})"
    for note in inputs.notes:
        err_console.print(f"[yellow]note[/]: {escape(note)}")
    if not any(r.ok for r in results):
        _report_failures(results, strict)
    _emit(results, fmt, out, labels, single_label, title)
    _report_failures(results, strict)


def _choose_format(fmt: str | None, out: Path | None) -> str:
    from gxr.core.errors import GxrError
    from gxr.core.results import FORMATS

    if fmt is None:
        fmt = SUFFIX_FORMATS.get(out.suffix.lower(), "") if out is not None else "table"
        if not fmt:
            raise GxrError(f"{out}: cannot tell the format from the suffix; pass --format json, jsonl or csv")
    if fmt not in FORMATS:
        raise GxrError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "table" and out is not None:
        raise GxrError(f"{out}: tables are printed, not written; pass --format json, jsonl or csv")
    return fmt


def _predict_with_progress(model, files: list[str]):
    """Predict in chunks so a long folder shows a progress bar on a terminal (one call per chunk keeps the
    decode pool busy); pipes and logs get no bar, so stderr holds only the per-image errors."""
    from gxr.core.progress import make_progress

    chunk = max(64, model.batch_size * 2)
    chunks = [files[i:i + chunk] for i in range(0, len(files), chunk)]
    if not err_console.is_terminal:
        return [r for part in chunks for r in model.predict_results(part, errors="skip")]
    results = []
    with make_progress(err_console) as progress:
        task = progress.add_task("predict", total=len(files), status="")
        for part in chunks:
            results += model.predict_results(part, errors="skip")
            progress.update(task, advance=len(part))
    return results


def _emit(results, fmt: str, out: Path | None, labels: list[str], single_label: bool, title: str) -> None:
    from gxr.core.fileio import write_text
    from gxr.core.render import predictions_table
    from gxr.core.results import format_results

    if fmt == "table":
        good = [r for r in results if r.ok]
        if good:
            console.print(predictions_table(good, labels, single_label, title))
        return
    text = format_results(results, fmt, labels, single_label)
    if out is None:
        sys.stdout.write(text)
        return
    write_text(out, text)
    console.print(f"wrote {out} ({sum(r.ok for r in results)} predicted, {sum(not r.ok for r in results)} failed)")


def _report_failures(results, strict: bool) -> None:
    """Each unreadable image as one `error:` line on stderr; the exit code from how many were predicted."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    if len(failed) == len(results):
        for r in failed[:-1]:
            err_console.print(f"[bold red]error[/]: {escape(r.error)}")
        raise fail(failed[-1].error)
    for r in failed:
        err_console.print(f"[bold red]error[/]: {escape(r.error)}")
    err_console.print(f"{len(failed)} of {len(results)} images could not be read; the others were predicted")
    if strict:
        raise typer.Exit(code=1)
