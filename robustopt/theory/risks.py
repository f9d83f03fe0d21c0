"""Closed-form standard and adversarial risks of the linear model (arXiv:2308.06703, Sec. 4).

With ``e_tilde = w_tilde - w_star_tilde`` the residual ``r = w.x - y`` is Gaussian with variance
``S = sum_i sigma_tilde_i^2 e_tilde_i^2`` (plus ``noise_std^2`` with label noise), so

* standard risk ``R_s = E[r^2] / 2 = S / 2``;
* adversarial risk under ``||delta||_2 <= eps``: the worst ``delta`` is
  ``eps * sign(r) * w / ||w||`` and gives ``(|r| + eps ||w||)^2 / 2``, whose expectation is
  ``R_a = S/2 + eps * sqrt(2 S / pi) * ||w||_2 + eps^2 ||w||_2^2 / 2``
  (``||w||_2 = ||w_tilde||_2``: the DCT is orthonormal).

Note on the paper's own code (``notebook/fig5_error_dynamics_risks.ipynb`` of averyma/opt-robust):
its plotted standard risk is ``sum_i sigma_tilde_i * e_tilde_i^2`` -- sigma instead of sigma
squared, and without the 1/2.  We implement the correct ``S / 2``; its adversarial risk uses
the correct formula, which is why the numbers we get there (about 123.7 for GD and more for
signGD at eps = sqrt(2)) agree with the paper's figure.
"""

from __future__ import annotations

import numpy as np

from robustopt.errors import ConfigError


def _arrays(w_tilde, w_star_tilde, sigma_tilde) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(w_tilde, dtype=np.float64)
    w_star = np.asarray(w_star_tilde, dtype=np.float64)
    sigma = np.asarray(sigma_tilde, dtype=np.float64)
    if w.ndim == 0 or w.shape[-1] != w_star.shape[-1] or w.shape[-1] != sigma.shape[-1]:
        raise ConfigError(
            f"w_tilde {w.shape}, w_star_tilde {w_star.shape} and sigma_tilde {sigma.shape} must all end in the same "
            "dimension d"
        )
    return w, w_star, sigma


def _out(value: np.ndarray):
    return float(value) if np.ndim(value) == 0 else value


def residual_variance(w_tilde, w_star_tilde, sigma_tilde, noise_std: float = 0.0):
    """``S = sum_i sigma_tilde_i^2 (w_tilde_i - w_star_tilde_i)^2 + noise_std^2`` (vectorised over leading axes)."""
    w, w_star, sigma = _arrays(w_tilde, w_star_tilde, sigma_tilde)
    return _out(np.sum(sigma**2 * (w - w_star) ** 2, axis=-1) + float(noise_std) ** 2)


def standard_risk(w_tilde, w_star_tilde, sigma_tilde, noise_std: float = 0.0):
    """Population risk ``E[(w.x - y)^2] / 2 = S / 2`` of frequency-domain weights ``w_tilde``.

    Args are frequency-domain arrays of shape ``(d,)`` (a float is returned) or ``(..., d)``
    for ``w_tilde`` (an array over the leading axes is returned, e.g. a whole trajectory).
    """
    return _out(0.5 * np.asarray(residual_variance(w_tilde, w_star_tilde, sigma_tilde, noise_std)))


def adversarial_risk(w_tilde, w_star_tilde, sigma_tilde, eps, noise_std: float = 0.0):
    """Adversarial population risk ``E[max_{||delta||_2 <= eps} (w.(x + delta) - y)^2 / 2]``.

    Closed form ``S/2 + eps sqrt(2S/pi) ||w|| + eps^2 ||w||^2 / 2`` (see the module docstring).
    ``w_tilde`` may be ``(d,)`` or ``(..., d)``; ``eps`` a float or an array broadcasting
    against the leading axes of ``w_tilde``.  Returns a float for scalar inputs.
    """
    w, w_star, sigma = _arrays(w_tilde, w_star_tilde, sigma_tilde)
    eps = np.asarray(eps, dtype=np.float64)
    if np.any(eps < 0):
        raise ConfigError(f"the perturbation radius eps must be non-negative, got {eps!r}")
    s = np.asarray(residual_variance(w, w_star, sigma, noise_std))
    norm = np.linalg.norm(w, axis=-1)
    return _out(0.5 * s + eps * np.sqrt(2.0 * s / np.pi) * norm + 0.5 * eps**2 * norm**2)


def gd_closed_form(w0_tilde, w_star_tilde, sigma_tilde, lr: float, steps) -> np.ndarray:
    """GD's iterate on the population loss, in closed form, at the given step counts.

    Each frequency's error decays at its own rate:
    ``w_tilde_i(t) = w_star_tilde_i + (1 - lr sigma_tilde_i^2)^t (w0_tilde_i - w_star_tilde_i)``;
    an irrelevant frequency (``sigma_tilde_i = 0``) stays at its initial value.  Returns an
    array of shape ``(len(steps), d)`` (or ``(d,)`` for a scalar ``steps``).
    """
    w0, w_star, sigma = _arrays(w0_tilde, w_star_tilde, sigma_tilde)
    t = np.asarray(steps, dtype=np.float64)
    if np.any(t < 0):
        raise ConfigError("step counts must be non-negative")
    rate = 1.0 - lr * sigma**2
    return w_star + np.power(rate, t[..., None]) * (w0 - w_star)


def gd_limit(w0_tilde, w_star_tilde, sigma_tilde, lr: float) -> np.ndarray:
    """GD's limit on the population loss: ``w_star_tilde`` on the relevant frequencies, ``w0_tilde`` elsewhere.

    Valid when ``0 < lr sigma_tilde_i^2 < 2`` for every relevant frequency (GD converges).
    """
    w0, w_star, sigma = _arrays(w0_tilde, w_star_tilde, sigma_tilde)
    rate = np.abs(1.0 - lr * sigma**2)
    if np.any((sigma > 0) & (rate >= 1)):
        raise ConfigError(f"GD diverges or stalls with lr={lr}: need 0 < lr * sigma_tilde^2 < 2 on every frequency")
    return np.where(sigma > 0, w_star, w0)
