"""VGG-11 and VGG-16 (Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015), with any number of input channels and small-image heads.

The convolutional part follows torchvision's configuration lists (``torchvision.models.vgg.cfgs``:
``"A"`` = VGG-11, ``"D"`` = VGG-16): 3x3 convs with bias and padding 1, each followed by
``BatchNorm2d`` when ``batchnorm`` is on and by ``ReLU``; ``"M"`` is a 2x2 stride-2 max-pool.

* Small images (``image_size < 128``, CIFAR / MNIST): ``features -> flatten -> classifier`` with
  ``classifier = Sequential(Linear(512 * s * s, num_classes))``, where ``s`` is the spatial side after
  the max-pools.  A max-pool that would shrink the side below 1 is *left out* (e.g. 28x28 inputs go
  28 -> 14 -> 7 -> 3 -> 1 and keep only four of the five pools; 16x16 inputs keep four too), so ``s >= 1``.
* Large images (``image_size >= 128``): torchvision's head, ``features -> avgpool
  (AdaptiveAvgPool2d(7x7)) -> flatten -> classifier`` with ``classifier = Linear(512*7*7, 4096) - ReLU -
  Dropout(0.5) - Linear(4096, 4096) - ReLU - Dropout(0.5) - Linear(4096, num_classes)``.  Module names
  and indices match torchvision's ``VGG``, so its state dicts load directly (3 channels, 224px).

Every network is an ``nn.Sequential`` of standard modules (Conv2d, BatchNorm2d, ReLU, MaxPool2d,
AdaptiveAvgPool2d, Flatten, Linear, Dropout; ReLUs are not in-place), so generic code can walk it.
Weights use torchvision's VGG initialisation (Kaiming-normal fan-out convs, N(0, 0.01) linears,
zero biases).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence, Union

from torch import nn
from torchvision.models.vgg import cfgs as TORCHVISION_CFGS

from robustopt.errors import ConfigError
from robustopt.models.registry import register_model
from robustopt.models.resnet import LARGE_IMAGE_SIZE

VGG_CONFIGS: dict[str, str] = {"vgg11": "A", "vgg16": "D"}
"""Our model name -> key of ``torchvision.models.vgg.cfgs``."""


def make_layers(
    cfg: Sequence[Union[int, str]], in_channels: int, image_size: int, batchnorm: bool = False
) -> tuple[nn.Sequential, int, int]:
    """Build VGG's convolutional part from a torchvision configuration list.

    Args:
        cfg: e.g. ``torchvision.models.vgg.cfgs["A"]``: ints are 3x3 conv widths, ``"M"`` a max-pool.
        in_channels: channels of the input image.
        image_size: side of the (square) input, used to skip max-pools that would make the side 0.
        batchnorm: put a ``BatchNorm2d`` between each conv and its ReLU.

    Returns:
        ``(features, side, channels)``: the ``nn.Sequential``, the output side and the output channels.
    """
    layers: list[nn.Module] = []
    channels, side = in_channels, int(image_size)
    for v in cfg:
        if v == "M":
            if side // 2 >= 1:  # a pool on a 1x1 map would leave nothing: skip it
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                side //= 2
            continue
        width = int(v)
        layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
        if batchnorm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU())
        channels = width
    return nn.Sequential(*layers), side, channels


def _init_weights(net: nn.Module) -> None:
    """torchvision's VGG initialisation."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def vgg(name: str, in_channels: int, num_classes: int, image_size: int, batchnorm: bool = False) -> nn.Sequential:
    """Build VGG ``name`` (``"vgg11"`` or ``"vgg16"``) as an ``nn.Sequential``; see the module docstring."""
    if name not in VGG_CONFIGS:
        raise ConfigError(f"unknown VGG variant '{name}'; known variants: {', '.join(sorted(VGG_CONFIGS))}")
    for label, value in (("in_channels", in_channels), ("num_classes", num_classes), ("image_size", image_size)):
        if int(value) < 1:
            raise ConfigError(f"model '{name}' needs a positive {label}, got {value}")
    features, side, channels = make_layers(TORCHVISION_CFGS[VGG_CONFIGS[name]], in_channels, image_size, batchnorm)
    parts: OrderedDict[str, nn.Module] = OrderedDict(features=features)
    if image_size >= LARGE_IMAGE_SIZE:
        parts["avgpool"] = nn.AdaptiveAvgPool2d((7, 7))
        parts["flatten"] = nn.Flatten()
        parts["classifier"] = nn.Sequential(
            nn.Linear(channels * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(4096, num_classes),
        )
    else:
        parts["flatten"] = nn.Flatten()
        parts["classifier"] = nn.Sequential(nn.Linear(channels * side * side, num_classes))
    net = nn.Sequential(parts)
    _init_weights(net)
    return net


@register_model("vgg11")
def vgg11(in_channels: int, num_classes: int, image_size: int, batchnorm: bool = False) -> nn.Sequential:
    """VGG-11 (configuration "A", 8 convs; Simonyan & Zisserman 2015)."""
    return vgg("vgg11", in_channels, num_classes, image_size, batchnorm=bool(batchnorm))


@register_model("vgg16")
def vgg16(in_channels: int, num_classes: int, image_size: int, batchnorm: bool = False) -> nn.Sequential:
    """VGG-16 (configuration "D", 13 convs; Simonyan & Zisserman 2015)."""
    return vgg("vgg16", in_channels, num_classes, image_size, batchnorm=bool(batchnorm))


@register_model("vgg11_bn")
def vgg11_bn(in_channels: int, num_classes: int, image_size: int) -> nn.Sequential:
    """VGG-11 with a BatchNorm after every conv (alias of ``vgg11`` with ``batchnorm=True``)."""
    return vgg("vgg11", in_channels, num_classes, image_size, batchnorm=True)


@register_model("vgg16_bn")
def vgg16_bn(in_channels: int, num_classes: int, image_size: int) -> nn.Sequential:
    """VGG-16 with a BatchNorm after every conv (alias of ``vgg16`` with ``batchnorm=True``)."""
    return vgg("vgg16", in_channels, num_classes, image_size, batchnorm=True)


__all__ = ["VGG_CONFIGS", "make_layers", "vgg", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn"]
