"""`one_line`: the one way a foreign exception's text enters a GxrError message."""

from gxr.core.errors import one_line


def test_one_line_joins_lines_and_collapses_whitespace():
    assert one_line(ValueError("first line\n\tsecond   line\n")) == "first line second line"


def test_one_line_cuts_long_texts_at_the_limit_and_marks_the_cut():
    text = one_line(RuntimeError("word " * 100))
    assert len(text) <= 200 and text.endswith("...") and text.startswith("word word")
    assert one_line(RuntimeError("x" * 200)) == "x" * 200            # exactly at the limit: kept whole
    assert one_line(RuntimeError("x" * 50), limit=20) == "x" * 17 + "..."


def test_an_empty_message_gives_the_exception_type():
    assert one_line(KeyError()) == "KeyError" and one_line(OSError("")) == "OSError"


def test_the_old_import_path_still_works():
    from gxr.core.imagefile import one_line as old

    assert old is one_line
