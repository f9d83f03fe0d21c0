"""Linear maps of tensors as matrix-free operators, and their largest singular value.

An operator is a linear map ``x -> A(x)`` from tensors of one shape to tensors of another, with its
adjoint.  :func:`lanczos_norm` (ARPACK Lanczos through :func:`scipy.sparse.linalg.svds`),
:func:`power_iteration_norm` and :func:`dense_norm` compute ``||A||_2``.  Lanczos and power
iteration approach the norm from below; use a certified bound (:mod:`robustopt.lipschitz.conv`)
where an upper bound is needed.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

DTYPE = torch.float64


class TensorOperator:
    """A linear map between tensor shapes, applied batch-wise; the adjoint is taken by autograd.

    Args:
        fn: the linear map, applied to a batch ``(B, *in_shape) -> (B, *out_shape)``.
        in_shape: the per-sample input shape.
        dtype: the dtype the map is evaluated in (float64 by default, for accurate norms).

    Subclasses may override :meth:`adjoint` with a closed form.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], in_shape: Sequence[int], dtype=DTYPE) -> None:
        self.fn = fn
        self.in_shape = tuple(int(s) for s in in_shape)
        self.dtype = dtype
        with torch.no_grad():
            self.out_shape = tuple(fn(torch.zeros((1, *self.in_shape), dtype=dtype)).shape[1:])

    @property
    def in_numel(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_numel(self) -> int:
        return math.prod(self.out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for a batch ``x`` of shape ``(B, *in_shape)``."""
        with torch.no_grad():
            return self.fn(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y`` for a batch ``y`` of shape ``(B, *out_shape)`` (vector-Jacobian product)."""
        x0 = torch.zeros((y.shape[0], *self.in_shape), dtype=y.dtype, requires_grad=True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.fn(x0), x0, grad_outputs=y)
        return grad

    # flat numpy interface for scipy
    def matvec(self, v: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(1, *self.in_shape), dtype=self.dtype)
        return self.forward(x).reshape(-1).to(torch.float64).numpy()

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        y = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).reshape(1, *self.out_shape), dtype=self.dtype)
        return self.adjoint(y).reshape(-1).to(torch.float64).numpy()

    def dense(self, chunk: int = 1024) -> np.ndarray:
        """The full matrix ``(out_numel, in_numel)``, built from the smaller side's basis vectors."""
        if self.in_numel <= self.out_numel:
            cols = []
            for start in range(0, self.in_numel, chunk):
                eye = torch.eye(self.in_numel, dtype=self.dtype)[start : start + chunk]
                cols.append(self.forward(eye.reshape(-1, *self.in_shape)).reshape(eye.shape[0], -1))
            return torch.cat(cols).T.to(torch.float64).numpy()
        rows = []
        for start in range(0, self.out_numel, chunk):
            eye = torch.eye(self.out_numel, dtype=self.dtype)[start : start + chunk]
            rows.append(self.adjoint(eye.reshape(-1, *self.out_shape)).reshape(eye.shape[0], -1))
        return torch.cat(rows).to(torch.float64).numpy()


def dense_norm(op: TensorOperator) -> float:
    """``||A||_2`` from the dense matrix and LAPACK's SVD (exact up to rounding; small operators only)."""
    mat = op.dense()
    if mat.size == 0:
        return 0.0
    if min(mat.shape) > 64:  # the top eigenvalue of the smaller Gram matrix (faster than an SVD)
        gram = mat @ mat.T if mat.shape[0] <= mat.shape[1] else mat.T @ mat
        return float(np.sqrt(max(float(np.linalg.eigvalsh(gram)[-1]), 0.0)))
    return float(np.linalg.svd(mat, compute_uv=False)[0])


