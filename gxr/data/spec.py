"""`KIND:PATH[?key=value&...]` data specs, one syntax for every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from gxr.core.errors import GxrError

KINDS = ("medmnist", "npz", "nih", "folder", "csv")


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: Path
    options: dict[str, str]
    text: str

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)


def parse_spec(text: str, allowed: tuple[str, ...] = ()) -> DataSpec:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in KINDS:
        raise GxrError(f"data spec {text!r}: expected KIND:PATH with KIND one of {', '.join(KINDS)}")
    path, _, query = rest.partition("?")
    if not path:
        raise GxrError(f"data spec {text!r}: missing path after '{kind}:'")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(options) - set(allowed)
    if unknown:
        raise GxrError(f"data spec {text!r}: unknown option(s) {', '.join(sorted(unknown))}"
                       f" (allowed: {', '.join(allowed) or 'none'})")
    return DataSpec(kind, Path(path).expanduser(), options, text)
