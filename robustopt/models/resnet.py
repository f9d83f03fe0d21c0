"""Residual networks: the paper's PreAct ResNet-18 and torchvision's ResNet-18.

* ``preact_resnet18``: the pre-activation ResNet-18 of He, Zhang, Ren & Sun, "Identity mappings in
  deep residual networks" (ECCV 2016), in Kuang Liu's CIFAR layout (``pytorch-cifar``), which is the
  network Ma, Pan & Farahmand (TMLR 2023) train, with BatchNorm switched off in their recipe.
* ``resnet18``: torchvision's ResNet-18 (He, Zhang, Ren & Sun, "Deep residual learning for image
  recognition", CVPR 2016), with the usual CIFAR stem for small images.

Images smaller than :data:`LARGE_IMAGE_SIZE` pixels get a 3x3 stride-1 stem without max-pool;
larger ones (e.g. 224px ImageNet-style inputs) get the 7x7 stride-2 conv + 3x3 stride-2 max-pool stem.
"""

from __future__ import annotations

from typing import Callable

import torch
import torchvision
from torch import nn

from robustopt.errors import ConfigError
from robustopt.models.registry import register_model

LARGE_IMAGE_SIZE = 128
"""Inputs with ``image_size >= LARGE_IMAGE_SIZE`` use the ImageNet stem (7x7/2 conv + 3x3/2 max-pool)."""


def _check_sizes(name: str, in_channels: int, num_classes: int, image_size: int) -> None:
    for label, value in (("in_channels", in_channels), ("num_classes", num_classes), ("image_size", image_size)):
        if int(value) < 1:
            raise ConfigError(f"model '{name}' needs a positive {label}, got {value}")


def _norm(batchnorm: bool) -> Callable[[int], nn.Module]:
    return nn.BatchNorm2d if batchnorm else _no_norm


