"""A study's outputs: DIR/report.md, DIR/results.json, DIR/scores.json and the rich summary printed at the end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from gxr.core.fileio import write_json, write_text
from gxr.core.provenance import machine_info
from gxr.core.render import study_markdown
from gxr.core.scores import Scores
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


SCORES_FILE = "scores.json"
SCORES_NOTE = ("Each arm's per-image test logits (exact, with image ids) are in `scores.json`; the test labels are not "
               "copied there: they stay in the data, re-joined by image id "
               "(`gxr.study.evaluation.scores_from_record`), so every AUC above can be re-computed from the logits.")


def split_per_image(node: Any, path: str = "") -> tuple[Any, dict[str, dict[str, Any]]]:
    """`node` with every per-image score record (a "scores" entry holding logits) replaced by its key in
    scores.json, and those records by key, written without targets (the labels stay in the data; they are
    re-joined by image id, see `gxr.study.evaluation.scores_from_record`)."""
    per_image: dict[str, dict[str, Any]] = {}
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            where = f"{path}/{key}" if path else str(key)
            if key == "scores" and isinstance(value, dict) and "logits" in value:
                per_image[where] = Scores.from_json(value).to_json(targets=False)
                kept[key] = f"{SCORES_FILE}#{where}"
            else:
                kept[key], inner = split_per_image(value, where)
                per_image.update(inner)
        return kept, per_image
    if isinstance(node, list):
        items = [split_per_image(value, f"{path}/{i}") for i, value in enumerate(node)]
        return [item for item, _ in items], {k: v for _, inner in items for k, v in inner.items()}
    return node, per_image


def write_scores(path: Path, per_image: dict[str, dict[str, Any]]) -> None:
    """scores.json: one compact line per record (logits exact, no targets), keyed as results.json refers to them."""
    lines = [f"{json.dumps(key)}: {json.dumps(record, separators=(',', ':'))}" for key, record in per_image.items()]
    write_text(path, "{\n" + ",\n".join(lines) + "\n}\n")


def write_outputs(ctx: StudyContext, title: str, what: str, sections: list[str], results: dict[str, Any],
                  data_keys: list[str], plots: list[str]) -> dict[str, Any]:
    """Write report.md, results.json and (per-image test logits) scores.json; returns the results document."""
    seconds = time.perf_counter() - ctx.started
    machine = machine_info()
    kept, per_image = split_per_image(results)
    changed = ", ".join(f"{k} = {v}" for k, v in ctx.overrides.items())
    base = "QUICK smoke-scale run (for CI): its numbers mean nothing" if ctx.quick else "The study's default settings"
    doc = {"study": ctx.name, "title": title, "command": ctx.command, "quick": ctx.quick, "device": ctx.device,
           "changed_from_defaults": ctx.overrides,
           "settings": ctx.settings, "data": ctx.fingerprints(data_keys), "machine": machine,
           "what_this_is": what, "scale_note": SCALE_NOTE, "imagenette_note": IMAGENETTE_NOTE, "results": kept,
           "plots": plots,
           "stages": ctx.stages.log.entries, "seconds_this_invocation": seconds,
           "stage_seconds_all": ctx.stages.log.stage_seconds()}
    if per_image:
        write_scores(ctx.out / SCORES_FILE, per_image)
    write_json(ctx.out / "results.json", doc)
    where = ", ".join(machine.get("gpus") or []) or f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs)"
    report = StudyReport(title, ctx.command, where, ctx.device, time.strftime("%Y-%m-%d"),
                         f"{base}{', changed: ' + changed if changed else ''}.", what,
                         f"{SCALE_NOTE}\n\n**What Imagenette can and cannot stand in for.** {IMAGENETTE_NOTE}",
                         ctx.settings,
                         [*sections, SCORES_NOTE, ""] if per_image else sections, doc["data"], plots,
                         ctx.stages.log.counts(), seconds)
    write_text(ctx.out / "report.md", study_markdown(report))
    return doc


def print_summary(ctx: StudyContext, tables: list[Table], closing: str) -> None:
    for table in tables:
        ctx.console.print(table)
    counts = ctx.stages.log.counts()
    ctx.console.print(f"[bold green]{ctx.name} study done[/]: {counts.get('ran', 0)} stage(s) ran, "
                      f"{counts.get('skipped', 0)} skipped; report: [bold]{ctx.out / 'report.md'}[/]")
    ctx.console.print(closing)
