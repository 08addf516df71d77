"""The one machine-noise rule for every timing gxr takes: was other work using the CPUs while a block was timed,
and are the block's timings spread out? Timings taken on a noisy machine are reported with a warning, never
silently.

The rule (`NoiseRule`): a timed block is noisy when other processes used more than `foreign_limit` of the
machine's CPU capacity while it ran (from /proc/stat, this process's own CPU time subtracted), when the 1-minute
load average exceeded the core count, or when a timing's p90 is more than `spread_limit` times its p50."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # the CLI imports this module for its defaults: keep it light
    from gxr.bench.latency import Timing

SPREAD_LIMIT = 1.10     # p90 / p50 of one timing
FOREIGN_LIMIT = 0.05    # share of all CPUs used by other processes while a block was timed


@dataclass(frozen=True)
class NoiseRule:
    spread_limit: float = SPREAD_LIMIT
    foreign_limit: float = FOREIGN_LIMIT


@dataclass(frozen=True)
class CpuSnapshot:
    wall_s: float            # monotonic clock
    busy_cpu_s: float        # CPU seconds the whole machine was busy (all processes) since boot
    own_cpu_s: float         # CPU seconds of this process


def cpu_snapshot() -> CpuSnapshot | None:
    """Now, from /proc/stat (busy = all minus idle and iowait); None where /proc/stat does not exist."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)
    times = os.times()
    return CpuSnapshot(time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), times.user + times.system)


def foreign_cpu_share(before: CpuSnapshot | None, after: CpuSnapshot | None, cores: int) -> float | None:
    """Fraction of the machine's CPU capacity used by other processes between two snapshots."""
    if before is None or after is None or after.wall_s <= before.wall_s:
        return None
    others = (after.busy_cpu_s - before.busy_cpu_s) - (after.own_cpu_s - before.own_cpu_s)
    return max(0.0, others) / ((after.wall_s - before.wall_s) * cores)


def _with_helper(snapshot: CpuSnapshot | None, helper_cpu: Callable[[], float] | None) -> CpuSnapshot | None:
    """`snapshot` with a helper process's CPU seconds counted as this process's own."""
    if snapshot is None or helper_cpu is None:
        return snapshot
    return replace(snapshot, own_cpu_s=snapshot.own_cpu_s + helper_cpu())


def load_average() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


@dataclass
class Block:
    """One timed block (a model under one backend) and how busy the machine was meanwhile."""

    label: str
    seconds: float
    foreign_cpu: float | None
    load_average: float | None      # the larger of before and after


@dataclass
class NoiseMonitor:
    """Watches every timed block of one run; `warnings(timings)` applies the rule."""

    rule: NoiseRule = field(default_factory=NoiseRule)
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    blocks: list[Block] = field(default_factory=list)

    @contextmanager
    def block(self, label: str, helper_cpu: Callable[[], float] | None = None) -> Iterator[None]:
        """Time a block; `helper_cpu` gives the CPU seconds of a process that is part of the measurement (a
        server under load), so that its work is not counted as other processes'."""
        loads = [load_average()]
        before = _with_helper(cpu_snapshot(), helper_cpu)
        try:
            yield
        finally:
            after = _with_helper(cpu_snapshot(), helper_cpu)
            loads.append(load_average())
            known = [x for x in loads if x is not None]
            seconds = after.wall_s - before.wall_s if before and after else 0.0
            self.blocks.append(Block(label, seconds, foreign_cpu_share(before, after, self.cores),
                                     max(known) if known else None))

    def foreign_of(self, label: str) -> float | None:
        return next((b.foreign_cpu for b in reversed(self.blocks) if b.label == label), None)

    def warnings(self, timings: Sequence[Timing] = ()) -> list[str]:
        return noise_warnings(self.blocks, timings, self.rule, self.cores)

    def to_json(self) -> dict[str, Any]:
        return {"rule": asdict(self.rule), "cores": self.cores, "blocks": [asdict(b) for b in self.blocks]}


def noise_warnings(blocks: Sequence[Block], timings: Sequence[Timing], rule: NoiseRule, cores: int) -> list[str]:
    """Plain-language warnings: other work during a block, a high load average, spread-out timings."""
    notes = [f"{b.label}: other processes used {b.foreign_cpu:.0%} of the CPUs while it was timed (rule: "
             f"{rule.foreign_limit:.0%}); re-run on an idle machine" for b in blocks
             if b.foreign_cpu is not None and b.foreign_cpu > rule.foreign_limit]
    busy = [b.load_average for b in blocks if b.load_average is not None and b.load_average > cores]
    if busy:
        notes.append(f"load average reached {max(busy):.2f} on {cores} cores while timing: other work was running")
    notes += [f"{t.model} {t.mode} batch {t.batch}: p90/p50 = {t.ms_per_image_p90 / t.ms_per_image_p50:.2f} > "
              f"{rule.spread_limit:g} (spread-out timings; quote p50)" for t in timings
              if t.ms_per_image_p50 > 0 and t.ms_per_image_p90 / t.ms_per_image_p50 > rule.spread_limit]
    return notes
