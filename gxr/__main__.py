"""`python -m gxr` = the `gxr` command."""

from gxr.cli.main import app

if __name__ == "__main__":
    app(prog_name="gxr")
