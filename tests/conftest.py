"""Shared fixtures: the real data root and small models trained once per session on real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    from gxr.data import data_root

    root = data_root()
    if root is None or not root.is_dir():
        pytest.fail("real data not found: set GXR_DATA or place the shared data folder at ../shared/data")
    return root


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _data_root()


@pytest.fixture(scope="session")
def pneumonia_spec(data_root) -> str:
    return f"medmnist:{data_root / 'pneumoniamnist.npz'}"


@pytest.fixture(scope="session")
def nih_spec(data_root) -> str:
    return f"nih:{data_root / 'nih'}"


def run_gxr(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `gxr` console entry point in a subprocess (what users see, exit codes included)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gxr", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=900)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in err and "Traceback" not in result.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


def _train(tmp_root: Path, spec: str, channels: int, name: str, arch: str = "resnet18", size: int = 32,
           extra: tuple[str, ...] = ()) -> Path:
    out = tmp_root / name
    result = run_gxr("train", "finetune", "--data", spec, "--arch", arch, "--channels", str(channels),
                     "--epochs", "1", "--image-size", str(size), "--batch-size", "64", "--lr", "1e-3",
                     "--train-fraction", "0.25", "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr + result.stdout
    return out


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, pneumonia_spec) -> dict[str, Path]:
    """Gray and color ResNet-18 run dirs fine-tuned briefly on real PneumoniaMNIST."""
    root = tmp_path_factory.mktemp("runs")
    return {"gray": _train(root, pneumonia_spec, 1, "gray"), "color": _train(root, pneumonia_spec, 3, "color")}


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_runs) -> dict[str, Path]:
    """Both runs exported with --input uint8 into one repository."""
    repo = tmp_path_factory.mktemp("models")
    out = {}
    for key, run in trained_runs.items():
        result = run_gxr("export", str(run), "--repo", str(repo), "--name", key, "--input", "uint8")
        assert result.returncode == 0, result.stderr + result.stdout
        out[key] = repo / key / "1"
    return out


@pytest.fixture(scope="session")
def low_precision(tmp_path_factory, trained_runs) -> dict[str, Path]:
    """The gray run exported three ways into one repository: FP32 (uint8 input), INT8 Q/DQ (uint8 input,
    calibrated on 32 real training images) and FP16 (float input, so its FP32 I/O shows)."""
    repo = tmp_path_factory.mktemp("lowp")
    out = {}
    for key, extra in {"fp32": ("--input", "uint8"), "int8": ("--input", "uint8", "--calib-count", "32"),
                       "fp16": ("--input", "float")}.items():
        result = run_gxr("export", str(trained_runs["gray"]), "--repo", str(repo), "--name", f"gray-{key}",
                         "--precision", key, *extra)
        assert result.returncode == 0, result.stderr + result.stdout
        out[key] = repo / f"gray-{key}" / "1"
    return out
