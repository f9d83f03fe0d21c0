"""PGD: projected gradient descent on the loss, inside an L-inf or L2 eps-ball."""

from __future__ import annotations

from robustopt.attacks.base import GradientAttack
from robustopt.attacks.registry import register_attack


@register_attack("pgd")
class PGD(GradientAttack):
    r"""Projected Gradient Descent (Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards deep
    learning models resistant to adversarial attacks", ICLR 2018, arXiv:1706.06083).

    From a uniform random start in the eps-ball, ``steps`` times: step ``alpha`` along the
    normalised gradient (its sign for L-inf, ``g / ||g||_2`` for L2), project onto the eps-ball,
    clip to [0, 1].  With ``restarts > 1`` the worst case per sample is kept.

    Arguments:
        eps (float or Tensor (N,)): radius of the threat model.
        alpha (float, optional): step size; default ``2.5 * eps / steps`` (Madry et al.).
        steps (int): number of steps (default 10).
        norm (str): ``'linf'`` or ``'l2'``.
        random_start (bool): start uniformly inside the ball (default True).
        restarts (int): random restarts, worst case kept per sample (default 1).
        loss (str): ``'ce'`` or ``'margin'`` (Carlini-Wagner).
        targeted (bool): move towards ``target`` (given at call time) instead of away from ``y``.
        seed (int): seed of the attack's own generator for random starts.
        rel_alpha (float, optional): step size relative to eps when ``alpha`` is None (default ``2.5 / steps``).

    PGD is :class:`~robustopt.attacks.base.GradientAttack` itself (the loop and its options, with these
    defaults); this class names it and registers it as ``pgd``.

    Shape:
        x: ``(N, C, H, W)`` float in [0, 1]; y: ``(N,)`` int64; output: like x.

    Example::

        >>> x_adv = PGD(eps=8 / 255, alpha=2 / 255, steps=10, norm="linf")(model, x, y)
        >>> x_adv = PGD(eps=0.5, steps=100, norm="l2", restarts=5)(model, x, y)
        >>> x_adv = PGD(eps=0.1, targeted=True)(model, x, y, target=torch.zeros_like(y))
    """
