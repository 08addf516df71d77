"""Imports flow one way: cli -> study -> {bench, export, serve, train} -> runtime -> backends -> {nets, data} -> core.

Every `import gxr...` / `from gxr... import` in every module (top-level or inside a function) is read with
`ast`; an import from a package into one of the same or a higher layer fails the test (imports inside one
package are free)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

LAYERS = [("core",), ("data", "nets"), ("backends",), ("runtime",), ("bench", "export", "serve", "train"), ("study",),
          ("cli",)]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str | None:
    """gxr.core.metrics -> core; gxr.runtime -> runtime; gxr and gxr.__main__ (the front door) -> None."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "gxr" or parts[1] == "__main__":
        return None
    return parts[1]


def module_name(path: Path, root: Path) -> str:
    """gxr/core/metrics.py -> gxr.core.metrics; gxr/data/__init__.py -> gxr.data."""
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def gxr_imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, imported gxr module) for every import statement in `source`."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("gxr")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative import: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("gxr"):
                out += [(node.lineno, f"gxr.{a.name}" if name == "gxr" and a.name in RANK else name)
                        for a in node.names]
    return out


def upward_imports(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "gxr").rglob("*.py")):
        module = module_name(path, root)
        here = room_of(module)
        if here is None:   # gxr/__init__.py, gxr/__main__.py: the package's front door
            continue
        for line, target in gxr_imports(path.read_text(), module, path.name == "__init__.py"):
            there = room_of(target)
            if there is None or there == here:
                continue
            if there not in RANK or here not in RANK:
                problems.append(f"{path.relative_to(root)}:{line}: {module} -> {target}: unknown layer")
            elif RANK[there] >= RANK[here]:
                problems.append(f"{path.relative_to(root)}:{line}: {module} imports {target} "
                                f"({here} may only import from lower layers)")
    return problems


def test_every_package_is_in_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in (REPO / "gxr").iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and not p.stem.startswith("__"))}
    assert rooms <= set(RANK), rooms - set(RANK)


def test_imports_flow_one_way():
    assert upward_imports(REPO) == []


def test_the_check_catches_an_upward_import(tmp_path):
    """The same check on a copy with one planted upward import (core -> runtime) must report it."""
    pkg = tmp_path / "gxr" / "core"
    pkg.mkdir(parents=True)
    (tmp_path / "gxr" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text("def f():\n    from gxr.runtime import load\n    return load\n")
    (pkg / "fine.py").write_text("from gxr.core.errors import GxrError\nfrom . import bad\n")
    problems = upward_imports(tmp_path)
    assert len(problems) == 1 and "gxr.core.bad imports gxr.runtime" in problems[0], problems
