"""Sharpness of a trained network's loss surface: top Hessian eigenvalues, Hessian trace, one-step SAM sharpness.

"Sharpness" here means the curvature of the mean cross-entropy loss

    L(w) = (1/N) sum_n CE(f_w(x_n), y_n)

on a fixed set of images (x, y), as a function of the network's trainable parameters w, at the trained
weights.  Keskar et al. (2017), "On large-batch training for deep learning: generalization gap and sharp
minima", relate flat minima (small curvature) to generalisation; the optimizer comparison of Ma, Pan &
Farahmand (TMLR 2023) invites the same question for robustness.  Three numbers measure it:

* :func:`hessian_eigenvalues`: the top-k (largest algebraic) eigenvalues of the Hessian of L, by the Lanczos
  method (Lanczos 1950; ARPACK's implicitly restarted Lanczos, ``scipy.sparse.linalg.eigsh``) on exact
  Hessian-vector products (:class:`HessianOperator`, double back-propagation, Pearlmutter 1994);
* :func:`hessian_trace`: the trace of that Hessian (the sum of all its eigenvalues) by Hutchinson's estimator
  with Rademacher probes (Hutchinson 1989), with its standard error;
* :func:`sam_sharpness`: the loss increase after one normalised gradient-ascent step of length
  ``rho * ||w||`` on the weights, the first-order solution of SAM's inner maximisation over an L2 ball
  (Foret et al. 2021, "Sharpness-aware minimization"; the ball's radius relative to the weight norm as in
  the adversarial weight perturbation of Wu et al. 2020).

All three put the model in eval mode (BatchNorm uses its running statistics, dropout is off) for the
computation and restore each module's train/eval flag afterwards; the Hessian is that of the eval-mode network.
The images are processed in chunks of ``batch_size`` (tensors, no per-image Python); the result does not
depend on the chunking beyond floating-point rounding.  Randomness (the Lanczos start vector, the probes) comes
from a ``torch.Generator`` seeded with ``seed``; the global RNG is not touched.  ``dtype=torch.float64`` runs
everything on a float64 copy of the model (used by the tests against dense Hessians).
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from robustopt.errors import CheckpointError, ConfigError, DataError

__all__ = ["TraceEstimate", "hessian_eigenvalues", "hessian_trace", "HessianOperator", "sam_sharpness"]


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's estimate of the Hessian trace: ``trace`` = mean of ``v^T H v`` over ``n_samples`` Rademacher
    probes ``v``, ``stderr`` = their sample standard deviation / sqrt(n_samples) (the estimate's standard error)."""

    trace: float
    stderr: float
    n_samples: int

    def as_dict(self) -> dict:
        return asdict(self)


# -- checks and helpers -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside the block; every module's own train/eval flag restored afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _prepared(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, dtype: Optional[torch.dtype]):
    """Validate the inputs; return ``(model, params, chunks, N)`` with the model (a cast copy when ``dtype``
    differs from the model's) and ``chunks`` = ``[(x_i, y_i), ...]`` on the model's device."""
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise DataError(
            "sharpness: x and y must be torch tensors (images (N, C, H, W) in [0, 1] and int64 labels (N,))"
        )
    if int(batch_size) < 1:
        raise ConfigError(f"sharpness: batch_size must be a positive integer, got {batch_size}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"sharpness: no images given (x has shape {tuple(x.shape)}); pass at least one image")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataError(
            f"sharpness: {x.shape[0]} images but labels of shape {tuple(y.shape)}; pass one label per image"
        )
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DataError(f"sharpness: labels must be integer class indices, got dtype {y.dtype}")
    if not x.dtype.is_floating_point:
        raise DataError(
            f"sharpness: images must be floating point in [0, 1], got dtype {x.dtype}; divide uint8 images by 255"
        )
    if not bool(torch.isfinite(x).all()):
        raise DataError("sharpness: the images contain NaN or inf; pass finite images in [0, 1]")
    params0 = [p for p in model.parameters() if p.requires_grad]
    if not params0:
        raise ConfigError("sharpness: the model has no trainable parameters (requires_grad) to take the Hessian in")
    if not all(bool(torch.isfinite(p).all()) for p in params0):
        raise CheckpointError(
            "sharpness: the model's parameters contain NaN or inf (a diverged run?); load finite weights"
        )
    want = dtype if dtype is not None else params0[0].dtype
    if any(p.dtype != want for p in model.parameters()):
        model = copy.deepcopy(model).to(dtype=want)
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    x = x.to(device=device, dtype=want)
    y = y.to(device=device, dtype=torch.long)
    n = int(x.shape[0])
    chunks = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, n, int(batch_size))]
    return model, params, chunks, n


