"""What tests share besides fixtures: running the real CLI, the one-line-error contract, snapshots of
folders (nothing written on failure), tiny models and an independent DeLong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run_gxr(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `gxr` console entry point in a subprocess (what users see, exit codes included)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gxr", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=900)


class Snapshot:
    """Every file under some folders with its size, mtime and bytes: `assert_unchanged()` after a failure."""

    def __init__(self, *roots: Path):
        self.roots = [Path(r) for r in roots]
        self.state = self._take()

    def _take(self) -> dict[str, tuple[int, int, bytes]]:
        state = {}
        for root in self.roots:
            for path in sorted(root.rglob("*")) if root.is_dir() else []:
                state[str(path)] = (-1, 0, b"") if path.is_dir() else (
                    path.stat().st_size, path.stat().st_mtime_ns, path.read_bytes())
        return state

    def assert_unchanged(self) -> None:
        now = self._take()
        added, removed = set(now) - set(self.state), set(self.state) - set(now)
        changed = [p for p in set(now) & set(self.state) if now[p] != self.state[p]]
        assert not (added or removed or changed), f"added {sorted(added)}, removed {sorted(removed)}, changed {changed}"


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str, names: str | Path | None,
                          unchanged: Snapshot | None = None, stdout_empty: bool = True) -> None:
    """Exit code 2, nothing on stdout (unless the failure comes after progress output), one line `error: ...`
    on stderr that names the file (`names`; None only for errors that concern no file) and contains every needle,
    no traceback, and (with `unchanged`) no file written, removed or modified."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in err and "Traceback" not in result.stdout
    if stdout_empty:
        assert result.stdout.strip() == "", result.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    if names is not None:
        assert str(names) in err, (str(names), err)
    for needle in needles:
        assert needle in err, (needle, err)
    if unchanged is not None:
        unchanged.assert_unchanged()


def expect_cli_error(*args: str, names: str | Path | None, needles: Iterable[str] = (),
                     watch: Iterable[Path] = ()) -> subprocess.CompletedProcess:
    """Run gxr with `args` and check the one-line-error contract, with every folder in `watch` unchanged."""
    snapshot = Snapshot(*watch)
    result = run_gxr(*args)
    assert_one_line_error(result, *needles, names=names, unchanged=snapshot)
    return result


def tiny_run(out: Path, data_spec: str, channels: int, labels: list[str], task: str, arch: str = "resnet18",
             size: int = 32, seed: int = 0) -> Path:
    """A random `arch` saved as a gxr run (model.pt with its data record), in-process in about a second."""
    from gxr.train.untrained import save_untrained_run

    return save_untrained_run(out, data_spec, channels, labels, task, arch, size, seed)


def delong_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """(AUC a, AUC b, z, two-sided p) by DeLong's definition: O(m*n) placements, no ranks."""
    from scipy.stats import norm

    y = np.asarray(y).astype(bool)
    aucs, v10, v01 = [], [], []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        pos, neg = s[y], s[~y]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:   # no variance estimate: AUCs only
        return aucs[0], aucs[1], float("nan"), float("nan")
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    z = (aucs[0] - aucs[1]) / np.sqrt(var)
    return aucs[0], aucs[1], float(z), float(2 * norm.sf(abs(z)))


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (the IDAT holds almost nothing)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(600))) + chunk(
        b"IEND", b"")


def train_briefly(out: Path, spec: str, channels: int) -> Path:
    """`gxr train finetune` of a ResNet-18 at 32 px for one epoch on a quarter of the training split."""
    result = run_gxr("train", "finetune", "--data", spec, "--arch", "resnet18", "--channels", str(channels),
                     "--epochs", "1", "--image-size", "32", "--batch-size", "64", "--lr", "1e-3",
                     "--train-fraction", "0.25", "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    return out
