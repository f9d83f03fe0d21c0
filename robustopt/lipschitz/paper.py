"""The paper's Lipschitz quantity, computed exactly as the authors' code computes it.

Table 1 of Ma, Pan & Farahmand, "Understanding the robustness difference between stochastic gradient
descent and adaptive gradient methods" (TMLR 2023) reports, per optimizer, an "upper bound of the
Lipschitz constant" of the trained network: a product of per-layer values.  The authors compute it in
``src/utils_analysis.py`` of github.com/averyma/freq-robust:

* ``return_Lipschitz_c2_L2`` (MNIST / Fashion-MNIST ``c2``): the largest singular value of
  ``conv1.weight.reshape(16, -1)``, ``conv2.weight.reshape(32, -1)``, ``fc1.weight`` and ``fc2.weight``
  (``torch.svd(..., some=True, compute_uv=False)``), multiplied together;
* ``return_Lipschitz_resnet_L2`` (CIFAR ``PreActResNet18``): the largest singular value
  (``torch.linalg.svd``) of every conv weight reshaped by ``view(rows, -1)``, where ``rows`` is the
  *input* channel count for the first conv and the 1x1 shortcut of each stage's first block
  (``layer2[0].conv1.weight.view(64, -1)``, ``layer2[0].shortcut[0].weight.view(64, -1)``) and the output
  channel count elsewhere; a block counts ``sigma(conv1) sigma(conv2) + 1`` (identity shortcut) or
  ``+ sigma(shortcut)`` (projection); the stem conv and ``linear.weight`` multiply in; nothing else is
  counted (pooling, BatchNorm, input standardisation count as 1).

:func:`paper_bound` reproduces that number for robustopt's ``c2`` and ``preact_resnet18``, with the
same calls in the same order and in float32 (as the authors' ``L = torch.tensor(1.)``).  It is *the
paper's number*, not a Lipschitz bound: see :func:`paper_bound` for where it is not one.  The
project's own quantities (exact per-layer operator norms, a certified upper bound, an empirical lower
bound) are in :mod:`robustopt.lipschitz.network`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from robustopt.errors import ConfigError

#: The models :func:`paper_bound` knows, and the authors' function each one reproduces.
SUPPORTED_MODELS = {"c2": "return_Lipschitz_c2_L2", "preact_resnet18": "return_Lipschitz_resnet_L2"}

_C2_LAYOUT = (
    ("conv1", nn.Conv2d), ("relu1", nn.ReLU), ("conv2", nn.Conv2d), ("relu2", nn.ReLU),
    ("flatten", nn.Flatten), ("fc1", nn.Linear), ("fc2", nn.Linear),
)  # fmt: skip
_RESNET_WIDTHS = (64, 128, 256, 512)


@dataclass(frozen=True)
class PaperBound:
    """The paper's quantity for one network.

    ``value``: the product (float32, as the authors compute it); ``model``: ``c2`` or
    ``preact_resnet18``; ``function``: the authors' function it reproduces; ``layers``: each counted
    weight's largest singular value as the authors reshape it, by module name (``model.named_modules()``);
    ``rows``: the row count of each reshape (``view(rows, -1)``).
    """

    value: float
    model: str
    function: str
    layers: dict[str, float]
    rows: dict[str, int]


def _unwrap(model: nn.Module) -> tuple[nn.Module, str]:
    """The network inside :func:`robustopt.models.build_model`'s ``Sequential(normalize, net)`` and its name prefix."""
    net = getattr(model, "net", None)
    if isinstance(model, nn.Sequential) and isinstance(net, nn.Module):
        return net, "net."
    return model, ""


def _is_c2(net: nn.Module) -> bool:
    if not isinstance(net, nn.Sequential):
        return False
    children = list(net.named_children())
    if [(n, type(m)) for n, m in children] != [(n, t) for n, t in _C2_LAYOUT]:
        return False
    return net.conv1.out_channels == 16 and net.conv2.out_channels == 32