def _mean_loss(model: nn.Module, chunks, n: int) -> float:
    """The mean cross-entropy over all chunks (no gradient); checks the labels against the model's classes."""
    total = 0.0
    with torch.no_grad():
        for xb, yb in chunks:
            logits = model(xb)
            if logits.ndim != 2:
                raise ConfigError(
                    f"sharpness: the model must return logits of shape (N, classes), got {tuple(logits.shape)}"
                )
            lo, hi = int(yb.min()), int(yb.max())
            if lo < 0 or hi >= logits.shape[1]:
                raise DataError(
                    f"sharpness: labels must lie in [0, {logits.shape[1] - 1}] for a model with {logits.shape[1]} "
                    f"classes, got labels from {lo} to {hi}"
                )
            total += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    loss = total / n
    if not math.isfinite(loss):
        raise CheckpointError(
            f"sharpness: the loss on these images is {loss}; the model's weights are broken (a diverged run?)"
        )
    return loss


class HessianOperator:
    """The Hessian ``H`` of the mean cross-entropy over ``chunks`` (``[(x_i, y_i), ...]``, ``n`` images in all) w.r.t.
    ``params``, applied to vectors by double back-propagation (Pearlmutter 1994): per chunk one forward pass, the
    gradient with its graph kept, then one backward pass through that gradient per vector, so a block of ``m``
    vectors shares the chunk's forward pass.  Vectors are flat ``(P,)`` / ``(P, m)`` tensors in the parameters'
    order (``torch.cat([p.reshape(-1) for p in params])``); ``matvecs`` counts the products taken."""

    def __init__(self, model: nn.Module, params: list, chunks, n: int) -> None:
        self.model, self.params, self.chunks, self.n = model, list(params), chunks, int(n)
        self.size = sum(p.numel() for p in self.params)
        self.matvecs = 0

    def matmat(self, v: torch.Tensor) -> torch.Tensor:
        """``H @ v`` for ``v`` of shape ``(P,)`` or ``(P, m)``."""
        vs = v.reshape(self.size, -1).to(self.params[0])
        out = torch.zeros_like(vs)
        for xb, yb in self.chunks:
            loss = nn.functional.cross_entropy(self.model(xb), yb, reduction="sum") / self.n
            grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True, materialize_grads=True)
            flat = torch.cat([g.reshape(-1) for g in grads])
            if not flat.requires_grad:  # a loss without curvature in these parameters
                continue
            for j in range(vs.shape[1]):
                hv = torch.autograd.grad(
                    flat,
                    self.params,
                    grad_outputs=vs[:, j],
                    retain_graph=j + 1 < vs.shape[1],
                    allow_unused=True,
                    materialize_grads=True,
                )
                out[:, j] += torch.cat([h.reshape(-1) for h in hv])
        self.matvecs += vs.shape[1]
        return out.reshape(v.shape)

    def scipy(self):
        """This operator as a float64 ``scipy.sparse.linalg.LinearOperator`` (for ARPACK)."""
        from scipy.sparse.linalg import LinearOperator

        def matvec(v: np.ndarray) -> np.ndarray:
            return self.matmat(torch.from_numpy(np.asarray(v, dtype=np.float64)).reshape(-1)).double().cpu().numpy()

        return LinearOperator((self.size, self.size), matvec=matvec, dtype=np.float64)


