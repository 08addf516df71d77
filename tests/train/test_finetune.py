"""`gxr train finetune` on real data: outputs, resume, freezing, NIH images, bad input."""

import hashlib
import json

import numpy as np
import pytest
import torch

from gxr.nets.checkpoint import load_model, read_checkpoint
from tests.helpers import assert_one_line_error, expect_cli_error, run_gxr


def test_finetune_writes_metrics_and_self_describing_checkpoint(cli_runs):
    run = cli_runs["gray"]
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("task", "labels", "test", "channels", "arch"):
        assert key in metrics
    assert metrics["task"] == "binary" and metrics["labels"] == ["pneumonia"] and metrics["channels"] == 1
    test = metrics["test"]
    assert set(test["auc"]) == {"pneumonia"} and 0.5 < test["mean_auc"] <= 1.0
    assert 0.0 <= test["accuracy"] <= 1.0 and test["n"] == 624
    payload = read_checkpoint(run / "model.pt")
    for key in ("recipe", "data", "info", "state_dict"):
        assert key in payload
    assert payload["info"]["normalization"]["mean"] and payload["data"]["fingerprint"]
    assert payload["recipe"]["lr"] == 1e-3 and payload["recipe"]["hflip"] is True
    model, info, _ = load_model(run)   # no extra flags needed
    assert info.arch == "resnet18" and info.image_size == 32
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 1)


def test_existing_run_dir_is_not_overwritten(cli_runs, pneumonia_spec):
    run = cli_runs["gray"]
    expect_cli_error("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "32",
                     "--out", str(run), names=run, needles=["already holds a run", "resume it"], watch=[run])


def test_resume_continues_after_the_last_finished_epoch(tmp_path, pneumonia_spec):
    run = tmp_path / "run"
    common = ("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
              "--batch-size", "128", "--train-fraction", "0.1", "--lr", "1e-3", "--out", str(run))
    first = run_gxr(*common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    first_history = json.loads((run / "metrics.json").read_text())["history"]
    stale = run / ".last.pt.8f3k2j.tmp"            # what a run killed while saving leaves behind
    stale.write_bytes(b"\0" * 4096)
    second = run_gxr(*common, "--epochs", "2", "--resume")
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stdout
    assert not stale.exists() and f"removed {stale.name} (4,096 bytes)" in second.stdout
    assert "epoch   1 " not in second.stdout and "epoch   2 " in second.stdout   # epoch 1 is not run again
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0] == first_history[0]          # the saved row, its timings included
    expect_cli_error(*common, "--epochs", "3", "--resume", "--lr", "0.5", names=run, needles=["other settings"],
                     watch=[run])


def test_resume_of_a_finished_run_says_so_and_changes_nothing(cli_runs, pneumonia_spec):
    """Exit 0 with one line; model.pt (and so every export made from it), metrics.json and last.pt keep
    their bytes and modification times."""
    run = cli_runs["color"]
    files = [run / name for name in ("model.pt", "metrics.json", "last.pt")]
    before = [(hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files]
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--channels", "3",
                     "--epochs", "1", "--image-size", "32", "--batch-size", "64", "--lr", "1e-3",
                     "--train-fraction", "0.25", "--out", str(run), "--resume")
    assert result.returncode == 0, result.stderr
    assert "the run is finished" in result.stdout and "nothing was changed" in result.stdout
    assert "train loss" not in result.stdout and result.stderr == ""   # no epoch ran
    assert [(hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files] == before


def test_freeze_until_keeps_the_init_weights_before_the_cut(tmp_path, pneumonia_spec):
    """Through the CLI: every tensor before layer4 in model.pt (BatchNorm statistics included) is the
    --init tensor bit for bit; layer4 and the head trained."""
    from gxr.nets.factory import create_model

    torch.manual_seed(1)
    init = tmp_path / "init.pth"
    torch.save(create_model("resnet18", 1, 1).state_dict(), init)
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
                     "--epochs", "1", "--train-fraction", "0.05", "--freeze-until", "layer4", "--init", str(init),
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "froze 2,776,512 parameters before layer4" in result.stdout
    start, trained = torch.load(init), read_checkpoint(tmp_path / "run" / "model.pt")["state_dict"]
    late = ("layer4.", "fc.")
    for key, value in start.items():
        assert torch.equal(trained[key], value) != key.startswith(late), key
    bad = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
                  "--freeze-until", "layer9", "--out", str(tmp_path / "run2"))
    assert_one_line_error(bad, "no such layer", "layer4", names=None)


