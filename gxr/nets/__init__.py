"""Model factory over torchvision architectures with 1- or 3-channel stems.

The names below import no torch; `gxr.nets.factory` and `gxr.nets.stem` do.
"""

from gxr.core.errors import GxrError

# arch -> (dotted path of the first conv, smallest input size that the architecture accepts)
ARCHS: dict[str, tuple[str, int]] = {
    "inception_v3": ("Conv2d_1a_3x3.conv", 75),
    "densenet121": ("features.conv0", 32),
    "resnet18": ("conv1", 16),
    "resnet50": ("conv1", 16),
    "vgg11": ("features.0", 32),
    "alexnet": ("features.0", 63),
    "mobilenet_v2": ("features.0.0", 32),
}


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise GxrError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
    return arch


def check_channels(channels: int) -> int:
    if channels not in (1, 3):
        raise GxrError(f"channels must be 1 (gray) or 3 (color), got {channels}")
    return channels


def check_image_size(arch: str, size: int) -> int:
    smallest = ARCHS[check_arch(arch)][1]
    if size < smallest:
        raise GxrError(f"{arch} needs images of at least {smallest}x{smallest}, got image size {size}")
    return size
