"""The pure training steps: freezing keeps every tensor before the cut bit-identical through real
optimizer steps (BatchNorm running statistics included) while the layers after it learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gxr.core.normalization import Normalization
from gxr.data import open_source
from gxr.nets.factory import create_model
from gxr.train.pipeline import DeviceTransform, SplitPixels
from gxr.train.steps import freeze_until, make_loss, make_optimizer, train_one_epoch
from tests.train.helpers import make_blob_npz, tiny_recipe


@pytest.fixture(scope="module")
def blob_source(tmp_path_factory):
    return open_source(make_blob_npz(tmp_path_factory.mktemp("data") / "blobs.npz"))


def _train_steps(model: torch.nn.Module, source, size: int, images: int = 64) -> None:
    """Two batches of SGD (lr 0.1, momentum) with flips, as the Trainer runs them."""
    split = source.split("train").subset(np.arange(images))
    data = SplitPixels(split, 1, size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(tiny_recipe(optimizer="sgd", lr=0.1), params)
    transform = DeviceTransform(Normalization.default(1), 1, torch.device("cpu"), hflip=True)
    train_one_epoch(model, optimizer, make_loss("binary"), data, transform, task="binary",
                    batch_size=images // 2, seed=0)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


@pytest.mark.parametrize("arch,size,cut", [("resnet18", 32, "layer4"), ("inception_v3", 75, "Mixed_7a")])
def test_freeze_until_keeps_everything_before_the_cut_bit_identical(blob_source, arch, size, cut):
    torch.manual_seed(0)
    model = create_model(arch, 1, 1)
    frozen = freeze_until(model, cut)
    before = _snapshot(model)
    _train_steps(model, blob_source, size)
    after = _snapshot(model)
    names = list(before)
    first_after_cut = next(i for i, key in enumerate(names) if key.startswith(cut + "."))
    early, late = names[:first_after_cut], names[first_after_cut:]
    assert any(key.endswith("running_mean") for key in early) and any(key.endswith("running_var") for key in early)
    for key in early:     # weights, biases, running mean/var and batch counters
        assert torch.equal(before[key], after[key]), key
    learned = [key for key in late if not torch.equal(before[key], after[key])]
    assert frozen == sum(before[key].numel() for key in early if not key.endswith(("running_mean", "running_var",
                                                                                    "num_batches_tracked")))
    assert set(learned) == set(late), sorted(set(late) - set(learned))


def test_without_freezing_the_same_steps_change_the_early_layers(blob_source):
    """The control for the test above: these steps do move conv1 and bn1's running statistics."""
    torch.manual_seed(0)
    model = create_model("resnet18", 1, 1)
    before = _snapshot(model)
    _train_steps(model, blob_source, 32)
    for key in ("conv1.weight", "bn1.running_mean", "bn1.running_var", "layer1.0.bn1.weight"):
        assert not torch.equal(before[key], model.state_dict()[key]), key


def test_freeze_until_an_unknown_layer_names_the_layers():
    with pytest.raises(Exception, match="no such layer.*layer4"):
        freeze_until(create_model("resnet18", 1, 1), "layer9")


def test_rmsprop_is_the_tf_slim_recipe_with_momentum():
    """The paper's recipe (TF-slim): decay 0.9, momentum 0.9, epsilon 1.0; without momentum each step is ~10x
    smaller than meant."""
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = make_optimizer(tiny_recipe(optimizer="rmsprop", lr=0.01), params)
    group = optimizer.param_groups[0]
    assert (group["alpha"], group["momentum"], group["eps"]) == (0.9, 0.9, 1.0)
    steps = []
    for _ in range(5):   # a constant gradient: momentum makes the steps grow towards lr * g / (1 - 0.9) / ...
        before = params[0].detach().clone()
        params[0].grad = torch.ones(3)
        optimizer.step()
        steps.append(float((before - params[0].detach())[0]))
    assert steps[4] > 3 * steps[0] > 0


def test_cosine_schedule_warms_up_then_anneals_to_zero_and_modern_recipe_uses_nesterov():
    from gxr.train.recipes import PretrainRecipe
    from gxr.train.steps import make_scheduler

    recipe = PretrainRecipe.modern(arch="resnet18", image_size=32, epochs=10, lr=0.1)
    assert (recipe.optimizer, recipe.schedule, recipe.warmup_epochs) == ("nesterov", "cosine", 2)
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = make_optimizer(recipe, params)
    assert optimizer.param_groups[0]["nesterov"] and optimizer.param_groups[0]["momentum"] == 0.9
    scheduler = make_scheduler(optimizer, recipe)
    lrs = []
    for _ in range(recipe.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1 / 3) and lrs[1] == pytest.approx(0.2 / 3)      # warm-up: 1/3, 2/3
    assert lrs[2] == pytest.approx(0.1) and lrs[-1] < 0.01
    assert lrs[:3] == sorted(lrs[:3]) and lrs[2:] == sorted(lrs[2:], reverse=True)        # up, then down
    paper = PretrainRecipe.paper(arch="resnet18", image_size=32, epochs=4)
    steps = make_scheduler(make_optimizer(paper, params), paper)
    assert isinstance(steps, torch.optim.lr_scheduler.StepLR) and steps.gamma == 0.94 and steps.step_size == 2


def test_batch_accuracy_counts_the_decisions_scores_count():
    from gxr.train.steps import batch_accuracy

    logits = torch.tensor([[2.0, 0.1, -1.0], [0.0, 3.0, 1.0], [0.5, 0.2, 0.9], [1.0, 0.0, 0.0]])
    assert batch_accuracy(logits, torch.tensor([0.0, 1.0, 0.0, 2.0]), "multiclass") == pytest.approx(0.5)
    binary = torch.tensor([[1.5], [-0.3], [0.2], [-2.0]])
    assert batch_accuracy(binary, torch.tensor([[1.0], [0.0], [0.0], [0.0]]), "binary") == pytest.approx(0.75)
