"""A study's outputs: DIR/report.md, DIR/results.json and the rich summary printed at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table

from gxr.core.fileio import write_json, write_text
from gxr.core.provenance import machine_info
from gxr.core.render import md_table
from gxr.study.context import SCALE_NOTE, StudyContext


def write_outputs(ctx: StudyContext, title: str, what: str, sections: list[str], results: dict[str, Any],
                  data_keys: list[str], plots: list[str]) -> dict[str, Any]:
    """Write report.md and results.json; returns the results document."""
    seconds = time.perf_counter() - ctx.started
    machine = machine_info()
    changed = ", ".join(f"{k} = {v}" for k, v in ctx.overrides.items())
    base = "QUICK smoke-scale run (for CI): its numbers mean nothing" if ctx.quick else "The study's default settings"
    scale = f"{base}{', changed: ' + changed if changed else ''}."
    doc = {"study": ctx.name, "title": title, "command": ctx.command, "quick": ctx.quick, "device": ctx.device,
           "changed_from_defaults": ctx.overrides,
           "settings": ctx.settings, "data": ctx.fingerprints(data_keys), "machine": machine,
           "what_this_is": what, "scale_note": SCALE_NOTE, "results": results, "plots": plots,
           "stages": ctx.stages.log.entries, "seconds_this_invocation": seconds}
    write_json(ctx.out / "results.json", doc)
    where = ", ".join(machine.get("gpus") or []) or f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs)"
    header = [f"# {title}", "", f"Command: `{ctx.command}`", "",
              f"Run on {where}, device `{ctx.device}`, {time.strftime('%Y-%m-%d')}. {scale}", "",
              "## What this is and is not", "", what, "", SCALE_NOTE, "",
              "Epochs are chosen on each run's validation split (best validation loss); the test split is "
              "only ever evaluated, never used to choose anything.", "",
              "## Settings", "", "```", *[f"{k} = {v}" for k, v in ctx.settings.items()], "```", ""]
    data_rows = [[k, v["spec"].split(":", 1)[0] + ":…/" + v["spec"].rsplit("/", 1)[-1],
                  ", ".join(f"{s} {n}" for s, n in v["sizes"].items()), v["fingerprint"][:12]]
                 for k, v in doc["data"].items()]
    footer = ["## Data", "", md_table(["set", "spec", "split sizes", "fingerprint"], data_rows), "",
              f"Plots: {', '.join(f'`{p}`' for p in plots)}. Every number is in `results.json`.", "",
              f"Stages this invocation: {ctx.stages.log.counts()}; {seconds / 60:.1f} min.", ""]
    write_text(ctx.out / "report.md", "\n".join(header + sections + footer))
    return doc


def print_summary(ctx: StudyContext, tables: list[Table], closing: str) -> None:
    for table in tables:
        ctx.console.print(table)
    counts = ctx.stages.log.counts()
    ctx.console.print(f"[bold green]{ctx.name} study done[/]: {counts.get('ran', 0)} stage(s) ran, "
                      f"{counts.get('skipped', 0)} skipped; report: [bold]{ctx.out / 'report.md'}[/]")
    ctx.console.print(closing)
