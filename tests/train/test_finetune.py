"""`gxr train finetune` on real data: outputs, resume, freezing, NIH images, bad input."""

import json

import numpy as np
import pytest
import torch

from gxr.nets.checkpoint import load_model, read_checkpoint
from tests.helpers import assert_one_line_error, run_gxr


def test_finetune_writes_metrics_and_self_describing_checkpoint(trained_runs):
    run = trained_runs["gray"]
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


def test_existing_run_dir_is_not_overwritten(trained_runs, pneumonia_spec):
    run = trained_runs["gray"]
    before = (run / "model.pt").read_bytes()
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "32",
                     "--out", str(run))
    assert_one_line_error(result, "already holds a run", "--resume")
    assert (run / "model.pt").read_bytes() == before


def test_resume_continues_after_the_last_finished_epoch(tmp_path, pneumonia_spec):
    common = ("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
              "--batch-size", "128", "--train-fraction", "0.1", "--lr", "1e-3", "--out", str(tmp_path / "run"))
    first = run_gxr(*common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    second = run_gxr(*common, "--epochs", "2", "--resume")
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stdout
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    changed = run_gxr(*common[:-2], "--out", str(tmp_path / "run"), "--epochs", "3", "--resume", "--lr", "0.5")
    assert_one_line_error(changed, "other settings")


def test_freeze_until_freezes_earlier_layers(tmp_path, pneumonia_spec):
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
                     "--epochs", "1", "--train-fraction", "0.05", "--freeze-until", "layer4",
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "froze" in result.stdout
    bad = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--image-size", "28",
                  "--freeze-until", "layer9", "--out", str(tmp_path / "run2"))
    assert_one_line_error(bad, "no such layer", "layer4")


def test_freeze_until_keeps_frozen_weights_unchanged():
    from gxr.nets.factory import create_model
    from gxr.train.loop import freeze_until

    model = create_model("inception_v3", 1, 3)
    frozen = freeze_until(model, "Mixed_7a")
    assert frozen > 0
    assert not model.Conv2d_1a_3x3.conv.weight.requires_grad and model.Mixed_7a.branch3x3_1.conv.weight.requires_grad


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
    (("--device", "tpu"), "--device must be auto, cpu or cuda"),
    (("--train-fraction", "0"), "--train-fraction must be in (0, 1]"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, pneumonia_spec, args, needle):
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--out", str(tmp_path / "r"), *args)
    assert_one_line_error(result, needle)
    assert not (tmp_path / "r").exists()


def test_missing_data_file_and_corrupt_init(tmp_path, pneumonia_spec):
    assert_one_line_error(run_gxr("train", "finetune", "--data", f"medmnist:{tmp_path / 'x.npz'}", "--out",
                                  str(tmp_path / "r")), "x.npz: npz file not found")
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    result = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--init", str(bad),
                     "--out", str(tmp_path / "r"))
    assert_one_line_error(result, "weights.pth: not a readable PyTorch weight file")


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
    assert_one_line_error(result, "pneumonia/", ".png: cannot decode image")
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
    assert_one_line_error(result, "validation loss was never finite")