def lanczos_norm(
    op: TensorOperator,
    rtol: float = 1e-4,
    seed: int = 0,
    maxiter: int | None = None,
    v0: torch.Tensor | np.ndarray | None = None,
    ncv: int = 20,
) -> float:
    """``||A||_2`` by ARPACK's implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``) on ``A^T A``.

    (``A A^T`` when that is smaller.)  The result is the square root of a Ritz value, hence at most
    the true norm.  ARPACK stops once the Ritz residual ``||A^T A v - theta v||`` is below ``rtol``
    times ``theta``; the error of the value itself is of the order of the squared residual over the
    spectral gap, far below ``rtol`` in practice (the tests require 1e-4 against dense SVD with
    the default).  ``v0`` (an input-shaped tensor, e.g. the top singular vector of a related
    operator) starts the iteration; otherwise the start vector comes from
    ``numpy.random.default_rng(seed)`` (no global RNG is touched).  ``ncv`` is the number of Lanczos
    vectors.  Operators whose smaller side has at most 2 dimensions are handled densely.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    m, n = op.out_numel, op.in_numel
    if min(m, n) <= 2:
        return dense_norm(op)
    rng = np.random.default_rng(seed)
    if n <= m:
        gram = LinearOperator((n, n), matvec=lambda v: op.rmatvec(op.matvec(v)), dtype=np.float64)
    else:
        gram = LinearOperator((m, m), matvec=lambda v: op.matvec(op.rmatvec(v)), dtype=np.float64)
    start = rng.standard_normal(min(m, n))
    if v0 is not None:
        vec = torch.as_tensor(v0, dtype=torch.float64).reshape(-1)
        if n > m:  # the iteration runs on A A^T: start from A v0
            vec = torch.as_tensor(op.matvec(vec.numpy()))
        if float(vec.norm()) > 0:
            start = (vec / vec.norm()).numpy() + 0.5 * start / np.linalg.norm(start)
    theta = eigsh(
        gram, k=1, which="LA", tol=rtol, v0=start, ncv=min(ncv, min(m, n) - 1), maxiter=maxiter,
        return_eigenvectors=False,
    )  # fmt: skip
    return float(np.sqrt(max(float(np.max(theta)), 0.0)))


def power_iteration_norm(op: TensorOperator, n_iter: int = 500, rtol: float = 1e-6, seed: int = 0) -> tuple[float, int]:
    """``||A||_2`` by power iteration on ``A^T A``; returns ``(estimate, iterations used)``.

    The estimate ``||A v||`` (``||v|| = 1``) is always at most the norm.  It stops when the estimate
    changes by less than ``rtol`` relative between iterations, which can happen well below the norm
    when the top singular values are close: prefer :func:`lanczos_norm`.
    """
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn((1, *op.in_shape), generator=gen, dtype=op.dtype)
    v /= v.norm()
    sigma = 0.0
    for it in range(1, n_iter + 1):
        u = op.forward(v)
        new_sigma = float(u.norm())
        w = op.adjoint(u)
        w_norm = float(w.norm())
        if w_norm == 0.0:
            return 0.0, it
        v = w / w_norm
        if it > 1 and abs(new_sigma - sigma) <= rtol * new_sigma:
            return new_sigma, it
        sigma = new_sigma
    return float(op.forward(v).norm()), n_iter


def schur_bound(op: TensorOperator) -> float:
    """Certified ``||A||_2 <= sqrt(max row sum * max column sum)`` for an operator with entries >= 0.

    (Schur's test.)  Exact for averaging operators such as pooling with equal windows.  Row sums are
    ``A 1`` and column sums ``A^T 1``.  The caller must know the entries are non-negative.
    """
    rows = op.forward(torch.ones((1, *op.in_shape), dtype=op.dtype))
    cols = op.adjoint(torch.ones((1, *op.out_shape), dtype=op.dtype))
    if rows.numel() == 0 or cols.numel() == 0:
        return 0.0
    return math.sqrt(max(float(rows.max()), 0.0) * max(float(cols.max()), 0.0))


__all__ = ["TensorOperator", "dense_norm", "lanczos_norm", "power_iteration_norm", "schur_bound"]
