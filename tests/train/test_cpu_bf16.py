"""--cpu-bf16: the training steps run convolutions in bf16 on channels-last tensors, while validation and test
logits stay fp32 (scores come from full-precision logits); a CPU without native bf16 trains in fp32 and says so."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gxr.core.normalization import Normalization
from gxr.data import open_source
from gxr.nets.checkpoint import load_model
from gxr.nets.factory import create_model
from gxr.train import run_training, steps
from gxr.train.pipeline import DeviceTransform, SplitPixels
from gxr.train.report import Reporter
from tests.train.helpers import make_blob_npz, tiny_recipe


@pytest.fixture(scope="module")
def blob_spec(tmp_path_factory) -> str:
    return make_blob_npz(tmp_path_factory.mktemp("data") / "blobs.npz")


class Seen:
    """Records the dtype and memory format of what conv1 receives and returns."""

    def __init__(self, model: torch.nn.Module):
        self.calls: list[tuple[torch.dtype, torch.dtype, bool]] = []
        model.conv1.register_forward_hook(self._hook)

    def _hook(self, _module, inputs, output) -> None:
        x = inputs[0]
        self.calls.append((x.dtype, output.dtype, x.is_contiguous(memory_format=torch.channels_last)
                           and not x.is_contiguous()))


def test_train_steps_run_in_bf16_channels_last_and_evaluation_in_fp32(blob_spec):
    torch.manual_seed(0)
    source = open_source(blob_spec)
    # a color model: with one channel, channels-last and contiguous are the same layout
    model = create_model("resnet18", 3, 1).to(memory_format=torch.channels_last)
    seen = Seen(model)
    data = SplitPixels(source.split("train").subset(np.arange(64)), 3, 32)
    transform = DeviceTransform(Normalization.default(3), 3, torch.device("cpu"), hflip=True)
    optimizer = steps.make_optimizer(tiny_recipe(optimizer="sgd", lr=0.1), model.parameters())
    before = model.fc.weight.detach().clone()
    trained = steps.train_one_epoch(model, optimizer, steps.make_loss("binary"), data, transform, task="binary",
                                    batch_size=32, seed=0, cpu_bf16=True)
    assert seen.calls == [(torch.float32, torch.bfloat16, True)] * 2   # autocast casts inside the conv
    assert np.isfinite(trained["train_loss"]) and not torch.equal(before, model.fc.weight)
    assert all(p.dtype == torch.float32 for p in model.parameters())   # master weights stay fp32
    seen.calls.clear()
    logits, _ = steps.predict_logits(model, data, transform, batch_size=64)
    assert logits.dtype == np.float32 and seen.calls == [(torch.float32, torch.float32, False)]
    # the same weights evaluated contiguously give the same fp32 logits: channels-last changes no result
    plain = create_model("resnet18", 3, 1)
    plain.load_state_dict(model.state_dict())
    np.testing.assert_allclose(steps.predict_logits(plain, data, transform, batch_size=64)[0], logits,
                               rtol=1e-4, atol=1e-4)


def test_without_cpu_bf16_the_training_steps_stay_fp32(blob_spec):
    torch.manual_seed(0)
    model = create_model("resnet18", 1, 1)
    seen = Seen(model)
    data = SplitPixels(open_source(blob_spec).split("train").subset(np.arange(32)), 1, 32)
    transform = DeviceTransform(Normalization.default(1), 1, torch.device("cpu"))
    steps.train_one_epoch(model, steps.make_optimizer(tiny_recipe(), model.parameters()), steps.make_loss("binary"),
                          data, transform, task="binary", batch_size=32, seed=0)
    assert seen.calls == [(torch.float32, torch.float32, False)]


@pytest.mark.parametrize("native", [True, False])
def test_a_run_says_how_it_trained_and_writes_a_plain_fp32_model(tmp_path, blob_spec, monkeypatch, native):
    monkeypatch.setattr(steps, "cpu_has_native_bf16", lambda: native)
    reporter = Reporter()
    metrics = run_training(tiny_recipe(cpu_bf16=True), blob_spec, tmp_path / "run", reporter=reporter)
    notes = [text for _kind, text in reporter.notes]
    said = [n for n in notes if "bf16" in n]
    if native:
        assert said == ["training steps in bf16 autocast, channels-last (CPU); validation and test in fp32"]
    else:
        assert said == ["--cpu-bf16: this device has no native bf16; training in fp32"]
        assert ("warning", said[0]) in reporter.notes
    assert metrics["recipe"]["cpu_bf16"] is True and np.isfinite(metrics["test"]["mean_auc"])
    model, _info, _payload = load_model(tmp_path / "run" / "model.pt")
    assert all(p.dtype == torch.float32 for p in model.state_dict().values() if p.is_floating_point())