def _no_norm(num_features: int) -> nn.Module:
    """A norm-layer factory that returns ``nn.Identity`` (module-level so models stay picklable)."""
    return nn.Identity()


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al., "Identity mappings in deep residual networks", 2016).

    Parts (attributes), in Kuang Liu's CIFAR layout as used by Ma, Pan & Farahmand (2023):

    * ``bn1``: ``BatchNorm2d(in_planes)``, or ``nn.Identity()`` (no parameters) when BatchNorm is off;
    * ``relu1``: ``nn.ReLU()``; ``a(x) = relu1(bn1(x))`` is the *pre-activation* shared by both paths
      when the shortcut is a projection;
    * ``conv1``: 3x3 conv ``in_planes -> planes`` with ``stride``, padding 1, no bias;
    * ``bn2``: ``BatchNorm2d(planes)`` or ``nn.Identity()``;  ``relu2``: ``nn.ReLU()``;
    * ``conv2``: 3x3 conv ``planes -> planes``, stride 1, padding 1, no bias;
    * ``shortcut``: a 1x1 conv ``in_planes -> planes`` with ``stride`` and no bias when the shape
      changes (``stride != 1`` or ``in_planes != planes``), else ``nn.Identity()``.

    The forward pass is ``y = shortcut_path(x) + branch(x)`` with

    * ``branch(x) = conv2(relu2(bn2(conv1(a(x)))))``;
    * ``shortcut_path(x) = shortcut(a(x))`` when ``shortcut`` is a conv (the projection reads the
      pre-activated input, as in Kuang Liu's code), and ``x`` itself when it is the identity.

    So a Lipschitz bound is ``L(block) <= L(shortcut_path) + L(branch)`` with
    ``L(branch) <= L(conv2) L(bn2) L(conv1) L(bn1)`` and ``L(shortcut_path) = 1`` (identity) or
    ``L(shortcut) L(bn1)`` (projection); ReLU is 1-Lipschitz.  :attr:`projection` says which case applies.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, batchnorm: bool = False) -> None:
        super().__init__()
        norm = _norm(batchnorm)
        self.bn1 = norm(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = norm(planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False)
        else:
            self.shortcut = nn.Identity()

    @property
    def projection(self) -> bool:
        """True when the shortcut is a 1x1 conv applied to the pre-activation ``relu1(bn1(x))``."""
        return not isinstance(self.shortcut, nn.Identity)

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        """``relu1(bn1(x))``."""
        return self.relu1(self.bn1(x))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch ``conv2(relu2(bn2(conv1(relu1(bn1(x))))))``."""
        return self._branch_from_preact(self.preact(x))

    def shortcut_path(self, x: torch.Tensor) -> torch.Tensor:
        """``shortcut(relu1(bn1(x)))`` for a projection shortcut, ``x`` otherwise."""
        return self.shortcut(self.preact(x)) if self.projection else x

    def _branch_from_preact(self, a: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.bn2(self.conv1(a))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.preact(x)
        skip = self.shortcut(a) if self.projection else x
        return skip + self._branch_from_preact(a)


class PreActResNet(nn.Module):
    """Pre-activation ResNet (He et al., "Identity mappings in deep residual networks", ECCV 2016).

    Kuang Liu's CIFAR layout, as trained by Ma, Pan & Farahmand (TMLR 2023): ``conv1`` (stem, no
    bias) -> ``maxpool`` (``nn.Identity`` for small images) -> ``layer1..layer4`` (stages of
    :class:`PreActBlock`, widths ``widths``, first block of stages 2-4 with stride 2) -> ``avgpool``
    (global average pooling) -> ``flatten`` -> ``linear``.  As in that code there is no BN-ReLU after
    the last block.  Inputs are pixels; normalisation is added by :func:`robustopt.models.build_model`.
    """

    def __init__(
        self,
        num_blocks: tuple[int, ...] = (2, 2, 2, 2),
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        batchnorm: bool = False,
        widths: tuple[int, ...] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if image_size >= LARGE_IMAGE_SIZE:
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        in_planes = widths[0]
        for i, (planes, blocks) in enumerate(zip(widths, num_blocks)):
            stage = []
            for j in range(blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                stage.append(PreActBlock(in_planes, planes, stride=stride, batchnorm=batchnorm))
                in_planes = planes
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(self.conv1(x))
        for i in range(self.num_stages):
            out = getattr(self, f"layer{i + 1}")(out)
        return self.linear(self.flatten(self.avgpool(out)))


@register_model("preact_resnet18")
def preact_resnet18(in_channels: int, num_classes: int, image_size: int, batchnorm: bool = False) -> PreActResNet:
    """PreAct ResNet-18 (He et al. 2016; Kuang Liu's CIFAR layout), the paper's CIFAR network.

    Widths 64-128-256-512, two :class:`PreActBlock` per stage, no conv biases.  ``batchnorm`` is off in
    the paper's recipe: the BN layers are then ``nn.Identity`` (no parameters, no buffers).  11,164,362
    parameters for 10 classes without BatchNorm (11,171,146 with it).
    """
    _check_sizes("preact_resnet18", in_channels, num_classes, image_size)
    return PreActResNet((2, 2, 2, 2), in_channels, num_classes, image_size, batchnorm=bool(batchnorm))


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, image_size: int, batchnorm: bool = True) -> torchvision.models.ResNet:
    """torchvision's ResNet-18 (He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016).

    For ``image_size >= 128`` and 3 channels this is exactly ``torchvision.models.resnet18`` (11,689,512
    parameters with 1000 classes); other channel counts get a fresh 7x7/2 first conv.  Small images
    get the CIFAR stem: 3x3 stride-1 first conv and no max-pool.  ``batchnorm=False`` replaces every
    BatchNorm by ``nn.Identity`` (torchvision's convs have no bias, so the network then has none
    before the final linear layer).  Weights use torchvision's initialisation (Kaiming-normal fan-out).
    """
    _check_sizes("resnet18", in_channels, num_classes, image_size)
    net = torchvision.models.resnet18(weights=None, num_classes=num_classes, norm_layer=_norm(bool(batchnorm)))
    if image_size < LARGE_IMAGE_SIZE:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")  # as torchvision does
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


__all__ = ["LARGE_IMAGE_SIZE", "PreActBlock", "PreActResNet", "preact_resnet18", "resnet18"]
