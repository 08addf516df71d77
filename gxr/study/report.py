"""A study's outputs: DIR/report.md, DIR/results.json and the rich summary printed at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from gxr.core.fileio import write_json, write_text
from gxr.core.provenance import machine_info
from gxr.core.render import study_markdown
from gxr.study.context import IMAGENETTE_NOTE, SCALE_NOTE, StudyContext


@dataclass
class StudyReport:
    """What a study's report.md says; `gxr.core.render.study_markdown` renders it."""

    title: str
    command: str
    where: str                      # the machine (GPU names, or CPU model and logical CPUs)
    device: str
    date: str
    scale: str                      # default settings / quick / what was changed
    what: str
    scale_note: str
    settings: dict[str, Any]
    sections: list[str]             # the study's own Markdown sections (tables from gxr.core.render)
    data: dict[str, dict[str, Any]]  # data set -> spec, sizes, fingerprint
    plots: list[str]
    stage_counts: dict[str, int]
    seconds: float


def write_outputs(ctx: StudyContext, title: str, what: str, sections: list[str], results: dict[str, Any],
                  data_keys: list[str], plots: list[str]) -> dict[str, Any]:
    """Write report.md and results.json; returns the results document."""
    seconds = time.perf_counter() - ctx.started
    machine = machine_info()
    changed = ", ".join(f"{k} = {v}" for k, v in ctx.overrides.items())
    base = "QUICK smoke-scale run (for CI): its numbers mean nothing" if ctx.quick else "The study's default settings"
    doc = {"study": ctx.name, "title": title, "command": ctx.command, "quick": ctx.quick, "device": ctx.device,
           "changed_from_defaults": ctx.overrides,
           "settings": ctx.settings, "data": ctx.fingerprints(data_keys), "machine": machine,
           "what_this_is": what, "scale_note": SCALE_NOTE, "imagenette_note": IMAGENETTE_NOTE, "results": results,
           "plots": plots,
           "stages": ctx.stages.log.entries, "seconds_this_invocation": seconds,
           "stage_seconds_all": ctx.stages.log.stage_seconds()}
    write_json(ctx.out / "results.json", doc)
    where = ", ".join(machine.get("gpus") or []) or f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs)"
    report = StudyReport(title, ctx.command, where, ctx.device, time.strftime("%Y-%m-%d"),
                         f"{base}{', changed: ' + changed if changed else ''}.", what,
                         f"{SCALE_NOTE}\n\n**What Imagenette can and cannot stand in for.** {IMAGENETTE_NOTE}",
                         ctx.settings,
                         sections, doc["data"], plots, ctx.stages.log.counts(), seconds)
    write_text(ctx.out / "report.md", study_markdown(report))
    return doc


def print_summary(ctx: StudyContext, tables: list[Table], closing: str) -> None:
    for table in tables:
        ctx.console.print(table)
    counts = ctx.stages.log.counts()
    ctx.console.print(f"[bold green]{ctx.name} study done[/]: {counts.get('ran', 0)} stage(s) ran, "
                      f"{counts.get('skipped', 0)} skipped; report: [bold]{ctx.out / 'report.md'}[/]")
    ctx.console.print(closing)
