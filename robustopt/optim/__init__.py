"""Optimizers and learning-rate schedules, looked up by name.

``build_optimizer("adam", model.parameters(), lr=5e-4)`` returns a torch optimizer;
an unknown name or hyper-parameter raises :class:`~robustopt.errors.ConfigError`.  Add your own with
``register_optimizer("name", OptimizerClass)`` (docs/plugins.md), or name any optimizer class by its
import path (``torch.optim.NAdam``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

import torch

from robustopt.errors import ConfigError
from robustopt.optim.schedules import SCHEDULERS, build_scheduler
from robustopt.optim.signsgd import SignSGD
from robustopt.registry import Registry, check_options

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("sgd", torch.optim.SGD)
OPTIMIZERS.register("adam", torch.optim.Adam)
OPTIMIZERS.register("adamw", torch.optim.AdamW)
OPTIMIZERS.register("rmsprop", torch.optim.RMSprop)
OPTIMIZERS.register("adagrad", torch.optim.Adagrad)
OPTIMIZERS.register("signsgd", SignSGD)
register_optimizer = OPTIMIZERS.register

# Options that only make sense for torch internals; not offered in configs.
_HIDDEN = {"params", "foreach", "maximize", "capturable", "differentiable", "fused", "decoupled_weight_decay"}


def optimizer_options(name: str) -> list[str]:
    """The hyper-parameters optimizer ``name`` accepts."""
    sig = inspect.signature(OPTIMIZERS.get(name))
    return [p for p in sig.parameters if p not in _HIDDEN and p not in ("self", "defaults")]


def build_optimizer(name: str, params: Iterable, **hparams: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` with the given hyper-parameters."""
    cls = OPTIMIZERS.get(name)
    check_options(f"optimizer '{name}'", hparams, optimizer_options(name))
    if "betas" in hparams and hparams["betas"] is not None:
        hparams["betas"] = tuple(hparams["betas"])
    lr = hparams.get("lr")
    if lr is not None and not float(lr) > 0:
        raise ConfigError(f"optimizer '{name}': lr must be > 0, got {lr}")
    try:
        return cls(params, **hparams)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"optimizer '{name}' rejected its hyper-parameters {hparams}: {exc}") from None


__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "SignSGD",
    "build_optimizer",
    "build_scheduler",
    "optimizer_options",
    "register_optimizer",
]
