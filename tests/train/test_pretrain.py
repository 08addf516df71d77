"""`gxr train pretrain`: the paper's recipe, device-side augmentation, Luma after augmentation, and the
pretrain -> finetune hand-over (with stem conversion) on real Imagenette / PneumoniaMNIST."""

import json

import numpy as np
import pytest
import torch

from gxr.core.errors import GxrError
from gxr.core.normalization import Normalization
from gxr.core.preprocess import to_model_pixels
from gxr.data import open_source
from gxr.train.pipeline import DeviceTransform, decode_size, random_resized_crop
from gxr.train.recipes import PretrainRecipe
from tests.helpers import run_gxr


def test_pretrain_recipe_defaults_follow_the_paper():
    r = PretrainRecipe()
    assert (r.optimizer, r.lr, r.lr_decay, r.lr_decay_epochs, r.batch_size) == ("rmsprop", 0.01, 0.94, 2, 64)
    assert r.luma_after_augment and r.random_resized_crop and r.hflip


def test_modern_recipe_trains_inception_with_adam_and_a_zero_head_and_keeps_other_hashes():
    """Inception-V3 does not learn with Nesterov SGD (bench/results/cpu-2vcpu-inception-96px-pretrain-probes.json):
    the modern recipe gives it Adam 1e-3 and a zero classifier; other archs, and explicit options, are unchanged."""
    from gxr.study.stages import settings_hash

    inception = PretrainRecipe.modern(arch="inception_v3", image_size=96)
    assert (inception.optimizer, inception.lr, inception.zero_init_head) == ("adam", 1e-3, True)
    assert inception.to_dict()["zero_init_head"] is True
    assert (inception.schedule, inception.warmup_epochs, inception.label_smoothing) == ("cosine", 2, 0.1)
    chosen = PretrainRecipe.modern(arch="inception_v3", optimizer="nesterov", lr=0.02, zero_init_head=False)
    assert (chosen.optimizer, chosen.lr, chosen.zero_init_head) == ("nesterov", 0.02, False)
    resnet = PretrainRecipe.modern(arch="resnet18", image_size=96)
    assert (resnet.optimizer, resnet.lr, resnet.zero_init_head) == ("nesterov", 0.05, False)
    # a field added later is left out at its default: runs recorded before it keep their settings hash
    assert "zero_init_head" not in resnet.to_dict() and PretrainRecipe.from_dict(resnet.to_dict()) == resnet
    assert PretrainRecipe.from_dict(inception.to_dict()) == inception
    # the hash this recipe had before zero_init_head existed (computed with the recipes.py of commit 8395419)
    assert settings_hash({"recipe": resnet.to_dict()}) == "1c15d22469c5ab80"
    assert settings_hash({"recipe": inception.to_dict()}) != settings_hash(
        {"recipe": PretrainRecipe.modern(arch="inception_v3", image_size=96, zero_init_head=False).to_dict()})


def test_random_resized_crop_degenerates_to_identity_and_flip():
    x = torch.rand(3, 2, 16, 16)
    gen = torch.Generator().manual_seed(0)
    same = random_resized_crop(x, gen, hflip=False, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, x, rtol=0, atol=1e-5)
    flipped = [random_resized_crop(x[i:i + 1], torch.Generator().manual_seed(s), True, (1.0, 1.0), (1.0, 1.0))
               for i, s in ((0, 1), (0, 2), (0, 3), (0, 4))]
    assert any(torch.allclose(f, x[:1].flip(-1), atol=1e-5) for f in flipped)
    out = random_resized_crop(x, gen, hflip=True)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_luma_after_augmentation_matches_pil_gray(data_root):
    source = open_source(f"folder:{data_root / 'imagenette' / 'imagenette_96px_q85.zip'}")
    img = source.split("train").images.open(0).convert("RGB")
    rgb = torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())[None]
    gray_pil = torch.from_numpy(np.asarray(img.convert("L")).copy())[None, None]
    norm = Normalization.default(1)
    t = DeviceTransform(norm, 1, torch.device("cpu"))
    from_rgb, from_gray = t(rgb), t(gray_pil)
    # PIL rounds Luma to uint8: at most half a grey level apart, in normalized units
    assert (from_rgb - from_gray).abs().max() <= 0.5 / 255 / norm.std[0] + 1e-6