@pytest.mark.slow
def test_inception_trains_on_real_nih1000_images(tmp_path, nih_spec):
    result = run_gxr("train", "finetune", "--data", nih_spec, "--arch", "inception_v3", "--channels", "1",
                     "--image-size", "75", "--epochs", "1", "--train-fraction", "0.3", "--out", str(tmp_path / "nih"))
    assert result.returncode == 0, result.stderr
    assert "patients in more than one subset" in result.stdout   # the leaky tar split was replaced
    metrics = json.loads((tmp_path / "nih" / "metrics.json").read_text())
    assert metrics["task"] == "multilabel" and len(metrics["labels"]) == 14
    assert metrics["test"]["n"] == metrics["data"]["sizes"]["test"]
    assert metrics["test"]["accuracy"] is None and metrics["test"]["mean_auc"] is not None
    assert np.isfinite(metrics["history"][0]["train_loss"])


@pytest.mark.parametrize("args,needle", [
    (("--arch", "resnet9000"), "unknown arch 'resnet9000'"),
    (("--channels", "2"), "channels must be 1 (gray) or 3 (color), got 2"),
    (("--arch", "inception_v3", "--image-size", "32"), "needs images of at least 75x75"),
    (("--device", "tpu"), "device must be auto, cpu or cuda"),
    (("--train-fraction", "0"), "train fraction must be in (0, 1]"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, pneumonia_spec, args, needle):
    expect_cli_error("train", "finetune", "--data", pneumonia_spec, "--out", str(tmp_path / "r"), *args, names=None,
                     needles=[needle], watch=[tmp_path])


def test_missing_data_file_and_corrupt_init(tmp_path, pneumonia_spec):
    expect_cli_error("train", "finetune", "--data", f"medmnist:{tmp_path / 'x.npz'}", "--out", str(tmp_path / "r"),
                     names=tmp_path / "x.npz", needles=["npz file not found"], watch=[tmp_path])
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    expect_cli_error("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--init", str(bad),
                     "--out", str(tmp_path / "r"), names=bad, needles=["not a readable PyTorch weight file"],
                     watch=[tmp_path])


def test_corrupt_png_in_training_data_names_the_file(tmp_path):
    from PIL import Image

    for cls in ("normal", "pneumonia"):
        for i in range(8):
            path = tmp_path / "data" / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", (40, 40), 30 * i).save(path)
    for i in range(8):   # truncate every file of one class so whichever split it lands in fails
        bad = tmp_path / "data" / "pneumonia" / f"{i}.png"
        bad.write_bytes(bad.read_bytes()[:50])
    result = run_gxr("train", "finetune", "--data", f"folder:{tmp_path / 'data'}", "--arch", "resnet18",
                     "--image-size", "32", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, ".png: cannot decode image", names=tmp_path / "data" / "pneumonia",
                          stdout_empty=False)   # the data notes come before the failing decode
    assert not (tmp_path / "run" / "model.pt").exists()


def test_torchrun_ddp_two_processes_on_cpu(tmp_path, pneumonia_spec):
    import subprocess
    import sys

    from tests.helpers import REPO

    out = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "gxr", "train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18",
                             "--image-size", "28", "--epochs", "1", "--train-fraction", "0.1", "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("wrote ") == 1       # only rank 0 speaks and writes
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distributed"] == {"world_size": 2, "batch_size_per_process": 32}
    assert metrics["test"]["n"] == 624 and load_model(out)[1].channels == 1


def test_diverged_training_is_a_clear_error(tmp_path, pneumonia_spec):
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
                     "--epochs", "1", "--train-fraction", "0.05", "--lr", "1e30", "--optimizer", "sgd",
                     "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "validation loss was never finite", names=tmp_path / "run",
                          stdout_empty=False)   # the epoch lines before the failure are printed
