"""Adapter for AutoAttack (the optional extra ``robustopt[autoattack]``, PyPI ``pyautoattack``).

The paper reports AutoAttack's standard ensemble (APGD-CE, APGD-T, FAB-T, Square) on the first
1000 test images; this adapter runs it as an ordinary registry entry, so the ``robust_accuracy``
evaluation uses it like any other attack (and it is the worked example of a third-party attack
plugging in).  The package reseeds the global torch RNG; the adapter restores it afterwards.
"""

from __future__ import annotations

import importlib
import inspect
import random
from types import ModuleType
from typing import Optional

import numpy as np
import torch
from torch import nn

from robustopt.attacks.base import Attack
from robustopt.attacks.norms import Eps
from robustopt.attacks.registry import register_attack
from robustopt.errors import ConfigError, DependencyError

# Module names that provide ``AutoAttack``: PyPI's ``pyautoattack``, then the original
# ``autoattack`` (pip install git+https://github.com/fra31/auto-attack).
_MODULES = ("pyautoattack", "autoattack")
_NORM_NAMES = {"linf": "Linf", "l2": "L2"}


def import_autoattack() -> ModuleType:
    """The installed AutoAttack module, or DependencyError naming the extra to install."""
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if hasattr(module, "AutoAttack"):
            return module
    raise DependencyError(
        "the 'autoattack' attack needs the AutoAttack package; install it with pip install 'robustopt[autoattack]' "
        "(PyPI pyautoattack)"
    )


@register_attack("autoattack")
class AutoAttack(Attack):
    r"""AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020, arXiv:2003.01690) through the ``autoattack`` package.

    Arguments:
        eps (float): radius (a per-sample eps is not supported by AutoAttack).
        norm (str): ``'linf'`` or ``'l2'``.
        version (str): AutoAttack version: ``'standard'`` (APGD-CE, APGD-T, FAB-T, Square), ``'plus'``, ``'rand'``.
        attacks (list of str, optional): with ``version='custom'``, which of its attacks to run.
        seed (int): AutoAttack's seed (it reseeds the global RNG; the adapter restores it).
        batch_size (int, optional): AutoAttack's internal batch size (default: the whole batch).

    Shape:
        x: ``(N, C, H, W)`` float in [0, 1]; y: ``(N,)`` int64; output: like x.

    Example::

        >>> x_adv = AutoAttack(eps=8 / 255, norm="linf")(model, x, y)   # needs robustopt[autoattack]
    """

    def __init__(
        self,
        eps: Eps,
        *,
        norm: str = "linf",
        version: str = "standard",
        attacks: Optional[list] = None,
        seed: int = 0,
        batch_size: Optional[int] = None,
    ) -> None:
        super().__init__(eps, norm, seed=seed)
        if isinstance(eps, torch.Tensor) and eps.dim() > 0:
            raise ConfigError("AutoAttack needs one eps for the whole batch, not a per-sample tensor")
        if attacks is not None and version != "custom":
            raise ConfigError("AutoAttack's 'attacks' option needs version='custom'")
        self.version = str(version)
        self.attacks = list(attacks) if attacks is not None else None
        self.batch_size = batch_size
        self._module = import_autoattack()  # fail early, at build time, with the install hint

    def run(self, model: nn.Module, x, y, eps, *, target, generator):
        if target is not None:
            raise ConfigError("the AutoAttack adapter is untargeted; leave target unset (APGD-T / FAB-T pick targets)")
        devices = [x.device] if x.device.type == "cuda" else []
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=devices):
            try:
                return self._run_package(model, x, y, float(eps))
            finally:
                np.random.set_state(np_state)
                random.setstate(py_state)

    def _run_package(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        cls = self._module.AutoAttack
        params = inspect.signature(cls).parameters
        kwargs = dict(norm=_NORM_NAMES[self.norm], eps=eps, version=self.version, seed=self.seed, device=x.device)
        if self.attacks is not None:
            kwargs["attacks_to_run" if "attacks_to_run" in params else "attacks"] = self.attacks
        if "verbose" in params:
            kwargs["verbose"] = False
        adversary = cls(model, **kwargs)
        if hasattr(adversary, "verbose"):
            adversary.verbose = False
        bs = int(self.batch_size or max(x.shape[0], 1))
        run_params = inspect.signature(adversary.run_standard_evaluation).parameters
        if "batch_size" in run_params:  # pyautoattack
            out = adversary.run_standard_evaluation(x, y, batch_size=bs)
        else:  # fra31/auto-attack
            out = adversary.run_standard_evaluation(x, y, bs=bs)
        x_adv = out[0] if isinstance(out, tuple) else out
        return x_adv.detach().to(device=x.device, dtype=x.dtype)

    def _describe(self) -> str:
        return f"{super()._describe()}, version={self.version!r}"
