"""The Trainer in-process on generated data: construction touches nothing, a run's results are checked
independently, resume continues exactly where it stopped, a finished run is left alone, stale temp files
are cleaned, and the distributed context always tears the process group down."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gxr.core.errors import GxrError
from gxr.nets.checkpoint import load_model
from gxr.train import run_training
from gxr.train.distributed import distributed
from gxr.train.report import Reporter
from gxr.train.trainer import Trainer
from tests.train.helpers import SIZES, auc_by_ranks, file_stamp, make_blob_npz, tiny_recipe

TIMING = ("seconds", "train_images_per_s")


@pytest.fixture(scope="module")
def blob_spec(tmp_path_factory) -> str:
    return make_blob_npz(tmp_path_factory.mktemp("data") / "blobs.npz")


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory, blob_spec):
    """A finished 1-epoch run: (run dir, the returned metrics, the reporter)."""
    out = tmp_path_factory.mktemp("runs") / "one"
    reporter = Reporter()
    metrics = run_training(tiny_recipe(), blob_spec, out, reporter=reporter)
    return out, metrics, reporter


_TRACKING: list[list[Path]] = []   # the open-file log of the test that is listening, if any


def _record_opens(event: str, args: tuple) -> None:
    """Audit hook (hooks cannot be removed, so it listens only while a test has a log in _TRACKING)."""
    if _TRACKING and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _TRACKING[-1].append(Path(os.fsdecode(args[0])).resolve())


def test_constructing_a_trainer_opens_nothing(tmp_path, blob_spec, monkeypatch):
    """Construction records its arguments: no file opened (data, init weights), no data source or model
    made, nothing written. build() then does each of these, which shows the spies would have seen them."""
    import gxr.train.trainer as trainer_module
    from gxr.nets.factory import create_model

    data_file = Path(blob_spec.partition(":")[2]).resolve()
    init = tmp_path / "init.pth"
    torch.save(create_model("resnet18", 1, 1).state_dict(), init)
    made: list[str] = []
    for name in ("open_source", "create_model"):
        real = getattr(trainer_module, name)
        monkeypatch.setattr(trainer_module, name, lambda *a, _real=real, _name=name, **k: made.append(_name)
                            or _real(*a, **k))
    opened: list[Path] = []
    sys.addaudithook(_record_opens)
    _TRACKING.append(opened)
    try:
        out = tmp_path / "run"
        trainer = Trainer(tiny_recipe(), blob_spec, out, init=init)
        assert opened == [] and made == [] and not out.exists()
        trainer.build()
    finally:
        _TRACKING.remove(opened)
    assert {data_file, init.resolve()} <= set(opened) and made == ["open_source", "create_model"]
    missing = Trainer(tiny_recipe(), f"medmnist:{tmp_path / 'missing.npz'}", tmp_path / "other")
    with pytest.raises(GxrError, match="missing.npz: npz file not found"):   # checked by build(), not before
        missing.build()
    assert not (tmp_path / "other").exists()


def test_a_run_reports_what_it_writes_and_its_auc_checks_out(one_epoch_run, blob_spec):
    out, metrics, reporter = one_epoch_run
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert reporter.metrics is metrics and reporter.rows == metrics["history"] and len(reporter.rows) == 1
    assert any(text.startswith("wrote ") for _, text in reporter.notes)
    # independent check: the saved best weights, the host normalization and a rank AUC
    model, info, _ = load_model(out)
    data = np.load(blob_spec.partition(":")[2])
    pixels, labels = data["test_images"][:, None], data["test_labels"][:, 0].astype(bool)
    with torch.no_grad():
        scores = model(torch.from_numpy(info.norm.apply(pixels)))[:, 0].numpy()
    assert metrics["test"]["n"] == SIZES["test"]
    assert metrics["test"]["auc"]["class_1"] == pytest.approx(auc_by_ranks(scores, labels), abs=1e-9)


def test_resume_continues_after_the_saved_epoch_exactly(tmp_path, blob_spec):
    straight = run_training(tiny_recipe(epochs=2, patience=5), blob_spec, tmp_path / "straight")
    first = run_training(tiny_recipe(epochs=1, patience=5), blob_spec, tmp_path / "resumed")
    reporter = Reporter()
    second = run_training(tiny_recipe(epochs=2, patience=5), blob_spec, tmp_path / "resumed", resume=True,
                          reporter=reporter)
    assert [row["epoch"] for row in reporter.rows] == [2]                 # epoch 1 was not run again
    assert second["history"][0] == first["history"][0]                    # timings included: the saved row
    for key in set(second["history"][1]) - set(TIMING):                   # and epoch 2 is the uninterrupted one
        assert second["history"][1][key] == pytest.approx(straight["history"][1][key], rel=1e-5, abs=1e-7), key
    resumed, _, _ = load_model(tmp_path / "resumed")
    uninterrupted, _, _ = load_model(tmp_path / "straight")
    for key, value in uninterrupted.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-4, atol=1e-6, msg=key)


def test_resuming_a_finished_run_changes_nothing(one_epoch_run, blob_spec):
    out, metrics, _ = one_epoch_run
    files = [out / name for name in ("model.pt", "metrics.json", "last.pt")]
    before = [file_stamp(path) for path in files]
    reporter = Reporter()
    again = run_training(tiny_recipe(), blob_spec, out, resume=True, reporter=reporter)
    assert [file_stamp(path) for path in files] == before
    assert again["test"] == json.loads(json.dumps(metrics["test"])) and reporter.rows == []
    assert any("the run is finished" in text and "nothing was changed" in text for _, text in reporter.notes)


def test_stale_temp_files_are_removed_on_the_next_run_and_said(tmp_path, blob_spec):
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".last.pt.k2j3h4.tmp", out / ".model.pt.abc.tmp", out / ".metrics.json.x1.tmp"]
    for path in stale:
        path.write_bytes(b"\0" * 1000)
    unrelated = out / ".notes.txt.tmp"
    unrelated.write_text("not gxr's")
    reporter = Reporter()
    run_training(tiny_recipe(), blob_spec, out, reporter=reporter)
    assert not any(path.exists() for path in stale) and unrelated.exists()
    removed = [text for kind, text in reporter.notes if text.startswith("removed ")]
    assert len(removed) == 3 and all("1,000 bytes" in text for text in removed)
    assert {path.name for path in stale} == {text.split()[1] for text in removed}


def test_stale_temp_files_are_removed_on_resume(tmp_path, blob_spec):
    out = tmp_path / "run"
    run_training(tiny_recipe(epochs=1, patience=5), blob_spec, out)
    stale = out / ".last.pt.q9w8e7.tmp"
    stale.write_bytes(b"\0" * 10)
    reporter = Reporter()
    run_training(tiny_recipe(epochs=2, patience=5), blob_spec, out, resume=True, reporter=reporter)
    assert not stale.exists() and any(stale.name in text for _, text in reporter.notes)


def test_a_refused_resume_removes_nothing(tmp_path, blob_spec):
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.zz.tmp"
    stale.write_bytes(b"\0")
    with pytest.raises(GxrError, match="nothing to resume"):
        run_training(tiny_recipe(), blob_spec, out, resume=True)
    assert stale.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_distributed_context_always_destroys_the_process_group(monkeypatch):
    import torch.distributed as dist

    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    with distributed("cpu") as ctx:
        assert dist.is_initialized() and ctx.is_main and not ctx.enabled
    assert not dist.is_initialized()
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    with pytest.raises(RuntimeError, match="boom"):
        with distributed("cpu"):
            assert dist.is_initialized()
            raise RuntimeError("boom")
    assert not dist.is_initialized()
    monkeypatch.delenv("RANK")
    with distributed("cpu") as ctx:   # not launched by torchrun: nothing is started
        assert not dist.is_initialized() and ctx.world_size == 1
