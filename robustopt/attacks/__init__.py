"""Adversarial attacks: FGSM, PGD (L-inf, L2) and an AutoAttack adapter, looked up in :data:`ATTACKS`.

Every attack is a stateless callable ``attack(model, x, y) -> x_adv`` on images in [0, 1]::

    from robustopt.attacks import PGD
    x_adv = PGD(eps=8 / 255, alpha=2 / 255, steps=10, norm="linf")(model, x, y)

Add your own with :func:`register_attack` (docs/plugins.md).
"""

from robustopt.attacks import autoattack  # noqa: F401  (registers "autoattack")
from robustopt.attacks.base import Attack, GradientAttack, frozen_model
from robustopt.attacks.fgsm import FGSM
from robustopt.attacks.grids import PAPER_EPS_GRIDS, default_eps_grid
from robustopt.attacks.norms import THREAT_MODELS, L2Threat, LinfThreat, ThreatModel, get_threat_model
from robustopt.attacks.pgd import PGD
from robustopt.attacks.registry import ATTACKS, build_attack, register_attack

__all__ = [
    "ATTACKS",
    "FGSM",
    "PAPER_EPS_GRIDS",
    "PGD",
    "THREAT_MODELS",
    "Attack",
    "GradientAttack",
    "L2Threat",
    "LinfThreat",
    "ThreatModel",
    "build_attack",
    "default_eps_grid",
    "frozen_model",
    "get_threat_model",
    "register_attack",
]
