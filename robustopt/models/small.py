"""Small models: the paper's MNIST / Fashion-MNIST CNN ``c2`` and an MLP."""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from torch import nn

from robustopt.models.registry import register_model


@register_model("c2")
def c2(in_channels: int, num_classes: int, image_size: int) -> nn.Sequential:
    """The MNIST / Fashion-MNIST CNN ``c2`` of Ma, Pan & Farahmand (TMLR 2023), exactly as in the authors' code.

    Transcribed from ``models/conv.py:c2`` of github.com/averyma/freq-robust (there credited to Wong &
    Kolter's Wasserstein-attack paper)::

        conv1  Conv2d(1 -> 16, kernel 4, stride 1, padding 1)    28x28 -> 27x27
        ReLU
        conv2  Conv2d(16 -> 32, kernel 4, stride 1, padding 1)   27x27 -> 26x26
        ReLU
        flatten (N, 32*26*26 = 21632), channel-major as the authors' ``x.view(-1, 32*26*26)``
        fc1    Linear(21632 -> 100)          (no activation between the two linear layers)
        fc2    Linear(100 -> 10)

    2,172,806 parameters on 1x28x28 inputs with 10 classes, PyTorch's default initialisation, no
    BatchNorm, no dropout.  The layers are created in the authors' order, so after the same
    ``torch.manual_seed`` the initial weights are bitwise the authors', and an authors' state dict loads
    with :func:`load_authors_c2_state_dict`.  Other channel counts, sizes and class counts change only
    the first conv's input channels, ``fc1``'s input width (``32 * (image_size - 2) ** 2``) and
    ``fc2``'s outputs.
    """
    side = image_size - 2  # two convs with kernel 4, stride 1, padding 1 each shrink the side by one
    if side < 1:
        raise ValueError(f"c2 needs images of at least 3x3 pixels, got {image_size}x{image_size}")
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 16, kernel_size=4, stride=1, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(16, 32, kernel_size=4, stride=1, padding=1),
            relu2=nn.ReLU(),
            flatten=nn.Flatten(),
            fc1=nn.Linear(32 * side * side, 100),
            fc2=nn.Linear(100, num_classes),
        )
    )


def load_authors_c2_state_dict(model: nn.Module, state_dict: dict) -> None:
    """Load a state dict saved from the authors' ``c2`` (keys ``conv1.weight`` ... ``fc2.bias``) into a
    robustopt ``c2`` built by :func:`robustopt.models.build_model` (whose network sits under ``net``)."""
    target = model.net if hasattr(model, "net") else model
    target.load_state_dict(dict(state_dict))


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
