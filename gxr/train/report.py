"""How a training run talks to its caller (torch-free): the loop never prints, it calls a reporter.

- `Reporter`: the silent default. It keeps what it was told (notes, epoch rows, final metrics), so
  library callers and tests can read them afterwards.
- `ConsoleReporter`: the rich one the CLI passes: a progress bar while decoding and training, one line
  per note and per epoch, and the test table at the end (rendering lives in gxr.core.render).
Callbacks: `on_note(text, kind)`, `on_epoch(row)`, `on_finish(metrics)`; progress bars come from
`task(description, total)` inside `running()`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from gxr.core.progress import make_progress
from gxr.core.render import epoch_line, metrics_table

NOTE_STYLES = {"data": "[yellow]note[/]: ", "init": "[cyan]init[/]: ", "info": "", "warning": "[yellow]warning[/]: "}


class Task:
    """A progress bar that shows nothing (the silent reporter's, and any reporter's outside `running()`)."""

    def advance(self, steps: int = 1, status: str | None = None) -> None:
        """Count `steps` more units of work; `status` is a short text shown beside the bar."""

    def close(self) -> None:
        """The work is done: remove the bar."""


class Reporter:
    """Silent reporter: records every callback in `notes`, `rows` and `metrics`."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.rows: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The span of a run during which progress bars may be shown."""
        yield

    def task(self, description: str, total: int) -> Task:
        return Task()

    def on_note(self, text: str, kind: str = "info") -> None:
        """A one-line fact about the run (`kind`: data, init, info or warning)."""
        self.notes.append((kind, text))

    def on_epoch(self, row: dict[str, Any]) -> None:
        """One finished epoch: the history row that metrics.json will hold."""
        self.rows.append(row)

    def on_finish(self, metrics: dict[str, Any]) -> None:
        """The run's result: the dict written to metrics.json."""
        self.metrics = metrics


class _RichTask(Task):
    def __init__(self, progress: Progress, task_id: TaskID):
        self.progress, self.task_id = progress, task_id

    def advance(self, steps: int = 1, status: str | None = None) -> None:
        fields = {} if status is None else {"status": status}
        self.progress.update(self.task_id, advance=steps, **fields)

    def close(self) -> None:
        self.progress.remove_task(self.task_id)


class ConsoleReporter(Reporter):
    """Prints to a rich console: notes and epoch lines as they come, progress bars, the final table."""

    def __init__(self, console: Console):
        super().__init__()
        self.console = console
        self._progress: Progress | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._progress = make_progress(self.console)
        try:
            with self._progress:
                yield
        finally:
            self._progress = None

    def task(self, description: str, total: int) -> Task:
        if self._progress is None:
            return Task()
        return _RichTask(self._progress, self._progress.add_task(description, total=total, status=""))

    def on_note(self, text: str, kind: str = "info") -> None:
        super().on_note(text, kind)
        self.console.print(NOTE_STYLES.get(kind, "") + escape(text))

    def on_epoch(self, row: dict[str, Any]) -> None:
        super().on_epoch(row)
        self.console.print(epoch_line(row))

    def on_finish(self, metrics: dict[str, Any]) -> None:
        super().on_finish(metrics)
        self.console.print(metrics_table(metrics))
