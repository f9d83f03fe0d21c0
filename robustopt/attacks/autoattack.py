"""Adapter for AutoAttack (PyPI ``pyautoattack``, a dependency of robustopt).

The paper reports AutoAttack's standard ensemble (APGD-CE, APGD-T, FAB-T, Square) on the first
1000 test images for L2 and L-inf; this adapter runs it as an ordinary registry entry, so the
``robust_accuracy`` evaluation uses it like any other attack (``{name: autoattack, norm: l2}``).

The authors call their vendored copy of fra31/auto-attack as
``AutoAttack(model, norm='L2'|'Linf', eps=eps, version='standard')`` with the default ``seed=None``
(the package then seeds every attack with ``time.time()``, so their numbers are not repeatable);
here the seed is explicit (the evaluation's seed).  The package reseeds the global torch RNG; the
adapter restores the global torch, numpy and ``random`` states afterwards.
"""

from __future__ import annotations

import importlib
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

_NORM_NAMES = {"linf": "Linf", "l2": "L2"}
VERSIONS = ("standard", "plus", "rand", "custom")


def import_autoattack() -> ModuleType:
    """The ``pyautoattack`` module, or DependencyError saying how to install it."""
    try:
        return importlib.import_module("pyautoattack")
    except ModuleNotFoundError as exc:
        if exc.name != "pyautoattack":
            raise
        raise DependencyError(
            "the 'autoattack' attack needs the package pyautoattack, a dependency of robustopt; "
            "reinstall robustopt (pip install -e .) or run pip install 'pyautoattack>=0.2,<0.3'"
        ) from None


def _cuda_devices(x: torch.Tensor) -> list[int]:
    """CUDA devices whose RNG the package may reseed (it seeds the current device's): x's and the current one."""
    devices = set()
    if x.device.type == "cuda":
        devices.add(x.device.index if x.device.index is not None else torch.cuda.current_device())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        devices.add(torch.cuda.current_device())
    return sorted(devices)


@register_attack("autoattack")
class AutoAttack(Attack):
    r"""AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020, arXiv:2003.01690) through the ``pyautoattack`` package.

    Arguments:
        eps (float): radius (a per-sample eps is not supported by AutoAttack).
        norm (str): ``'linf'`` or ``'l2'``.
        version (str): ``'standard'`` (APGD-CE, APGD-T, FAB-T, Square; the paper's), ``'plus'``, ``'rand'``,
            or ``'custom'`` with ``attacks``.
        attacks (list of str, optional): with ``version='custom'``, which of the package's attacks to run
            (``apgd-ce``, ``apgd-dlr``, ``fab``, ``square``, ``apgd-t``, ``fab-t``).
        seed (int): AutoAttack's seed (it reseeds the global RNG; the adapter restores it).
        batch_size (int, optional): AutoAttack's internal batch size (default: the whole batch).

    Shape:
        x: ``(N, C, H, W)`` float in [0, 1]; y: ``(N,)`` int64; output: like x.  Images the model
        misclassifies, and images no attack fools, come back unchanged.

    Example::

        >>> x_adv = AutoAttack(eps=8 / 255, norm="linf", seed=0)(model, x, y)
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
        if version not in VERSIONS:
            raise ConfigError(f"unknown AutoAttack version '{version}'; use one of: {', '.join(VERSIONS)}")
        if (attacks is not None) != (version == "custom"):
            raise ConfigError("AutoAttack's 'attacks' option goes with version='custom' (and custom needs 'attacks')")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"AutoAttack's batch_size must be a positive integer or null, got {batch_size!r}")
        self.version = str(version)
        self.attacks = list(attacks) if attacks is not None else None
        self.batch_size = batch_size
        self._module = import_autoattack()  # fail early, at build time, with the install hint

    def run(self, model: nn.Module, x, y, eps, *, target, generator):
        if target is not None:
            raise ConfigError("the AutoAttack adapter is untargeted; leave target unset (APGD-T / FAB-T pick targets)")
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=_cuda_devices(x)):
            try:
                return self._run_package(model, x, y, float(eps))
            finally:
                np.random.set_state(np_state)
                random.setstate(py_state)

    def _run_package(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
        adversary = self._module.AutoAttack(
            model,
            norm=_NORM_NAMES[self.norm],
            eps=eps,
            version=self.version,
            seed=self.seed,
            device=x.device,
            attacks=self.attacks,
        )
        adversary.verbose = False  # the package logs to logging.getLogger('auto-attack') when verbose
        x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=int(self.batch_size or max(x.shape[0], 1)))
        return x_adv.detach().to(device=x.device, dtype=x.dtype)

    def _describe(self) -> str:
        extra = f", attacks={self.attacks}" if self.attacks else ""
        return f"{super()._describe()}, version={self.version!r}{extra}, seed={self.seed}"
