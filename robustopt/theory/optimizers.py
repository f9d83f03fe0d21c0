"""Optimizers for the linear theory: GD, signGD and torch's adaptive methods, one registry.

Every entry is a *runner* ``run(w0, oracle, *, lr, n_steps, record_at, **hparams) -> weights``:
it starts from pixel-space float64 weights ``w0 (d,)``, takes ``n_steps`` steps with gradients
from ``oracle`` (see :mod:`robustopt.theory.gradients`) and returns the pixel-space weights after
the step counts in ``record_at`` (sorted, unique, within ``[0, n_steps]``; 0 is the start) as an
array ``(len(record_at), d)``.  A run that leaves the finite numbers is stopped and its remaining
rows are NaN.

* ``gd``: ``w <- w - lr * g``.
* ``signgd``: ``w <- w - lr * sign(g)`` in pixel coordinates (Ma, Pan & Farahmand, TMLR 2023,
  Sec. 4: the simplest sign-based method, a proxy for Adam and RMSprop).
* ``adam``, ``adamw``, ``rmsprop``, ``adagrad``: the ``torch.optim`` implementations on a float64
  parameter whose ``.grad`` is set from the oracle; ``hparams`` go to their constructor (e.g.
  ``betas``, ``alpha``, ``eps``).

Extend with ``THEORY_OPTIMIZERS.register("name", runner)``.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import torch

from robustopt.errors import ConfigError
from robustopt.registry import Registry, check_options
from robustopt.theory.gradients import GradientOracle

THEORY_OPTIMIZERS: Registry[Callable[..., np.ndarray]] = Registry("theory optimizer")


def check_record_at(record_at, n_steps: int) -> np.ndarray:
    """Validate and return ``record_at`` as a sorted unique int64 array within ``[0, n_steps]``."""
    steps = np.asarray(record_at, dtype=np.int64).ravel()
    if steps.size == 0 or np.any(np.diff(steps) <= 0) or steps[0] < 0 or steps[-1] > n_steps:
        raise ConfigError(f"record_at must be increasing step counts within [0, {n_steps}]")
    return steps


def _loop(w: np.ndarray, step: Callable[[], None], n_steps: int, record_at: np.ndarray) -> np.ndarray:
    """Call ``step()`` ``n_steps`` times (it updates ``w`` in place) and copy ``w`` at ``record_at``."""
    out = np.full((record_at.size, w.size), np.nan)
    k = 0
    if record_at[0] == 0:
        out[0] = w
        k = 1
    nxt = int(record_at[k]) if k < record_at.size else -1
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, n_steps + 1):
            step()
            if t == nxt or not t & 1023:
                if not np.all(np.isfinite(w)):
                    break  # diverged: the remaining rows stay NaN
                if t == nxt:
                    out[k] = w
                    k += 1
                    if k == record_at.size:
                        break
                    nxt = int(record_at[k])
    return out


def _prepare(w0, n_steps, record_at, lr) -> tuple[np.ndarray, np.ndarray]:
    if int(n_steps) != n_steps or n_steps < 0:
        raise ConfigError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"the learning rate must be a positive number, got {lr!r}")
    return np.array(w0, dtype=np.float64, copy=True), check_record_at(record_at, int(n_steps))


def _no_hparams(name: str, hparams: dict) -> None:
    check_options(f"theory optimizer '{name}'", hparams, [])  # only lr


@THEORY_OPTIMIZERS.register("gd")
def run_gd(w0, oracle: GradientOracle, *, lr: float, n_steps: int, record_at, **hparams) -> np.ndarray:
    """(Stochastic) gradient descent ``w <- w - lr * g``."""
    _no_hparams("gd", hparams)
    w, record_at = _prepare(w0, n_steps, record_at, lr)

    def step() -> None:
        w[:] -= lr * oracle(w)

    return _loop(w, step, int(n_steps), record_at)


@THEORY_OPTIMIZERS.register("signgd")
def run_signgd(w0, oracle: GradientOracle, *, lr: float, n_steps: int, record_at, **hparams) -> np.ndarray:
    """Sign gradient descent ``w <- w - lr * sign(g)``, coordinate-wise in pixel space."""
    _no_hparams("signgd", hparams)
    w, record_at = _prepare(w0, n_steps, record_at, lr)

    def step() -> None:
        w[:] -= lr * np.sign(oracle(w))

    return _loop(w, step, int(n_steps), record_at)


def torch_runner(optimizer_cls: type[torch.optim.Optimizer], name: str) -> Callable[..., np.ndarray]:
    """A runner driving ``optimizer_cls`` (a ``torch.optim`` class) with oracle gradients, in float64."""

    def run(w0, oracle: GradientOracle, *, lr: float, n_steps: int, record_at, **hparams) -> np.ndarray:
        w, steps = _prepare(w0, n_steps, record_at, lr)
        param = torch.from_numpy(w).requires_grad_(True)  # shares memory with w
        grad = torch.zeros_like(param)
        param.grad = grad
        grad_np = grad.numpy()
        allowed = [p for p in inspect.signature(optimizer_cls).parameters if p not in ("self", "params", "lr")]
        check_options(f"theory optimizer '{name}'", hparams, allowed)
        hparams = {k: tuple(v) if isinstance(v, list) else v for k, v in hparams.items()}
        hparams.setdefault("foreach", False)  # the single-tensor path is the fastest for one tiny tensor
        try:
            opt = optimizer_cls([param], lr=lr, **hparams)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad hyper-parameters for optimizer '{name}': {exc}") from None

        def step() -> None:
            grad_np[:] = oracle(w)
            opt.step()

        return _loop(w, step, int(n_steps), steps)

    run.__name__ = f"run_{name}"
    run.__doc__ = f"``torch.optim.{optimizer_cls.__name__}`` on a float64 parameter fed with oracle gradients."
    return run


for _name, _cls in {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}.items():
    THEORY_OPTIMIZERS.register(_name, torch_runner(_cls, _name))
