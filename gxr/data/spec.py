"""`KIND:PATH[?key=value&...]` data specs, one syntax for every command.

`parse_spec` checks the kind and its options against the registry of data kinds (`gxr.data.registry`),
which it is given, so the kinds and their options are written in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import parse_qsl

from gxr.core.errors import GxrError


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: Path
    options: dict[str, str]
    text: str

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)


def parse_spec(text: str, options_by_kind: Mapping[str, Sequence[str]]) -> DataSpec:
    """Split a spec into kind, path and options; the kind and each option must be known."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in options_by_kind:
        raise GxrError(f"data spec {text!r}: expected KIND:PATH with KIND one of {', '.join(options_by_kind)}")
    path, _, query = rest.partition("?")
    if not path:
        raise GxrError(f"data spec {text!r}: missing path after '{kind}:'")
    options = dict(parse_qsl(query, keep_blank_values=True))
    allowed = options_by_kind[kind]
    unknown = set(options) - set(allowed)
    if unknown:
        raise GxrError(f"data spec {text!r}: unknown option(s) {', '.join(sorted(unknown))}"
                       f" (allowed: {', '.join(allowed) or 'none'})")
    return DataSpec(kind, Path(path).expanduser(), options, text)
