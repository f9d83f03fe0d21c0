"""Model registry and :func:`build_model`.

Every model is ``nn.Sequential(normalize, net)``: ``normalize`` is :class:`Normalize` when input
normalisation is on (it is off in the paper's recipe) and ``nn.Identity`` otherwise, so inputs are
always pixels in [0, 1].
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import nn

from robustopt.errors import ConfigError
from robustopt.models import resnet, small, vgg  # noqa: F401  (register the built-in models)
from robustopt.models.layers import Normalize
from robustopt.models.registry import MODELS, register_model
from robustopt.registry import check_options


def build_model(
    name: str,
    in_channels: int,
    num_classes: int,
    image_size: int,
    *,
    normalize: Sequence[Sequence[float]] | None = None,
    **kwargs: Any,
) -> nn.Sequential:
    """Build a registered model.

    Args:
        name: registered model name (see ``MODELS.names()``), or an import path to a builder.
        in_channels, num_classes, image_size: from the data set.
        normalize: ``(mean, std)`` per channel for a :class:`Normalize` first layer, or None.
        **kwargs: model-specific options (e.g. ``batchnorm=False``); unknown ones raise ConfigError.

    The weights are drawn from the global torch RNG; use :func:`init_model` for weights that depend
    only on ``(config, init_seed)``.
    """
    builder = MODELS.get(name)
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        check_options(
            f"model '{name}'", kwargs, [p for p in params if p not in ("in_channels", "num_classes", "image_size")]
        )
    net = builder(in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs)
    if normalize is not None:
        mean, std = normalize
        if len(mean) != in_channels or len(std) != in_channels:
            raise ConfigError(
                f"normalisation mean/std need {in_channels} values (one per channel), got {list(mean)} / {list(std)}"
            )
        first: nn.Module = Normalize(mean, std)
    else:
        first = nn.Identity()
    return nn.Sequential(OrderedDict(normalize=first, net=net))


def init_model(
    init_seed: int, name: str, in_channels: int, num_classes: int, image_size: int, **kwargs: Any
) -> nn.Sequential:
    """Build a model whose initial weights depend only on its arguments and ``init_seed``.

    The global RNG is forked, so the caller's random state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(init_seed))
        return build_model(name, in_channels, num_classes, image_size, **kwargs)


def model_fingerprint(name: str, in_channels: int, num_classes: int, image_size: int, **kwargs: Any) -> str:
    """A short stable hash of a model's configuration (names the shared initial-weights file)."""
    payload = json.dumps(
        {"name": name, "in_channels": in_channels, "num_classes": num_classes, "image_size": image_size, **kwargs},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


__all__ = ["MODELS", "Normalize", "build_model", "init_model", "model_fingerprint", "register_model"]
