"""Fixtures: the real data root, tiny in-process models (random ResNet-18 at 32 px saved with the checkpoint
writer) and their ONNX exports. Helpers (the CLI runner, error contract, snapshots) live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_gxr, tiny_run, train_briefly


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


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, pneumonia_spec) -> dict[str, Path]:
    """Gray and color ResNet-18 runs (random weights, realistic BatchNorm statistics) for real
    PneumoniaMNIST, written with the checkpoint writer in-process."""
    root = tmp_path_factory.mktemp("runs")
    return {key: tiny_run(root / key, pneumonia_spec, channels, ["pneumonia"], "binary", seed=channels)
            for key, channels in (("gray", 1), ("color", 3))}


@pytest.fixture(scope="session")
def nih_runs(tmp_path_factory, nih_spec) -> dict[str, Path]:
    """Gray and color 14-label ResNet-18 runs for the real NIH images (multi-label)."""
    from gxr.data.nih import NIH_LABELS

    root = tmp_path_factory.mktemp("nih-runs")
    return {key: tiny_run(root / key, nih_spec, channels, list(NIH_LABELS), "multilabel", seed=channels)
            for key, channels in (("gray", 1), ("color", 3))}


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_runs) -> dict[str, Path]:
    """Both runs exported with uint8 input into one repository (in-process)."""
    from gxr.export.onnx_export import export_model
    from gxr.export.options import ExportOptions

    repo = tmp_path_factory.mktemp("models")
    return {key: export_model(run, repo, ExportOptions(name=key, input_dtype="uint8"))[0]
            for key, run in trained_runs.items()}


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory, pneumonia_spec) -> dict[str, Path]:
    """Gray and color ResNet-18 runs fine-tuned for one epoch on real PneumoniaMNIST through the CLI (the
    training contract, and models whose AUC means something for low-precision gates)."""
    root = tmp_path_factory.mktemp("cli-runs")
    return {key: train_briefly(root / key, pneumonia_spec, channels) for key, channels in (("gray", 1), ("color", 3))}


@pytest.fixture(scope="session")
def low_precision(tmp_path_factory, cli_runs) -> dict[str, Path]:
    """The trained gray run exported three ways into one repository: FP32 (uint8 input), INT8 Q/DQ (uint8 input,
    calibrated on 32 real training images) and FP16 (float input, so its FP32 I/O shows)."""
    repo = tmp_path_factory.mktemp("lowp")
    out = {}
    for key, extra in {"fp32": ("--input", "uint8"), "int8": ("--input", "uint8", "--calib-count", "32"),
                       "fp16": ("--input", "float")}.items():
        result = run_gxr("export", str(cli_runs["gray"]), "--repo", str(repo), "--name", f"gray-{key}",
                         "--precision", key, *extra)
        assert result.returncode == 0, result.stderr + result.stdout
        out[key] = repo / f"gray-{key}" / "1"
    return out
