"""Small models: an MLP and the paper's MNIST / Fashion-MNIST CNN ``c2``."""

from __future__ import annotations

from typing import Sequence

from torch import nn

from robustopt.models.registry import register_model


@register_model("c2")
def c2(in_channels: int, num_classes: int, image_size: int, width: int = 16, hidden: int = 100) -> nn.Sequential:
    """The two-layer CNN of Ma, Pan & Farahmand (TMLR 2023) for MNIST and Fashion-MNIST.

    conv(16, k4, stride 2, pad 1) - ReLU - conv(32, k4, stride 2, pad 1) - ReLU - flatten -
    linear(100) - linear(num_classes).  There is no ReLU between the two linear layers and no
    BatchNorm, as in the paper's code (the architecture of Wong & Kolter, 2018, whose convolutions
    have stride 2).
    """
    side = image_size
    for _ in range(2):  # k=4, s=2, p=1 halves the side (floor)
        side = (side + 2 * 1 - 4) // 2 + 1
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, kernel_size=4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * side * side, hidden),
        nn.Linear(hidden, num_classes),
    )


@register_model("mlp")
def mlp(in_channels: int, num_classes: int, image_size: int, hidden: Sequence[int] = (256, 256)) -> nn.Sequential:
    """A fully connected ReLU network on the flattened image."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
