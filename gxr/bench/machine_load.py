"""Is the machine busy? Timings taken while other processes use the CPU are not results."""

from __future__ import annotations

import os
import time
from typing import Any

BUSY_FRACTION = 0.25   # other work using more than a quarter of the CPU makes timings unreliable
SPREAD_LIMIT = 2.0     # p99 more than twice p50: the timings were disturbed


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies from /proc/stat, or None where it does not exist."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def machine_load(window_s: float = 0.5) -> dict[str, Any]:
    """How busy the CPUs are while this process waits `window_s` (so all of it is other processes' work)."""
    first = _cpu_times()
    time.sleep(window_s)
    second = _cpu_times()
    busy = None
    if first and second and second[1] > first[1]:
        busy = (second[0] - first[0]) / (second[1] - first[1])
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"busy_fraction": busy, "load_average_1min": load1, "logical_cpus": os.cpu_count()}


def timing_warnings(load: dict[str, Any], timings: list[dict[str, Any]]) -> list[str]:
    """Plain-language warnings when the machine was busy or the timings are spread out."""
    notes = []
    busy = load.get("busy_fraction")
    if busy is not None and busy > BUSY_FRACTION:
        notes.append(f"other processes kept the CPUs {busy:.0%} busy just before timing: these timings are not "
                     "a clean measurement; re-run on an idle machine")
    for t in timings:
        if t["ms_per_image_p99"] > SPREAD_LIMIT * t["ms_per_image_p50"]:
            notes.append(f"{t['model']} batch {t['batch']}: p99 {t['ms_per_image_p99']:.1f} ms is more than "
                         f"{SPREAD_LIMIT:g}x p50 {t['ms_per_image_p50']:.1f} ms: disturbed by other work; quote p50")
    return notes
