"""Gradient oracles for the linear model: exact (population), fresh sampled batches, fixed data set.

Every oracle is a callable ``oracle(w) -> grad`` on pixel-space float64 weights ``(d,)`` and
returns the gradient of the half mean squared error ``(w.x - y)^2 / 2`` in pixel space.  Sampled
oracles own their ``numpy.random.Generator``; two oracles built with the same seed produce the
same batch sequence, so optimizers compared on them see the same data (common random numbers).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from robustopt.errors import ConfigError
from robustopt.theory.data_model import FrequencyLinearModel

GradientOracle = Callable[[np.ndarray], np.ndarray]


class PopulationGradient:
    """The exact expected gradient ``D^T diag(sigma_tilde^2) (D w - w_star_tilde)``."""

    def __init__(self, model: FrequencyLinearModel) -> None:
        self.model = model
        self._h = model.input_covariance
        self._b = model.input_label_covariance

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._h @ w - self._b


class SampledGradient:
    """The gradient on a fresh batch of ``batch_size`` samples at every call.

    Args:
        model: the data model.
        batch_size: samples per batch (5000 in the paper).
        seed: seed of this oracle's own ``numpy.random.Generator``.
        sampler: ``"wishart"`` (default) draws the batch's sufficient statistics directly: the
            batch gradient in the frequency domain is ``M_xx e_tilde - m_xy`` with
            ``[M_xx, m_xy; ., .] = Z^T Z / n`` for ``Z = [x_tilde, noise]``, a scaled Wishart
            matrix, drawn with Bartlett's decomposition in ``O(d^2)`` per step -- the same
            distribution as ``"explicit"``, which draws all ``batch_size`` samples (``O(n d)``).
        chunk: how many steps' statistics the Wishart sampler draws at once.
    """

    SAMPLERS = ("wishart", "explicit")

    def __init__(
        self,
        model: FrequencyLinearModel,
        batch_size: int,
        seed: int = 0,
        sampler: str = "wishart",
        chunk: int = 4096,
    ) -> None:
        if sampler not in self.SAMPLERS:
            raise ConfigError(f"unknown batch sampler '{sampler}'; use one of {', '.join(self.SAMPLERS)}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if sampler == "wishart" and batch_size < model.d + 1:
            raise ConfigError(
                f"the wishart sampler needs batch_size >= d + 1 = {model.d + 1}; use sampler='explicit' for smaller "
                "batches"
            )
        self.model = model
        self.batch_size = int(batch_size)
        self.sampler = sampler
        self.rng = np.random.default_rng(seed)
        self._chunk = int(chunk)
        self._scale = np.append(model.sigma_tilde, model.noise_std)
        self._stats: np.ndarray | None = None
        self._next = 0
        self._draw = self._explicit if sampler == "explicit" else self._wishart

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._draw(w)

    def _explicit(self, w: np.ndarray) -> np.ndarray:
        x, y = self.model.sample(self.batch_size, self.rng)
        return x.T @ (x @ w - y) / self.batch_size

    def _draw_stats(self) -> None:
        """Draw ``chunk`` matrices ``Z^T Z / n`` (Bartlett: ``G^T G ~ L L^T``, ``G`` standard normal ``n x (d+1)``)."""
        k, m, n = self._chunk, self.model.d + 1, self.batch_size
        low = np.tril(self.rng.standard_normal((k, m, m)), -1)
        diag = np.sqrt(self.rng.chisquare(n - np.arange(m), size=(k, m)))
        low[:, np.arange(m), np.arange(m)] = diag
        gram = low @ np.swapaxes(low, 1, 2) / n
        self._stats = gram * self._scale[:, None] * self._scale[None, :]
        self._next = 0

    def _wishart(self, w: np.ndarray) -> np.ndarray:
        if self._stats is None or self._next == self._chunk:
            self._draw_stats()
        stats = self._stats[self._next]
        self._next += 1
        d = self.model.d
        e_tilde = self.model.dct @ w - self.model.w_star_tilde
        # the label is y = w_star . x_tilde + noise, so the residual is e_tilde . x_tilde - noise
        return self.model.dct.T @ (stats[:d, :d] @ e_tilde - stats[:d, d])


class DatasetGradient:
    """Full-batch gradient of ``mean((x w - y)^2) / 2`` on a fixed data set ``x (n, d)``, ``y (n,)``."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        if self.x.ndim != 2 or self.y.shape != (self.x.shape[0],):
            raise ConfigError(f"x must be (n, d) and y (n,), got {self.x.shape} and {self.y.shape}")
        n = self.x.shape[0]
        self._h = self.x.T @ self.x / n
        self._b = self.x.T @ self.y / n

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._h @ w - self._b


def make_oracle(
    model: FrequencyLinearModel,
    gradient: str = "population",
    batch_size: int = 5000,
    seed: int = 0,
    sampler: str = "wishart",
) -> GradientOracle:
    """Build the oracle named ``gradient``: ``"population"`` (exact) or ``"sampled"`` (fresh batches)."""
    if gradient == "population":
        return PopulationGradient(model)
    if gradient == "sampled":
        return SampledGradient(model, batch_size, seed=seed, sampler=sampler)
    raise ConfigError(f"unknown gradient '{gradient}'; use 'population' or 'sampled'")
