"""The linear regression model with irrelevant frequencies of Ma, Pan & Farahmand (TMLR 2023).

Inputs are defined in the frequency domain, ``x_tilde ~ N(0, diag(sigma_tilde**2))`` and
``x = IDCT(x_tilde)`` (orthonormal DCT); labels are ``y = w_star_tilde . x_tilde + noise``.  A
frequency with ``sigma_tilde_i = 0`` (or tiny) is *irrelevant*: it carries no (or almost no)
signal, so the loss does not constrain the weight along it.  The linear model ``y_hat = w . x``
has pixel-space weights ``w``; its frequency-domain weights are ``w_tilde = DCT(w)`` and, since
the DCT is orthonormal, ``w . x = w_tilde . x_tilde``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from robustopt.errors import ConfigError
from robustopt.theory.dct import dct_matrix

#: The paper's instance (Section 4 / Figure 5 of arXiv:2308.06703).
PAPER_SIGMA_TILDE = (0.1, 0.05, 0.0)
PAPER_W_STAR_TILDE = (5.0, 10.0, 0.0)
PAPER_W0_TILDE = (0.01, -0.01, 0.02)
PAPER_LR = 1e-2
PAPER_STEPS = 200_001
PAPER_BATCH_SIZE = 5000


def _vector(name: str, value, d: int | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{name} must be a non-empty list of numbers, got {value!r}")
    if d is not None and arr.size != d:
        raise ConfigError(f"{name} has {arr.size} entries but the model has d = {d}; give one per frequency")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return arr


@dataclass(frozen=True)
class FrequencyLinearModel:
    """Linear regression with Gaussian inputs defined per DCT frequency (arXiv:2308.06703, Sec. 4).

    Args:
        sigma_tilde: ``(d,)`` standard deviations of the frequency-domain inputs (0 = irrelevant).
        w_star_tilde: ``(d,)`` true frequency-domain weights.
        noise_std: standard deviation of additive Gaussian label noise (0 in the paper).

    Example::

        model = FrequencyLinearModel.paper()
        x, y = model.sample(5000, np.random.default_rng(0))   # x: (5000, 3) pixel space
    """

    sigma_tilde: np.ndarray
    w_star_tilde: np.ndarray
    noise_std: float = 0.0
    dct: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sigma = _vector("sigma_tilde", self.sigma_tilde)
        if np.any(sigma < 0):
            raise ConfigError(f"sigma_tilde must be non-negative standard deviations, got {sigma.tolist()}")
        w_star = _vector("w_star_tilde", self.w_star_tilde, sigma.size)
        if not np.isfinite(self.noise_std) or self.noise_std < 0:
            raise ConfigError(f"noise_std must be a non-negative number, got {self.noise_std!r}")
        object.__setattr__(self, "sigma_tilde", sigma)
        object.__setattr__(self, "w_star_tilde", w_star)
        object.__setattr__(self, "noise_std", float(self.noise_std))
        object.__setattr__(self, "dct", dct_matrix(sigma.size))

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def paper(cls, irrelevant_std: float = 0.0) -> FrequencyLinearModel:
        """The paper's instance: ``sigma_tilde = (0.1, 0.05, irrelevant_std)``, ``w_star_tilde = (5, 10, 0)``."""
        sigma = list(PAPER_SIGMA_TILDE)
        sigma[2] = irrelevant_std
        return cls(np.array(sigma), np.array(PAPER_W_STAR_TILDE))

    def with_sigma(self, index, std: float) -> FrequencyLinearModel:
        """A copy whose frequencies ``index`` (an int or a list) have input standard deviation ``std``."""
        sigma = self.sigma_tilde.copy()
        sigma[np.atleast_1d(index)] = std
        return replace(self, sigma_tilde=sigma)

    # -- properties ----------------------------------------------------------------------
    @property
    def d(self) -> int:
        """The input dimension."""
        return int(self.sigma_tilde.size)

    @property
    def w_star(self) -> np.ndarray:
        """The true weights in pixel space, ``IDCT(w_star_tilde)``."""
        return self.dct.T @ self.w_star_tilde

    @property
    def irrelevant(self) -> np.ndarray:
        """Indices of the frequencies with exactly zero input variance."""
        return np.flatnonzero(self.sigma_tilde == 0)

    @property
    def input_covariance(self) -> np.ndarray:
        """``E[x x^T] = D^T diag(sigma_tilde^2) D`` in pixel space."""
        return self.dct.T @ (self.sigma_tilde[:, None] ** 2 * self.dct)

    @property
    def input_label_covariance(self) -> np.ndarray:
        """``E[x y] = D^T diag(sigma_tilde^2) w_star_tilde`` in pixel space."""
        return self.dct.T @ (self.sigma_tilde**2 * self.w_star_tilde)

    # -- sampling and gradients ----------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` samples with ``rng``: pixel-space inputs ``x`` of shape ``(n, d)`` and labels ``(n,)``."""
        x_tilde = rng.standard_normal((n, self.d)) * self.sigma_tilde
        y = x_tilde @ self.w_star_tilde
        if self.noise_std > 0:
            y = y + self.noise_std * rng.standard_normal(n)
        return x_tilde @ self.dct, y  # row-vector form of x = D^T x_tilde

    def population_gradient(self, w: np.ndarray) -> np.ndarray:
        """Exact gradient of the population loss ``E[(w.x - y)^2] / 2`` at pixel weights ``w``."""
        e_tilde = self.dct @ w - self.w_star_tilde
        return self.dct.T @ (self.sigma_tilde**2 * e_tilde)
