"""`python -m gxr` = the `gxr` command."""

from gxr.cli.main import main

if __name__ == "__main__":
    main()
