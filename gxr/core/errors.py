"""The one error type users see: a one-line message naming the file and the problem."""


class GxrError(Exception):
    """Bad input or a failed check. The CLI prints `error: <message>` and exits with code 2."""
