"""Threat models: the eps-balls an attack may move an image in.

A threat model supplies the three pieces of the attack loop that depend on the norm, as in
foolbox 3's ``gradient_descent_base.py``: a random start inside the ball, the normalised ascent
direction (steepest ascent for that norm) and the projection onto the ball.  ``eps`` is either a
Python float or a tensor broadcastable to the batch (shape ``(N, 1, ..., 1)``) for per-sample
budgets.  Clipping to the pixel range [0, 1] is done by the attack loop, after the projection.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Union

import torch

from robustopt.errors import ConfigError

Eps = Union[float, torch.Tensor]

_TINY = 1e-12


def _flat_norms(v: torch.Tensor, p: float) -> torch.Tensor:
    """Per-sample ``p``-norms of ``v`` shaped ``(N, 1, ..., 1)`` for broadcasting."""
    n = torch.linalg.vector_norm(v.flatten(1), ord=p, dim=1)
    return n.view(-1, *([1] * (v.dim() - 1)))


class ThreatModel(ABC):
    """The eps-ball of one norm: random start, normalised step direction, projection."""

    name: str = ""
    p: float = math.inf

    def distance(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-sample distance ``||x_adv - x||_p``, shape ``(N,)``."""
        return torch.linalg.vector_norm((x_adv - x).flatten(1), ord=self.p, dim=1)

    @abstractmethod
    def random_start(self, x: torch.Tensor, eps: Eps, generator: torch.Generator) -> torch.Tensor:
        """A random perturbation uniform in the eps-ball (drawn on the CPU from ``generator``)."""

    @abstractmethod
    def normalize(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent direction of unit norm for this threat model."""

    @abstractmethod
    def project(self, delta: torch.Tensor, eps: Eps) -> torch.Tensor:
        """The point of the eps-ball closest to ``delta``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinfThreat(ThreatModel):
    """``||delta||_inf <= eps``: sign steps, coordinate-wise clipping (FGSM / Madry's PGD)."""

    name = "linf"
    p = math.inf

    def random_start(self, x, eps, generator):
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return (2 * u - 1) * eps

    def normalize(self, grad):
        return grad.sign()

    def project(self, delta, eps):
        return delta.clamp(-eps, eps)  # eps a float or a per-sample tensor (N, 1, ..., 1)


class L2Threat(ThreatModel):
    """``||delta||_2 <= eps``: steps along ``g / ||g||_2``, radial projection (fast gradient method)."""

    name = "l2"
    p = 2.0

    def random_start(self, x, eps, generator):
        # Uniform in the d-ball: a Gaussian direction scaled by radius U^(1/d).
        n, d = x.shape[0], x[0].numel()
        direction = torch.randn((n, d), generator=generator, dtype=torch.float64)
        direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(_TINY)
        radius = torch.rand((n, 1), generator=generator, dtype=torch.float64) ** (1.0 / d)
        r = (direction * radius).to(device=x.device, dtype=x.dtype).view_as(x)
        return r * eps

    def normalize(self, grad):
        return grad / _flat_norms(grad, 2.0).clamp_min(_TINY)

    def project(self, delta, eps):
        norms = _flat_norms(delta, 2.0)
        factor = torch.clamp(eps / norms.clamp_min(_TINY), max=1.0)
        return delta * factor


THREAT_MODELS: dict[str, ThreatModel] = {"linf": LinfThreat(), "l2": L2Threat()}
_ALIASES = {"inf": "linf", "l_inf": "linf", "linfty": "linf", "l-inf": "linf", "2": "l2", "l_2": "l2"}


def get_threat_model(norm: str | ThreatModel) -> ThreatModel:
    """The threat model for ``norm`` (``'linf'`` or ``'l2'``, case-insensitive) or a ThreatModel itself."""
    if isinstance(norm, ThreatModel):
        return norm
    key = str(norm).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in THREAT_MODELS:
        raise ConfigError(f"unknown norm '{norm}'; use one of: {', '.join(THREAT_MODELS)}")
    return THREAT_MODELS[key]


def canonical_norm(norm: str) -> str:
    """``'Linf'`` -> ``'linf'`` etc.; raises ConfigError for an unknown norm."""
    return get_threat_model(norm).name