# -- public functions -------------------------------------------------------------------------------------------
def hessian_eigenvalues(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int = 1,
    *,
    batch_size: int = 250,
    seed: int = 0,
    tol: float = 1e-4,
    max_iter: Optional[int] = None,
    dtype: Optional[torch.dtype] = None,
    info: Optional[dict] = None,
) -> list[float]:
    """The ``k`` largest (algebraic) eigenvalues of the Hessian of the mean cross-entropy on ``(x, y)`` w.r.t.
    the model's trainable parameters, largest first.

    Sharpness in the sense of Keskar et al. (2017): the top eigenvalue is the largest curvature of the loss
    surface at the trained weights.  Computed by the Lanczos method (ARPACK's implicitly restarted Lanczos,
    ``scipy.sparse.linalg.eigsh(which="LA")``) on exact Hessian-vector products (:class:`HessianOperator`), each one a
    pass over all images in chunks of ``batch_size``.  The model is in eval mode for the computation
    (BatchNorm uses its running statistics); its train/eval flags are restored afterwards.

    Args:
        model: maps images ``x`` to logits ``(N, classes)``.
        x: images, float ``(N, C, H, W)`` in [0, 1]; y: int labels ``(N,)``.
        k: how many eigenvalues (1 <= k < number of parameters).
        batch_size: images per chunk of every Hessian-vector product (memory, not the result).
        seed: seeds the Lanczos start vector (a ``torch.Generator``; the global RNG is untouched).
        tol: ARPACK's relative residual tolerance (0: machine precision); the eigenvalue error is at most about
            tol · |eigenvalue|, and about tol² · |eigenvalue| when the top eigenvalues are well separated.
        max_iter: ARPACK's restart limit (None: its default, 10 · P).
        dtype: compute in this dtype on a cast copy of the model (``torch.float64`` for tests); None: the model's.
        info: a dict to fill with ``matvecs`` (Hessian-vector products used) and ``loss`` (the mean loss).

    Raises ConfigError (k, batch_size, a model without trainable parameters, no convergence), DataError (no images,
    labels out of range or of the wrong shape, NaN/inf images) or CheckpointError (non-finite weights or loss).
    """
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"sharpness: k (how many Hessian eigenvalues) must be an integer >= 1, got {k!r}")
    model, params, chunks, n = _prepared(model, x, y, batch_size, dtype)
    n_params = sum(p.numel() for p in params)
    if k >= n_params:
        raise ConfigError(f"sharpness: k={k} eigenvalues asked of a Hessian of size {n_params}; use k < {n_params}")
    with _eval_mode(model):
        loss = _mean_loss(model, chunks, n)
        op = HessianOperator(model, params, chunks, n)
        gen = torch.Generator().manual_seed(int(seed))
        v0 = torch.randn(n_params, generator=gen, dtype=torch.float64).numpy()
        try:
            vals = eigsh(
                op.scipy(), k=int(k), which="LA", v0=v0, tol=float(tol), maxiter=max_iter, return_eigenvectors=False
            )
        except ArpackNoConvergence:
            raise ConfigError(
                f"sharpness: the Lanczos iteration did not converge to {k} eigenvalues (tol={tol}, "
                f"max_iter={max_iter}); raise max_iter or tol"
            ) from None
    if info is not None:
        info.update(matvecs=op.matvecs, loss=loss)
    return [float(v) for v in sorted(vals, reverse=True)]