def _is_preact_resnet18(net: nn.Module) -> bool:
    if not (isinstance(getattr(net, "conv1", None), nn.Conv2d) and isinstance(getattr(net, "linear", None), nn.Linear)):
        return False
    if net.conv1.out_channels != _RESNET_WIDTHS[0] or hasattr(net, "layer5"):
        return False
    in_planes = _RESNET_WIDTHS[0]
    for i, planes in enumerate(_RESNET_WIDTHS):
        stage = getattr(net, f"layer{i + 1}", None)
        if not isinstance(stage, nn.Sequential) or len(stage) != 2:
            return False
        for j, block in enumerate(stage):
            conv1, conv2 = getattr(block, "conv1", None), getattr(block, "conv2", None)
            shortcut = getattr(block, "shortcut", None)
            if not (isinstance(conv1, nn.Conv2d) and isinstance(conv2, nn.Conv2d)):
                return False
            if (conv1.in_channels, conv1.out_channels, conv2.in_channels, conv2.out_channels) != (
                in_planes,
                planes,
                planes,
                planes,
            ):
                return False
            projection = j == 0 and i > 0
            if projection != isinstance(shortcut, nn.Conv2d) or (
                not projection and not isinstance(shortcut, nn.Identity)
            ):
                return False
            in_planes = planes
    return net.linear.in_features == _RESNET_WIDTHS[-1]


def identify(model: nn.Module) -> str | None:
    """``"c2"`` or ``"preact_resnet18"`` when ``model`` (or its ``net``) is robustopt's network of that name, else
    None."""
    net, _ = _unwrap(model)
    if _is_c2(net):
        return "c2"
    if _is_preact_resnet18(net):
        return "preact_resnet18"
    return None


def _unsupported(model: nn.Module) -> ConfigError:
    net, _ = _unwrap(model)
    names = ", ".join(f"'{k}' ({v})" for k, v in SUPPORTED_MODELS.items())
    return ConfigError(
        f"paper_bound reproduces the authors' Lipschitz code, which exists only for the models {names}, built with "
        f"robustopt.models.build_model; got a {type(net).__name__} that is neither. Use "
        "robustopt.lipschitz.network_bound (operator norms, certified upper bound) for other networks"
    )


