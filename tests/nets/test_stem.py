"""Stem identities on every architecture, with non-trivial BatchNorm statistics."""

import pytest
import torch
from torch import nn

from gxr.nets import ARCHS
from gxr.nets.convert import identity_check
from gxr.nets.factory import classifier, create_model
from gxr.nets.stem import adapt_stem_weight, convert_state_dict

REL_TOL = 1e-5


def _randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return model.eval()


def _size(arch: str) -> int:
    return max(ARCHS[arch][1], 64)


def _converted(model: nn.Module, arch: str, to_channels: int, mode: str = "sum") -> nn.Module:
    new = create_model(arch, to_channels, 5)
    new.load_state_dict(convert_state_dict(model.state_dict(), arch, to_channels, mode))
    return new.eval()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_color_to_gray_sum_is_exact_on_replicated_gray(arch):
    torch.manual_seed(0)
    color = _randomize_batchnorm(create_model(arch, 3, 5))
    gray = _converted(color, arch, 1)
    max_abs, max_rel = identity_check(color, gray, 3, _size(arch), n=2)
    assert max_rel < REL_TOL, (arch, max_abs, max_rel)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_gray_to_color_luma_split_is_exact_on_color_vs_its_luma(arch):
    torch.manual_seed(1)
    gray = _randomize_batchnorm(create_model(arch, 1, 5), seed=1)
    color = _converted(gray, arch, 3)
    max_abs, max_rel = identity_check(gray, color, 1, _size(arch), n=2)
    assert max_rel < REL_TOL, (arch, max_abs, max_rel)


def test_identity_check_detects_a_wrong_conversion():
    torch.manual_seed(2)
    color = _randomize_batchnorm(create_model("resnet18", 3, 5))
    wrong = create_model("resnet18", 1, 5)
    state = convert_state_dict(color.state_dict(), "resnet18", 1)
    state["conv1.weight"] = state["conv1.weight"] * 1.1
    wrong.load_state_dict(state)
    _, max_rel = identity_check(color, wrong.eval(), 3, 64, n=2)
    assert max_rel > 1e-3


def test_luma_mode_differs_from_sum_and_keeps_scale():
    w = torch.randn(8, 3, 3, 3)
    luma = adapt_stem_weight(w, 1, "luma")
    summed = adapt_stem_weight(w, 1, "sum")
    assert luma.shape == summed.shape == (8, 1, 3, 3)
    assert not torch.allclose(luma, summed)
    same = torch.ones(8, 3, 3, 3)   # equal channels: both modes agree
    assert torch.allclose(adapt_stem_weight(same, 1, "luma"), adapt_stem_weight(same, 1, "sum"))


def test_gray_color_gray_round_trip_is_exact():
    w = torch.randn(16, 1, 7, 7)
    back = adapt_stem_weight(adapt_stem_weight(w, 3), 1)
    torch.testing.assert_close(back, w, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_factory_builds_every_arch_with_both_stems(arch):
    for channels in (1, 3):
        model = create_model(arch, channels, 4).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, channels, _size(arch), _size(arch)))
        assert out.shape == (1, 4)


@pytest.mark.parametrize("arch", ["resnet18", "inception_v3", "mobilenet_v2"])
def test_gray_and_color_models_of_one_seed_start_from_the_same_init(arch):
    """Gray and color differ only in the stem, and the gray stem is the channel sum of the color stem, so at
    initialisation the gray model on a gray image equals the color model on that image replicated to 3 channels."""
    torch.manual_seed(7)
    gray = create_model(arch, 1, 4)
    torch.manual_seed(7)
    color = create_model(arch, 3, 4)
    stem = ARCHS[arch][0] + ".weight"
    g, c = gray.state_dict(), color.state_dict()
    assert torch.equal(g[stem], c[stem].sum(dim=1, keepdim=True))
    assert g[stem].std() > 0 and not torch.equal(c[stem][:, 0], c[stem][:, 1])   # a real init, not zeros or copies
    assert set(g) == set(c) and all(torch.equal(g[k], c[k]) for k in g if k != stem)
    torch.manual_seed(8)
    assert not torch.equal(create_model(arch, 3, 4).state_dict()[stem], c[stem])   # the seed matters
    size = _size(arch)
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():   # untrained BatchNorm lets activations grow (to ~1e7 in Inception): compare to scale
        a, b = gray.eval()(x), color.eval()(x.repeat(1, 3, 1, 1))
    assert float((a - b).abs().max()) <= REL_TOL * float(b.abs().max())


@pytest.mark.parametrize("arch", ["resnet18", "inception_v3", "alexnet"])
def test_zero_head_starts_the_classifier_at_zero_and_keeps_the_rest_of_the_init(arch):
    torch.manual_seed(3)
    plain = create_model(arch, 1, 5)
    torch.manual_seed(3)
    zeroed = create_model(arch, 1, 5, zero_head=True)
    head = classifier(zeroed)
    assert head.out_features == 5 and not head.weight.any() and not head.bias.any()
    assert classifier(plain).weight.abs().sum() > 0
    names = {n for n, p in zeroed.named_parameters() if p is head.weight or p is head.bias}
    p, z = plain.state_dict(), zeroed.state_dict()
    assert len(names) == 2 and all(torch.equal(p[k], z[k]) for k in p if k not in names)
    with torch.no_grad():
        logits = zeroed.eval()(torch.rand(2, 1, _size(arch), _size(arch)))
    assert not logits.any()    # the first logits are all 0, however large the backbone's activations
