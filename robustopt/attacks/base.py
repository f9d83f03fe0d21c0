"""The attack base classes: :class:`Attack` (the contract) and :class:`GradientAttack` (the loop).

Every attack is a stateless callable ``attack(model, x, y) -> x_adv`` on image batches in
[0, 1].  :class:`Attack` owns what all attacks share: checking the inputs, per-sample ``eps``,
and leaving the caller's world as it was found (input tensor, the model's train/eval mode, its
parameters' ``requires_grad``, BatchNorm statistics and the global RNG).  :class:`GradientAttack`
owns the one iterative loop, read like foolbox 3's ``gradient_descent_base.py``::

    random start -> repeat: gradient, normalise, step, project onto the eps-ball, clip to [0, 1]

The norm-specific pieces come from a :class:`~robustopt.attacks.norms.ThreatModel`.
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from robustopt.attacks.norms import Eps, ThreatModel, get_threat_model
from robustopt.errors import ConfigError, DataError

# ---------------------------------------------------------------------------------------------
# Losses: per-sample objectives the attack *maximises*.


def ce_objective(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Cross-entropy to the true label (untargeted) or minus cross-entropy to the target."""
    ce = F.cross_entropy(logits, labels, reduction="none")
    return -ce if targeted else ce


def margin_objective(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Carlini-Wagner margin: ``max_{j != y} z_j - z_y`` (untargeted) or ``z_t - max_{j != t} z_j``."""
    label_logit = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return label_logit - others if targeted else others - label_logit


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]] = {
    "ce": ce_objective,
    "margin": margin_objective,
}


# ---------------------------------------------------------------------------------------------
# Leaving the model as we found it.


@contextlib.contextmanager
def frozen_model(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode with parameter gradients off; restore both on exit.

    Eval mode keeps BatchNorm running statistics untouched and dropout off; with
    ``requires_grad`` off, backward passes compute gradients with respect to the input only.
    """
    was_training = model.training
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
        model.train(was_training)


def _check_number(name: str, value, *, minimum: float, integer: bool = False, strict: bool = False) -> None:
    bad = not isinstance(value, (int, float)) or isinstance(value, bool) or (integer and not float(value).is_integer())
    if not bad:
        bad = value <= minimum if strict else value < minimum
    if bad or (isinstance(value, float) and math.isnan(value)):
        kind = "an integer" if integer else "a number"
        rel = ">" if strict else ">="
        raise ConfigError(f"{name} must be {kind} {rel} {minimum}, got {value!r}")


def check_eps(eps, n: int | None = None) -> None:
    """Raise ConfigError unless ``eps`` is a number >= 0 or a tensor of ``n`` values >= 0."""
    if isinstance(eps, torch.Tensor):
        if eps.dim() > 1 or (n is not None and eps.dim() == 1 and eps.numel() != n):
            raise ConfigError(
                f"a per-sample eps must be a 1-D tensor with one value per image ({n}), got shape {tuple(eps.shape)}"
            )
        if torch.isnan(eps).any() or (eps < 0).any():
            raise ConfigError(f"eps must be >= 0 for every sample, got min {eps.min().item()}")
        return
    _check_number("eps", eps, minimum=0.0)


class Attack(ABC):
    """An adversarial attack: ``attack(model, x, y) -> x_adv`` with ``x_adv`` in the eps-ball and [0, 1].

    Subclasses implement :meth:`run` on validated inputs inside :func:`frozen_model`; everything
    the caller can observe is restored afterwards.  Attributes ``eps`` and ``norm`` describe the
    threat model (the evaluation uses them to check the result).

    Shapes: ``x`` float ``(N, C, H, W)`` in [0, 1]; ``y`` int64 ``(N,)``; ``target`` (targeted
    attacks) int64 ``(N,)``; ``eps`` a float or a tensor ``(N,)``; output like ``x``.
    """

    eps: Eps
    threat: ThreatModel

    def __init__(self, eps: Eps, norm: str = "linf", *, seed: int = 0) -> None:
        check_eps(eps)
        self.eps = eps
        self.threat = get_threat_model(norm)
        self.seed = int(seed)

    @property
    def norm(self) -> str:
        return self.threat.name

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        target: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Adversarial examples for ``(x, y)``; ``generator`` (CPU) overrides the seeded one."""
        x0, y = self._check_inputs(x, y, target)
        with frozen_model(model):
            _check_label_range(model, x0, y, type(self).__name__)
        eps = self._batch_eps(x0)
        if not isinstance(eps, torch.Tensor) and eps == 0:
            return x0.clone()
        if generator is None:
            generator = torch.Generator(device="cpu")
            generator.manual_seed(self.seed)
        with frozen_model(model), torch.enable_grad():
            x_adv = self.run(model, x0, y, eps, target=target, generator=generator)
        return x_adv.detach()

    @abstractmethod
    def run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: Eps,
        *,
        target: Optional[torch.Tensor],
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The attack proper, on a detached copy ``x`` and a frozen model; ``eps`` as a float or ``(N, 1, ...)``."""

    # -- helpers ------------------------------------------------------------------------------

    def _check_inputs(self, x, y, target):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise DataError(f"{type(self).__name__} needs float images in [0, 1]; convert with x.float() / 255 first")
        if x.dim() < 2:
            raise DataError(f"{type(self).__name__} needs a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise DataError(
                f"labels must be a 1-D tensor with one label per image ({x.shape[0]}), got {getattr(y, 'shape', y)}"
            )
        if x.numel() and not torch.isfinite(x.detach()).all():
            bad = int((~torch.isfinite(x.detach())).sum())
            raise DataError(
                f"{type(self).__name__}: the images hold {bad} NaN or infinite pixel values; "
                "attack finite images in [0, 1] (check how they were loaded or preprocessed)"
            )
        if y.numel() and y.dtype.is_floating_point:
            raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
        if y.numel() and int(y.min()) < 0:
            raise DataError(f"labels must be class indices >= 0, got {int(y.min())}")
        if x.numel():
            lo, hi = torch.aminmax(x.detach())
            if lo < 0 or hi > 1:
                raise DataError(
                    "images must be in [0, 1] (normalisation belongs inside the model), "
                    f"got values in [{lo.item():.3g}, {hi.item():.3g}]"
                )
        if target is not None and (not isinstance(target, torch.Tensor) or target.shape != y.shape):
            raise DataError(f"target labels must be a tensor shaped like y {tuple(y.shape)}")
        return x.detach().clone(), y.detach().to(device=x.device, dtype=torch.long)

    def _batch_eps(self, x: torch.Tensor) -> Eps:
        eps = self.eps
        if isinstance(eps, torch.Tensor):
            check_eps(eps, x.shape[0])
            if eps.dim() == 0:
                return float(eps)
            return eps.detach().to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return float(eps)

    def _describe(self) -> str:
        eps = "per-sample" if isinstance(self.eps, torch.Tensor) else f"{self.eps:g}"
        return f"eps={eps}, norm={self.norm!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"


def _check_label_range(model: nn.Module, x: torch.Tensor, y: torch.Tensor, who: str) -> None:
    """DataError when a label is not one of the model's classes (one forward pass of one image tells how many)."""
    if not y.numel():
        return
    with torch.no_grad():
        num_classes = int(model(x[:1]).shape[-1])
    top = int(y.max())
    if top >= num_classes:
        raise DataError(
            f"{who}: label {top} is out of range: the model has {num_classes} classes, so labels must be in "
            f"0..{num_classes - 1}; check that the labels belong to this model's data set"
        )


class GradientAttack(Attack):
    """Iterated, normalised gradient ascent projected onto the eps-ball (the shared loop).

    Args:
        eps: radius of the threat model (float, or a tensor ``(N,)`` of per-sample radii).
        alpha: absolute step size; None means ``rel_alpha * eps``.
        steps: number of gradient steps (>= 1).
        norm: ``'linf'`` or ``'l2'``.
        random_start: start uniformly inside the eps-ball (from the attack's own generator).
        restarts: independent random starts; per sample the worst case is kept (a successful
            example first, then the highest loss).  Samples already fooled are not restarted.
        loss: ``'ce'`` (cross-entropy) or ``'margin'`` (Carlini-Wagner logit margin).
        targeted: push towards the ``target`` labels given at call time instead of away from ``y``.
        seed: seed of the generator for random starts (the global RNG is never used).
        rel_alpha: step size relative to eps when ``alpha`` is None.
    """

    def __init__(
        self,
        eps: Eps,
        *,
        alpha: Optional[float] = None,
        steps: int = 10,
        norm: str = "linf",
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        targeted: bool = False,
        seed: int = 0,
        rel_alpha: Optional[float] = None,
    ) -> None:
        super().__init__(eps, norm, seed=seed)
        _check_number("steps", steps, minimum=1, integer=True)
        _check_number("restarts", restarts, minimum=1, integer=True)
        if alpha is not None:
            _check_number("alpha (the step size)", alpha, minimum=0.0, strict=True)
        if loss not in LOSSES:
            raise ConfigError(f"unknown attack loss '{loss}'; use one of: {', '.join(LOSSES)}")
        if restarts > 1 and not random_start:
            raise ConfigError("restarts > 1 needs random_start=True (without it every restart is the same)")
        self.steps = int(steps)
        self.alpha = None if alpha is None else float(alpha)
        self.rel_alpha = float(rel_alpha) if rel_alpha is not None else 2.5 / self.steps
        self.random_start = bool(random_start)
        self.restarts = int(restarts)
        self.loss = loss
        self.targeted = bool(targeted)

    def objective(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-sample quantity the attack maximises (override to plug in another loss)."""
        return LOSSES[self.loss](logits, labels, self.targeted)

    def _summed_objective(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Summed (not averaged) so each sample's gradient is independent of the batch size.
        if self.loss == "ce" and type(self).objective is GradientAttack.objective:
            ce = F.cross_entropy(logits, labels, reduction="sum")  # one kernel fewer than none + sum
            return -ce if self.targeted else ce
        return self.objective(logits, labels).sum()

    def run(self, model, x, y, eps, *, target, generator):
        if self.targeted and target is None:
            raise ConfigError(
                f"{type(self).__name__} was built with targeted=True; pass target=<labels> when calling it"
            )
        labels = target.detach().to(device=x.device, dtype=torch.long) if self.targeted else y
        alpha: Eps = self.alpha if self.alpha is not None else self.rel_alpha * eps
        if self.restarts == 1:
            return self._descend(model, x, labels, eps, alpha, generator)

        best_x = best_obj = best_success = None
        active = torch.arange(x.shape[0], device=x.device)
        for restart in range(self.restarts):
            sub_eps = eps[active] if isinstance(eps, torch.Tensor) else eps
            sub_alpha = alpha[active] if isinstance(alpha, torch.Tensor) else alpha
            x_r = self._descend(model, x[active], labels[active], sub_eps, sub_alpha, generator)
            with torch.no_grad():
                logits = model(x_r)
                obj = self.objective(logits, labels[active])
                success = self._success(logits, labels[active])
            if restart == 0:
                best_x, best_obj, best_success = x_r, obj, success
            else:  # the active samples are not yet successful: take a success, else a higher loss
                better = success | (obj > best_obj[active])
                idx = active[better]
                best_x[idx], best_obj[idx], best_success[idx] = x_r[better], obj[better], success[better]
            active = torch.nonzero(~best_success).flatten()
            if active.numel() == 0:
                break
        return best_x

    def _success(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pred = logits.argmax(1)
        return pred == labels if self.targeted else pred != labels

    def _descend(self, model, x0, labels, eps, alpha, generator) -> torch.Tensor:
        """One run of the loop from one (random) start."""
        threat = self.threat
        if self.random_start:
            x_adv = (x0 + threat.random_start(x0, eps, generator)).clamp_(0.0, 1.0)
        else:
            x_adv = x0.clone()
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            loss = self._summed_objective(model(x_adv), labels)
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + alpha * threat.normalize(grad)
                x_adv = x0 + threat.project(x_adv - x0, eps)
                x_adv = x_adv.clamp_(0.0, 1.0)
        return x_adv.detach()

    def _describe(self) -> str:
        alpha = f"{self.alpha:g}" if self.alpha is not None else f"{self.rel_alpha:g}*eps"
        extra = f", restarts={self.restarts}" if self.restarts > 1 else ""
        extra += ", targeted=True" if self.targeted else ""
        return (
            f"{super()._describe()}, alpha={alpha}, steps={self.steps}, random_start={self.random_start}, "
            f"loss={self.loss!r}{extra}"
        )