def _sigma_c2(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``torch.svd(w.reshape(rows, -1).clone().detach().cpu(), some=True, compute_uv=False)[1].max()`` (authors' c2)."""
    return torch.svd(weight.reshape(rows, -1).clone().detach().cpu(), some=True, compute_uv=False)[1].max()


def _sigma_resnet(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``torch.linalg.svd(w.detach().clone().cpu().view(rows, -1))[1].max()`` (authors' ResNet).

    ``reshape`` instead of ``view`` so channels-last weights work; both read the weight in its
    logical (C_out, C_in, kh, kw) order, so the matrix is the same.
    """
    return torch.linalg.svd(weight.detach().clone().cpu().reshape(rows, -1))[1].max()


def _c2(net: nn.Module, prefix: str) -> PaperBound:
    rows = {"conv1": 16, "conv2": 32, "fc1": net.fc1.out_features, "fc2": net.fc2.out_features}
    sig = {name: _sigma_c2(getattr(net, name).weight, r) for name, r in rows.items()}
    value = torch.tensor(1.0, dtype=torch.float32)
    for name in ("conv1", "conv2", "fc1", "fc2"):  # the authors' order
        value *= sig[name]
    return PaperBound(
        float(value), "c2", SUPPORTED_MODELS["c2"],
        {prefix + k: float(v) for k, v in sig.items()}, {prefix + k: r for k, r in rows.items()},
    )  # fmt: skip


def _preact_resnet18(net: nn.Module, prefix: str) -> PaperBound:
    sig: dict[str, torch.Tensor] = {}
    rows: dict[str, int] = {}

    def sigma(name: str, module: nn.Module, r: int) -> torch.Tensor:
        rows[prefix + name] = r
        sig[prefix + name] = _sigma_resnet(module.weight, r)
        return sig[prefix + name]

    value = torch.tensor(1.0, dtype=torch.float32)
    value *= sigma("conv1", net.conv1, net.conv1.out_channels)  # authors: model.conv1.weight.reshape(64, -1)
    for i in range(len(_RESNET_WIDTHS)):
        stage = f"layer{i + 1}"
        b0, b1 = getattr(net, stage)
        # first block: conv1 and the shortcut are viewed with their *input* channel count as rows
        u1 = sigma(f"{stage}.0.conv1", b0.conv1, b0.conv1.in_channels)
        u2 = sigma(f"{stage}.0.conv2", b0.conv2, b0.conv2.out_channels)
        if isinstance(b0.shortcut, nn.Conv2d):
            block = u1 * u2 + sigma(f"{stage}.0.shortcut", b0.shortcut, b0.shortcut.in_channels)
        else:
            block = u1 * u2 + 1
        v1 = sigma(f"{stage}.1.conv1", b1.conv1, b1.conv1.out_channels)
        v2 = sigma(f"{stage}.1.conv2", b1.conv2, b1.conv2.out_channels)
        block *= v1 * v2 + 1
        value *= block
    rows[prefix + "linear"] = net.linear.out_features
    sig[prefix + "linear"] = torch.linalg.svd(net.linear.weight.detach().cpu())[1].max()
    value *= sig[prefix + "linear"]
    return PaperBound(
        float(value),
        "preact_resnet18",
        SUPPORTED_MODELS["preact_resnet18"],
        {k: float(v) for k, v in sig.items()},
        rows,
    )


def paper_bound_details(model: nn.Module) -> PaperBound:
    """:func:`paper_bound` with the per-layer values and reshapes (see :class:`PaperBound`)."""
    net, prefix = _unwrap(model)
    with torch.no_grad():
        if _is_c2(net):
            return _c2(net, prefix)
        if _is_preact_resnet18(net):
            return _preact_resnet18(net, prefix)
    raise _unsupported(model)


def paper_bound(model: nn.Module) -> float:
    """The Lipschitz quantity of Table 1 of Ma, Pan & Farahmand (TMLR 2023), as the authors' code computes it.

    For robustopt's ``c2`` the authors' ``return_Lipschitz_c2_L2``, for ``preact_resnet18`` their
    ``return_Lipschitz_resnet_L2`` (``src/utils_analysis.py`` of github.com/averyma/freq-robust): the
    product of the largest singular values of the weights reshaped as their code reshapes them, with
    ``sigma(conv1) sigma(conv2) + (1 or sigma(shortcut))`` per residual block, computed with the same
    SVD calls on CPU in float32.  ``model`` is what :func:`robustopt.models.build_model` returns (or its
    ``net``); it is recognised by its layers, whatever its weights or device.

    **Where this is not a Lipschitz bound** (the paper calls it an upper bound):

    * *A reshaped kernel's largest singular value is not the convolution's operator norm.* Reshaped to
      ``(C_out, C_in kh kw)`` it is the norm of a submatrix of the conv's matrix (one output position's
      rows, restricted to its window), so it is a *lower* bound on the conv's norm whenever one window
      lies inside the input, and the true norm can be up to ``sqrt(#windows covering a pixel)``
      (``sqrt(kh kw)`` at stride 1) times larger.  It ignores stride, padding and the input size.  For
      ``c2`` (no pooling, exact linear layers) the paper's number is therefore at most the product of
      the exact per-layer operator norms; it can lie below the network's true Lipschitz constant.
      (The authors' comment "upper bound of the true spectral norm" is not right.)
    * *``view(C_in, -1)``.*  In the ResNet, each stage's first ``conv1`` and its 1x1 projection shortcut
      are viewed as ``(C_in, -1)`` where ``C_out = 2 C_in``: every row holds two output channels' filters
      side by side.  That matrix's largest singular value is neither the ``(C_out, -1)`` value nor the
      layer's norm; it differs from the ``(C_out, -1)`` value by up to ``sqrt(C_out / C_in) = sqrt(2)``
      either way.  For the 1x1 shortcut the true operator norm is exactly the largest singular value of
      the ``(C_out, C_in)`` matrix, which the ``(C_in, -1)`` view does not give.
    * *Pooling counts as 1.*  The global average pooling of ``preact_resnet18`` over ``h x w`` maps has
      norm ``1 / sqrt(h w)`` (1/4 on 32x32 inputs), so the paper's number is 4x too large there; the
      3x3 stride-2 max-pool of the large-image stem (``image_size >= 128``) is 2-Lipschitz (four windows
      cover a pixel), counted as 1.
    * *Everything else counts as 1:* BatchNorm (off in the paper's recipe; with ``batchnorm=True`` its
      eval-mode scale ``gamma / sqrt(var + eps)`` is ignored) and input normalisation (robustopt's
      ``Normalize``, factor ``1 / min(std)``; the authors' per-image standardisation, not Lipschitz with
      a small constant, is not counted either).  ReLU and biases do count as 1 correctly.
    * *Precision:* float32 products and float32 SVDs (relative error about 1e-6), as in the authors' code.

    The residual rule ``sigma1 sigma2 + (1 | sigma_sc)`` itself is the right composition for a
    pre-activation block without BatchNorm; it only inherits the per-layer values above.

    Raises:
        ConfigError: ``model`` is not robustopt's ``c2`` or ``preact_resnet18`` (the message names them).
    """
    return paper_bound_details(model).value


__all__ = ["SUPPORTED_MODELS", "PaperBound", "identify", "paper_bound", "paper_bound_details"]
