"""The one error type users see: a one-line message naming the file and the problem."""


class GxrError(Exception):
    """Bad input or a failed check. The CLI prints `error: <message>` and exits with code 2."""


def one_line(exc: BaseException | str, limit: int = 200) -> str:
    """An exception's message (or a text) on one line: runs of whitespace, newlines included, become one space,
    and the result is cut to at most `limit` characters ("..." marks a cut). An exception with an empty message
    gives its type name."""
    text = " ".join(str(exc).split()) or (type(exc).__name__ if isinstance(exc, BaseException) else "")
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."
