"""`--init` weight files with stem conversion, and `gxr convert` round trips."""

import torch

from gxr.core.modelinfo import ModelInfo
from gxr.nets.checkpoint import load_model, save_model
from gxr.nets.factory import create_model, load_init_weights
from tests.helpers import assert_one_line_error, expect_cli_error, run_gxr


def test_init_from_torchvision_imagenet_layout_converts_stem_and_skips_head(tmp_path):
    imagenet_like = create_model("resnet18", 3, 1000)          # a torchvision-format 1000-class file
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(imagenet_like.state_dict(), path)
    from gxr.nets.factory import read_weight_file

    gray = create_model("resnet18", 1, 2)
    notes = load_init_weights(gray, "resnet18", read_weight_file(path), str(path))
    assert any("stem conv1.weight: converted 3 -> 1 channels (sum)" in n for n in notes)
    assert any(n.startswith("skipped fc.weight") for n in notes)
    torch.testing.assert_close(gray.conv1.weight, imagenet_like.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(gray.layer4[1].conv2.weight, imagenet_like.layer4[1].conv2.weight)
    luma = create_model("resnet18", 1, 2)
    load_init_weights(luma, "resnet18", read_weight_file(path), str(path), stem_mode="luma")
    luma_weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close(luma.conv1.weight, 3 * (imagenet_like.conv1.weight * luma_weights).sum(1, keepdim=True))


def test_init_with_weights_of_another_arch_is_refused(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save(create_model("alexnet", 3, 10).state_dict(), path)
    result = run_gxr("train", "finetune", "--data", "medmnist:/nonexistent.npz", "--arch", "resnet18",
                     "--init", str(path), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, names="/nonexistent.npz")   # data is checked first; the init check is below
    from gxr.core.errors import GxrError
    from gxr.nets.factory import read_weight_file

    try:
        load_init_weights(create_model("resnet18", 1, 2), "resnet18", read_weight_file(path), str(path))
    except GxrError as exc:
        assert "do not fit resnet18" in str(exc)
    else:
        raise AssertionError("mismatched weights were accepted")


def test_convert_cli_round_trips_gray_color_gray(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet18", 1, 3).eval()
    info = ModelInfo("resnet18", 1, 64, "multiclass", ["a", "b", "c"])
    save_model(tmp_path / "gray.pt", model, info)
    to_color = run_gxr("convert", str(tmp_path / "gray.pt"), "--channels", "3", "--out", str(tmp_path / "color.pt"))
    assert to_color.returncode == 0, to_color.stderr
    assert "max rel diff" in to_color.stdout
    back = run_gxr("convert", str(tmp_path / "color.pt"), "--channels", "1", "--out", str(tmp_path / "back.pt"))
    assert back.returncode == 0, back.stderr
    color, color_info, payload = load_model(tmp_path / "color.pt")
    assert color_info.channels == 3 and payload["conversions"][-1]["max_rel_diff"] < 1e-5
    restored, restored_info, restored_payload = load_model(tmp_path / "back.pt")
    assert restored_info.channels == 1 and len(restored_payload["conversions"]) == 2
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=1e-6, atol=1e-6)


def test_convert_refuses_same_channel_count(tmp_path):
    save_model(tmp_path / "gray.pt", create_model("resnet18", 1, 1),
               ModelInfo("resnet18", 1, 64, "binary", ["pos"], ["neg", "pos"]))
    expect_cli_error("convert", str(tmp_path / "gray.pt"), "--channels", "1", "--out", str(tmp_path / "x.pt"),
                     names=tmp_path / "gray.pt", needles=["already has 1 channel"], watch=[tmp_path])