def hessian_trace(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_samples: int = 100,
    *,
    seed: int = 0,
    batch_size: int = 250,
    probe_batch: int = 8,
    dtype: Optional[torch.dtype] = None,
) -> TraceEstimate:
    """Hutchinson's (1989) estimate of the trace of the Hessian of the mean cross-entropy on ``(x, y)`` w.r.t. the
    model's trainable parameters, with its standard error.

    The trace (the sum of all Hessian eigenvalues, i.e. the total curvature; a sharpness measure in the sense of
    Keskar et al. 2017) is ``E[v^T H v]`` for Rademacher probes ``v`` (i.i.d. ±1 entries).  Returns a
    :class:`TraceEstimate`: ``trace`` = the mean over ``n_samples`` probes, ``stderr`` = the probes' sample standard
    deviation / sqrt(n_samples) (the estimator's variance is ``2 * sum_{i != j} H_ij^2 / n_samples``).  Probes are
    multiplied ``probe_batch`` at a time (one pass over the images per block; ``probe_batch`` trades memory for
    speed and does not change the result).  The model is in eval mode for the computation (BatchNorm uses its
    running statistics); its train/eval flags are restored afterwards.

    Args: as :func:`hessian_eigenvalues`; ``n_samples`` >= 2 probes, drawn from a ``torch.Generator`` seeded
    with ``seed`` (the global RNG is untouched).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise ConfigError(
            f"sharpness: the Hutchinson trace needs n_samples >= 2 probes (for its standard error), got {n_samples!r}"
        )
    if int(probe_batch) < 1:
        raise ConfigError(f"sharpness: probe_batch must be a positive integer, got {probe_batch}")
    model, params, chunks, n = _prepared(model, x, y, batch_size, dtype)
    n_params = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(int(seed))
    dt, dev = params[0].dtype, params[0].device
    values = []
    with _eval_mode(model):
        _mean_loss(model, chunks, n)
        op = HessianOperator(model, params, chunks, n)
        done = 0
        while done < n_samples:
            m = min(int(probe_batch), int(n_samples) - done)
            # one probe after the other from the generator's stream, so that probe_batch does not change them
            probes = torch.randint(0, 2, (m, n_params), generator=gen).T.to(device=dev, dtype=dt).mul_(2).sub_(1)
            values.append((probes * op.matmat(probes)).sum(dim=0).double().cpu())
            done += m
    z = torch.cat(values)
    return TraceEstimate(
        trace=float(z.mean()), stderr=float(z.std(unbiased=True) / math.sqrt(len(z))), n_samples=int(n_samples)
    )


def sam_sharpness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    rho: float = 0.05,
    *,
    batch_size: int = 250,
    dtype: Optional[torch.dtype] = None,
) -> dict:
    """One-step SAM sharpness: ``L(w + e) - L(w)`` with ``e = rho * ||w|| * g / ||g||``, ``g`` the gradient of the
    mean cross-entropy on ``(x, y)`` w.r.t. the trainable parameters ``w`` (all of them as one vector).

    ``e`` maximises the first-order expansion of the loss over the L2 ball ``||e|| <= rho * ||w||`` (Foret et al.
    2021, Sharpness-Aware Minimization, with ``m`` = all images; the radius relative to the weight norm as in the
    adversarial weight perturbation of Wu et al. 2020), so this is one ascent step of the inner maximisation, a
    lower bound of the maximal loss increase in that ball.  Cost: two forward and one backward pass over the
    images.  The model is in eval mode (BatchNorm uses its running statistics) and its weights are left as they
    were (the perturbed loss is computed with ``torch.func.functional_call``).

    Returns ``{"loss": L(w), "perturbed_loss": L(w + e), "sharpness": their difference, "rho": rho,
    "radius": rho * ||w||, "grad_norm": ||g||}``.
    """
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise ConfigError(f"sharpness: rho (the relative radius of the weight perturbation) must be > 0, got {rho!r}")
    model, params, chunks, n = _prepared(model, x, y, batch_size, dtype)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    with _eval_mode(model):
        loss = _mean_loss(model, chunks, n)
        grads = [torch.zeros_like(p) for p in params]
        for xb, yb in chunks:
            part = nn.functional.cross_entropy(model(xb), yb, reduction="sum") / n
            for acc, g in zip(grads, torch.autograd.grad(part, params)):
                acc.add_(g)
        w_norm = torch.sqrt(sum((p.detach().double() ** 2).sum() for p in params))
        g_norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        radius = float(rho) * float(w_norm)
        if float(g_norm) == 0.0:
            return {
                "loss": loss,
                "perturbed_loss": loss,
                "sharpness": 0.0,
                "rho": float(rho),
                "radius": radius,
                "grad_norm": 0.0,
            }
        scale = radius / float(g_norm)
        perturbed = {name: p.detach() + scale * g for name, p, g in zip(names, params, grads)}
        total = 0.0
        with torch.no_grad():
            for xb, yb in chunks:
                logits = torch.func.functional_call(model, perturbed, (xb,), strict=False)
                total += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    perturbed_loss = total / n
    return {
        "loss": loss,
        "perturbed_loss": perturbed_loss,
        "sharpness": perturbed_loss - loss,
        "rho": float(rho),
        "radius": radius,
        "grad_norm": float(g_norm),
    }
