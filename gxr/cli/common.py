"""What every command shares: the console, notes, and turning GxrError into a one-line message + exit 2.

With GXR_DEBUG=1 the full cause chain (tracebacks included) is printed before the one-line error."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from gxr.core.errors import GxrError

# Logs and pipes get 140 columns instead of rich's 80 so tables and epoch lines stay on one line.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable)


def say(note: str) -> None:
    """A note from the library (what was adapted, skipped or cleaned up) for the person at the terminal."""
    console.print(f"[yellow]note[/]: {escape(note)}")


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error[/]: {escape(message)}", markup=True, emoji=False)
    return typer.Exit(code=2)


def debug_enabled() -> bool:
    return os.environ.get("GXR_DEBUG", "") not in ("", "0")


def handle_errors(fn: F) -> F:
    """Bad input ends in `error: ...` on stderr and exit code 2, never a traceback (GXR_DEBUG=1: the chain too)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GxrError as exc:
            if debug_enabled():
                traceback.print_exception(exc, file=sys.stderr)
            raise fail(str(exc).replace("\n", " ")) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
