"""Runs trained through the real CLI (`gxr train finetune` in a subprocess), for the training contract:
metrics.json, last.pt, refusing to overwrite, resuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_gxr


def _train(out: Path, spec: str, channels: int) -> Path:
    result = run_gxr("train", "finetune", "--data", spec, "--arch", "resnet18", "--channels", str(channels),
                     "--epochs", "1", "--image-size", "32", "--batch-size", "64", "--lr", "1e-3",
                     "--train-fraction", "0.25", "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    return out


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory, pneumonia_spec) -> dict[str, Path]:
    """Gray and color ResNet-18 runs fine-tuned for one epoch on real PneumoniaMNIST through the CLI."""
    root = tmp_path_factory.mktemp("cli-runs")
    return {"gray": _train(root / "gray", pneumonia_spec, 1), "color": _train(root / "color", pneumonia_spec, 3)}
