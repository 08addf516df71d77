"""What every command shares: the console and turning GxrError into a one-line message + exit 2."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from gxr.core.errors import GxrError

# Logs and pipes get 140 columns instead of rich's 80 so tables and epoch lines stay on one line.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable)


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error[/]: {escape(message)}", markup=True, emoji=False)
    return typer.Exit(code=2)


def handle_errors(fn: F) -> F:
    """Bad input ends in `error: ...` on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GxrError as exc:
            raise fail(str(exc).replace("\n", " ")) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
