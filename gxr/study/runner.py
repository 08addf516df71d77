"""Entry point of every study: settings (defaults, --quick, overrides) -> pipeline -> report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from gxr.core.errors import GxrError
from gxr.study import STUDIES
from gxr.study.context import StudyContext, data_specs, find_data_root, resolve_device


def study_settings(name: str, quick: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    """The study's default (or quick) settings with `overrides` (None values ignored) applied."""
    from gxr.study import depth, grayscale, transfer

    module = {"grayscale": grayscale, "transfer": transfer, "depth": depth}[name]
    settings = dict(module.QUICK if quick else module.DEFAULTS)
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in settings:
            raise GxrError(f"study {name}: has no setting {key!r} (settings: {', '.join(settings)})")
        settings[key] = value
    check_settings(name, settings)
    return settings


def check_settings(name: str, settings: dict[str, Any]) -> None:
    """Refuse settings no run could use, before any stage starts."""
    from gxr.train.recipes import PRETRAIN_RECIPES

    if settings.get("recipe", "modern") not in PRETRAIN_RECIPES:
        raise GxrError(f"study {name}: pre-training recipe {settings['recipe']!r}: choose one of "
                       f"{', '.join(PRETRAIN_RECIPES)}")
    if settings.get("seeds", 1) < 1:
        raise GxrError(f"study {name}: seeds must be >= 1, got {settings['seeds']}")


def changed_settings(name: str, quick: bool, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ from the study's defaults (or its quick settings)."""
    from gxr.study import depth, grayscale, transfer

    module = {"grayscale": grayscale, "transfer": transfer, "depth": depth}[name]
    base = module.QUICK if quick else module.DEFAULTS
    return {k: v for k, v in settings.items() if base.get(k) != v}


def run_study(name: str, out: Path, console: Console, quick: bool = False, device: str = "auto",
              overrides: dict[str, Any] | None = None, data_root: Path | None = None) -> dict[str, Any]:
    """Run (or continue) study `name` in `out`; returns its results document (also in out/results.json)."""
    if name not in STUDIES:
        raise GxrError(f"unknown study {name!r}; choose one of {', '.join(STUDIES)}")
    settings = study_settings(name, quick, overrides or {})
    ctx = StudyContext(name, Path(out), console, resolve_device(device), quick, settings,
                       data_specs(data_root or find_data_root()))
    ctx.overrides = changed_settings(name, quick, settings)
    ctx.out.mkdir(parents=True, exist_ok=True)
    if name == "grayscale":
        from gxr.study import grayscale, grayscale_report

        return grayscale_report.finish(ctx, grayscale.run(ctx))
    if name == "transfer":
        from gxr.study import transfer

        return transfer.finish(ctx, transfer.run(ctx))
    from gxr.study import depth

    return depth.finish(ctx, depth.run(ctx))
