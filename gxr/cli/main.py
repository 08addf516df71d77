"""The `gxr` command. Importing this module must stay cheap: no torch, no TensorRT."""

from __future__ import annotations

import typer

from gxr import __version__
from gxr.cli import bench, convert, data, demo, export, models, optimize, predict, review, serve, study, train


def _flags_show_no_value() -> None:
    """Typer's help shows every flag (--help included) with a `<bool>` type, as if it took a value; a flag
    takes none, so its type column stays empty."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "gxr_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich.gxr_flags = True
    TyperOption.display_type_rich = display_type_rich


_flags_show_no_value()
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}   # inherited by every group and command
app = typer.Typer(name="gxr", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings=HELP_OPTIONS,
                  help="Gray vs color ImageNet pre-training for chest X-rays: train, convert, export, benchmark.")
app.add_typer(train.app, name="train")
app.add_typer(data.app, name="data")
review.register(bench.app)
app.add_typer(bench.app, name="bench")
app.command("convert")(convert.convert)
app.command("export")(export.export)
app.command("optimize")(optimize.optimize)
app.command("predict")(predict.predict)
app.command("models")(models.models)
app.command("demo")(demo.demo)
app.command("study")(study.study)
app.command("serve")(serve.serve)


@app.command("nets")
def nets() -> None:
    """List the supported architectures."""
    from gxr.nets import ARCHS

    for name, (stem, smallest) in ARCHS.items():
        typer.echo(f"{name:<14} stem {stem:<22} min input {smallest}px")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gxr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """gxr: Xie & Richmond (2018) as deployable software."""


def main() -> None:
    """Console entry point: usage errors (unknown option, missing argument, bad value) as one line, exit 2.

    Typer (with or without click underneath) raises them as exceptions carrying `exit_code` and
    `format_message()` when not in standalone mode."""
    import sys

    from gxr.cli.common import err_console

    try:
        code = app(standalone_mode=False, prog_name="gxr")
    except Exception as exc:
        if type(exc).__name__ == "Abort":
            err_console.print("aborted", markup=False)
            sys.exit(1)
        if not (hasattr(exc, "exit_code") and hasattr(exc, "format_message")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":   # bare `gxr` / `gxr bench`: help already shown
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err_console.print(f"error: {exc.format_message()}{hint}".replace("\n", " "), markup=False)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
