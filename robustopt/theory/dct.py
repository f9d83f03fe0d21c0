"""The orthonormal 1-D DCT-II as an explicit matrix (frequency <-> pixel coordinates).

Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703), Section 4, define the inputs of their linear
model in the frequency domain: ``x_tilde = D x`` with ``D`` the orthonormal DCT-II, so
``x = D.T @ x_tilde`` (the IDCT) and inner products and L2 norms are the same in both domains.
"""

from __future__ import annotations

import numpy as np

from robustopt.errors import ConfigError


def dct_matrix(d: int) -> np.ndarray:
    """The ``(d, d)`` orthonormal DCT-II matrix ``D`` with ``D[k, n] = c_k cos(pi (2n + 1) k / (2d))``.

    Row ``k`` is the ``k``-th frequency's basis vector in pixel coordinates, so
    ``x_tilde = D @ x`` (DCT) and ``x = D.T @ x_tilde`` (IDCT); ``c_0 = sqrt(1/d)``, ``c_k = sqrt(2/d)``.
    """
    if int(d) != d or d < 1:
        raise ConfigError(f"the dimension d must be a positive integer, got {d!r}")
    d = int(d)
    k = np.arange(d)[:, None]
    n = np.arange(d)[None, :]
    mat = np.sqrt(2.0 / d) * np.cos(np.pi * (2 * n + 1) * k / (2 * d))
    mat[0, :] = np.sqrt(1.0 / d)
    return mat


def to_frequency(w: np.ndarray) -> np.ndarray:
    """DCT of pixel-space vectors ``w`` (shape ``(..., d)``): returns ``w_tilde = D w``."""
    w = np.asarray(w, dtype=np.float64)
    return w @ dct_matrix(w.shape[-1]).T


def to_pixel(w_tilde: np.ndarray) -> np.ndarray:
    """IDCT of frequency-domain vectors ``w_tilde`` (shape ``(..., d)``): returns ``w = D.T w_tilde``."""
    w_tilde = np.asarray(w_tilde, dtype=np.float64)
    return w_tilde @ dct_matrix(w_tilde.shape[-1])
