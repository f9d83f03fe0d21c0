"""FGSM / the fast gradient method: one normalised gradient step of size eps."""

from __future__ import annotations

from robustopt.attacks.base import GradientAttack
from robustopt.attacks.norms import Eps
from robustopt.attacks.registry import register_attack


@register_attack("fgsm")
class FGSM(GradientAttack):
    r"""Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy, "Explaining and harnessing
    adversarial examples", ICLR 2015, arXiv:1412.6572).

    ``x_adv = clip_[0,1](x + eps * sign(grad_x loss))``.  With ``norm="l2"`` this is the fast
    gradient method ``x + eps * g / ||g||_2``.  It is :class:`~robustopt.attacks.base.GradientAttack`
    with one step of size eps and no random start.

    Arguments:
        eps (float or Tensor (N,)): radius of the threat model.
        norm (str): ``'linf'`` (FGSM) or ``'l2'`` (FGM).
        loss (str): ``'ce'`` or ``'margin'``.
        targeted (bool): step towards ``target`` (given at call time) instead of away from ``y``.

    Shape:
        x: ``(N, C, H, W)`` float in [0, 1]; y: ``(N,)`` int64; output: like x.

    Example::

        >>> x_adv = FGSM(eps=8 / 255)(model, x, y)
    """

    def __init__(
        self, eps: Eps, *, norm: str = "linf", loss: str = "ce", targeted: bool = False, seed: int = 0
    ) -> None:
        super().__init__(
            eps,
            steps=1,
            norm=norm,
            random_start=False,
            restarts=1,
            loss=loss,
            targeted=targeted,
            seed=seed,
            rel_alpha=1.0,
        )
