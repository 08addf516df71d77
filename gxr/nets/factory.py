"""Build torchvision architectures with any stem width and head size, and load weight files into them."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.models as tvm
from torch import nn

from gxr.core.errors import GxrError, one_line
from gxr.nets import ARCHS, check_arch, check_channels
from gxr.nets.stem import adapt_stem_weight, get_stem, replace_stem


def _inception_v3(num_classes: int) -> nn.Module:
    # No aux head (the paper evaluates the main head) and no `transform_input`, which assumes RGB input.
    return tvm.inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=True,
                            num_classes=num_classes)


_BUILDERS = {
    "inception_v3": _inception_v3,
    "densenet121": lambda n: tvm.densenet121(weights=None, num_classes=n),
    "resnet18": lambda n: tvm.resnet18(weights=None, num_classes=n),
    "resnet50": lambda n: tvm.resnet50(weights=None, num_classes=n),
    "vgg11": lambda n: tvm.vgg11(weights=None, num_classes=n),
    "alexnet": lambda n: tvm.alexnet(weights=None, num_classes=n),
    "mobilenet_v2": lambda n: tvm.mobilenet_v2(weights=None, num_classes=n),
}


def create_model(arch: str, in_chans: int, num_classes: int, zero_head: bool = False) -> nn.Module:
    """A randomly initialised torchvision `arch` taking `in_chans` (1 or 3) channels.

    A gray model starts from the color model's initialisation: the same network is built (so every layer draws
    the same random numbers for the same seed), then its stem is replaced by the channel sum of the color stem.
    Gray and color differ only in the stem, and at initialisation the gray model fed a gray image computes
    exactly what the color model computes for that image replicated to three channels: the sum keeps the
    responses (and hence every later activation) of the color init, where a fresh default-initialised stem
    would start the two arms of a gray-vs-color comparison differently. `zero_head`: the classifier (the last
    linear layer) starts at zero, so the first logits are all 0 whatever the backbone's scale."""
    check_arch(arch)
    check_channels(in_chans)
    if num_classes < 1:
        raise GxrError(f"num_classes must be >= 1, got {num_classes}")
    model = _BUILDERS[arch](num_classes)
    if in_chans != 3:
        stem = get_stem(model, arch)
        new = nn.Conv2d(in_chans, stem.out_channels, stem.kernel_size, stem.stride, stem.padding,
                        stem.dilation, stem.groups, stem.bias is not None, stem.padding_mode)
        with torch.no_grad():
            new.weight.copy_(adapt_stem_weight(stem.weight, in_chans, "sum"))
            if stem.bias is not None:
                new.bias.copy_(stem.bias)
        replace_stem(model, arch, new)
    if zero_head:
        head = classifier(model)
        nn.init.zeros_(head.weight)
        if head.bias is not None:
            nn.init.zeros_(head.bias)
    return model


def classifier(model: nn.Module) -> nn.Linear:
    """The last linear layer of a torchvision classification network (its classifier)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise GxrError(f"{type(model).__name__}: no linear classifier layer")
    return linears[-1]


def read_weight_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision state_dict (.pth) or a gxr model.pt -> plain state_dict."""
    path = Path(path)
    if not path.is_file():
        raise GxrError(f"{path}: weight file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad pickles/zips
        raise GxrError(f"{path}: not a readable PyTorch weight file ({one_line(exc)})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GxrError(f"{path}: expected a state_dict (name -> tensor)")
    return obj


def load_init_weights(model: nn.Module, arch: str, state: dict[str, torch.Tensor], source: str,
                      stem_mode: str = "sum") -> list[str]:
    """Load `state` into `model`: the stem is converted when channel counts differ, tensors whose shape
    differs (the classifier of a 1000-class ImageNet file) and the unused Inception aux head are skipped.
    Returns human-readable notes on what was adapted or skipped."""
    notes: list[str] = []
    own = model.state_dict()
    stem_key = ARCHS[arch][0] + ".weight"
    loaded: dict[str, torch.Tensor] = {}
    skipped: set[str] = set()
    for key, value in state.items():
        if key not in own:
            continue
        if key == stem_key and value.shape[1] != own[key].shape[1]:
            value = adapt_stem_weight(value, own[key].shape[1], stem_mode)
            notes.append(f"stem {key}: converted {state[key].shape[1]} -> {own[key].shape[1]} channels ({stem_mode})")
        if value.shape != own[key].shape:
            notes.append(f"skipped {key}: shape {tuple(value.shape)} != {tuple(own[key].shape)}")
            skipped.add(key)
            continue
        loaded[key] = value
    unexpected = [k for k in state if k not in own and not k.startswith("AuxLogits.")]
    missing = [k for k in own if k not in loaded and k not in skipped]
    if unexpected or missing:
        sample = ", ".join((unexpected or missing)[:3])
        raise GxrError(f"{source}: weights do not fit {arch} ({len(missing)} missing, "
                       f"{len(unexpected)} unexpected keys, e.g. {sample})")
    model.load_state_dict(loaded, strict=False)
    notes.append(f"loaded {len(loaded)}/{len(own)} tensors from {source}")
    return notes

