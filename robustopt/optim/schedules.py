"""Learning-rate schedules (stepped once per epoch), with optional linear warm-up."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from torch.optim import lr_scheduler

from robustopt.errors import ConfigError
from robustopt.registry import Registry, check_options

SCHEDULERS: Registry = Registry("scheduler")


@SCHEDULERS.register("constant")
def _constant(optimizer, epochs: int):
    return lr_scheduler.LambdaLR(optimizer, lambda _epoch: 1.0)


@SCHEDULERS.register("step")
def _step(optimizer, epochs: int, step_size: int = 30, gamma: float = 0.1):
    return lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@SCHEDULERS.register("multistep")
def _multistep(optimizer, epochs: int, milestones: Sequence[int] = (100, 150), gamma: float = 0.1):
    return lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)


@SCHEDULERS.register("cosine")
def _cosine(optimizer, epochs: int, eta_min: float = 0.0):
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(int(epochs), 1), eta_min=eta_min)


@SCHEDULERS.register("exponential")
def _exponential(optimizer, epochs: int, gamma: float = 0.95):
    return lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


def build_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    warmup_epochs: int = 0,
    warmup_start_factor: float = 0.1,
    **options: Any,
) -> lr_scheduler.LRScheduler:
    """Schedule ``name`` for ``epochs`` epochs, after ``warmup_epochs`` of linear warm-up.

    Milestones and the cosine period count from the start of training (warm-up included).
    """
    factory = SCHEDULERS.get(name)
    allowed = [p for p in inspect.signature(factory).parameters if p not in ("optimizer", "epochs")]
    check_options(f"scheduler '{name}'", options, [*allowed, "warmup_epochs", "warmup_start_factor"])
    warmup_epochs = int(warmup_epochs)
    if warmup_epochs < 0:
        raise ConfigError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
    if warmup_epochs == 0:
        return factory(optimizer, epochs, **options)
    if name == "multistep" and "milestones" in options:
        options = {**options, "milestones": [max(int(m) - warmup_epochs, 1) for m in options["milestones"]]}
    main = factory(optimizer, max(int(epochs) - warmup_epochs, 1), **options)
    warm = lr_scheduler.LinearLR(optimizer, start_factor=warmup_start_factor, end_factor=1.0, total_iters=warmup_epochs)
    return lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[warmup_epochs])