def test_imagenet_zip_source_uses_val_as_test(data_root):
    source = open_source(f"folder:{data_root / 'imagenette' / 'imagenette_96px_q85.zip'}")
    assert source.task == "multiclass" and len(source.labels) == 10
    sizes = {k: len(v) for k, v in source.splits.items()}
    assert sizes["test"] == 3925 and sizes["train"] + sizes["val"] == 9469


def test_pretrain_gray_then_finetune_color_with_stem_conversion(tmp_path, data_root, pneumonia_spec):
    zip_spec = f"folder:{data_root / 'imagenette' / 'imagenette_96px_q85.zip'}"
    pre = run_gxr("train", "pretrain", "--data", zip_spec, "--arch", "resnet18", "--channels", "1",
                  "--image-size", "32", "--epochs", "3", "--train-fraction", "0.03", "--out", str(tmp_path / "pre"))
    assert pre.returncode == 0, pre.stderr
    metrics = json.loads((tmp_path / "pre" / "metrics.json").read_text())
    assert metrics["kind"] == "pretrain" and len(metrics["labels"]) == 10 and metrics["test"]["n"] == 3925
    lrs = [row["lr"] for row in metrics["history"]]
    np.testing.assert_allclose(lrs, [0.01, 0.01, 0.0094])   # x0.94 every 2 epochs
    fine = run_gxr("train", "finetune", "--data", pneumonia_spec, "--arch", "resnet18", "--channels", "3",
                   "--image-size", "28", "--epochs", "1", "--train-fraction", "0.05",
                   "--init", str(tmp_path / "pre" / "model.pt"), "--out", str(tmp_path / "fine"))
    assert fine.returncode == 0, fine.stderr
    assert "converted 1 -> 3 channels" in fine.stdout and "skipped fc.weight" in fine.stdout


def test_modern_recipe_crops_from_a_larger_decode_and_evaluates_on_the_centre():
    r = PretrainRecipe.modern(arch="resnet18", image_size=96)
    assert (r.crop_scale, r.crop_ratio, decode_size(96, r.crop_ratio), decode_size(96, 1.0)) == (0.35, 0.875, 110, 96)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).view(2, 3, 6, 6)
    t = DeviceTransform(Normalization(mean=(0.0,), std=(1.0,)), 3, torch.device("cpu"), hflip=True, crop=True,
                        size=4, crop_scale=0.35)
    torch.testing.assert_close(t(x), x[:, :, 1:5, 1:5].float() / 255)           # evaluation: the centre crop
    train = t(x, train=True, generator=torch.Generator().manual_seed(0))
    assert train.shape == (2, 3, 4, 4) and torch.isfinite(train).all()       # training: crops resized to 4 x 4
    with pytest.raises(GxrError, match="crop ratio"):
        PretrainRecipe.modern(arch="resnet18", image_size=96, crop_ratio=1.2).validate()


def test_score_run_evaluates_as_the_recipe_did(tmp_path, nih_runs, nih_spec):
    from gxr.nets.checkpoint import load_model
    from gxr.study.evaluation import split_scores
    from gxr.train.scoring import score_run

    whole = score_run(nih_runs["gray"], nih_spec, "test")
    runtime = split_scores(nih_runs["gray"], nih_spec, "test", "cpu")    # the production path
    np.testing.assert_allclose(whole.logits, runtime.logits, rtol=1e-4, atol=1e-4)
    payload = torch.load(nih_runs["gray"] / "model.pt", weights_only=True)
    payload["recipe"] = {**payload["recipe"], "crop_ratio": 0.8}
    torch.save(payload, tmp_path / "model.pt")
    cropped = score_run(tmp_path, nih_spec, "test")
    model, info, _ = load_model(tmp_path)
    images = open_source(nih_spec).split("test").images
    pixels = torch.from_numpy(np.stack([to_model_pixels(images.open(i), 1, 40) for i in range(4)]))
    x = (pixels[:, :, 4:36, 4:36].float() / 255 - info.norm.mean[0]) / info.norm.std[0]
    with torch.no_grad():
        np.testing.assert_allclose(cropped.logits[:4], model(x).numpy(), rtol=1e-4, atol=1e-4)
    assert not np.allclose(cropped.logits, whole.logits, atol=1e-3)
