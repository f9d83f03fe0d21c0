"""The ``sharpness`` evaluation: the curvature of the loss surface at a trained model's weights.

For the first ``n_samples`` test images (the evaluation pipeline hands evaluations the test split) it records
(:mod:`robustopt.sharpness`; Keskar et al. 2017 for sharpness and generalisation):

* ``eigenvalues``: the top-``k`` Hessian eigenvalues of the mean cross-entropy w.r.t. the parameters (Lanczos on
  exact Hessian-vector products), largest first, and ``top_eigenvalue`` = the first of them;
* ``trace`` and ``trace_stderr``: Hutchinson's estimate (Rademacher probes) of the Hessian trace and its standard
  error (None when ``trace_probes`` is 0);
* ``sam_sharpness``: the loss increase after one normalised gradient-ascent step of length ``sam_rho * ||w||`` on
  the weights (SAM's inner step, Foret et al. 2021, radius relative to ||w|| as Wu et al. 2020; None when
  ``sam_rho`` is null), with its parts under ``sam``.

The model is in eval mode (BatchNorm uses its running statistics).  These are the project's own measurements:
the paper (Ma, Pan & Farahmand, TMLR 2023) does not measure sharpness.
"""

from __future__ import annotations

import time
from typing import Any

from robustopt.errors import ConfigError
from robustopt.evaluation.registry import EvalContext, EvalData, evaluation_options, register_evaluation
from robustopt.sharpness import hessian_eigenvalues, hessian_trace, sam_sharpness

DEFAULTS: dict[str, Any] = {
    "n_samples": 1000,  # the first n test images (null: all)
    "k": 1,  # top-k Hessian eigenvalues
    "tol": 1e-4,  # ARPACK relative residual tolerance (eigenvalue error ~ tol^2)
    "trace_probes": 32,  # Hutchinson probes (0: no trace); ~6% relative stderr on a trained c2
    "sam_rho": 0.05,  # relative radius of the one-step SAM perturbation (null: not measured)
    "batch_size": 250,  # images per chunk of each Hessian-vector product (memory only)
    "probe_batch": 8,  # Hutchinson probes multiplied at once (memory only)
    "seed": None,  # seeds the Lanczos start vector and the probes (null: the evaluation seed)
}


def check_sharpness_options(opts: dict, dataset: str) -> None:
    """The registered check of ``sharpness``'s option values (merged with :data:`DEFAULTS`)."""
    for key in ("k", "trace_probes", "batch_size", "probe_batch"):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"eval.sharpness.{key} must be an integer, got {value!r}")
    if opts["trace_probes"] == 1 or opts["trace_probes"] < 0:
        raise ConfigError(f"eval.sharpness.trace_probes must be 0 (no trace) or >= 2, got {opts['trace_probes']}")
    if opts["n_samples"] is not None and (
        isinstance(opts["n_samples"], bool) or not isinstance(opts["n_samples"], int) or opts["n_samples"] < 1
    ):
        raise ConfigError(
            f"eval.sharpness.n_samples must be a positive integer or null (all images), got {opts['n_samples']!r}"
        )


@register_evaluation("sharpness", defaults=DEFAULTS, check=check_sharpness_options)
def evaluate_sharpness(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Sharpness of ``model``'s loss on the first ``n_samples`` images of ``data``.

    Options (``conf/eval/sharpness.yaml``): see :data:`DEFAULTS`; an unknown option is a ConfigError.
    Returns ``top_eigenvalue``, ``eigenvalues`` (k, largest first), ``trace``, ``trace_stderr``, ``trace_probes``,
    ``sam_sharpness`` and ``sam`` (``loss``, ``perturbed_loss``, ``sharpness``, ``rho``, ``radius``, ``grad_norm``),
    ``loss`` (the mean cross-entropy), ``n_samples``, ``k``, ``matvecs`` (Hessian-vector products of the
    Lanczos run), ``seconds_eigenvalues``, ``seconds_trace``, ``split`` ("test") and ``seed``.
    """
    opts = evaluation_options("sharpness", cfg, data.dataset)
    seed = int(ctx.seed if opts["seed"] is None else opts["seed"])
    sub = data.subset(opts["n_samples"])
    x = sub.x if sub.x.dtype.is_floating_point else sub.x.float().div(255)
    common = {"batch_size": opts["batch_size"]}
    info: dict = {}
    t0 = time.perf_counter()
    eigenvalues = hessian_eigenvalues(
        model, x, sub.y, k=opts["k"], seed=seed, tol=float(opts["tol"]), info=info, **common
    )
    t1 = time.perf_counter()
    trace = None
    if opts["trace_probes"]:
        trace = hessian_trace(
            model, x, sub.y, n_samples=opts["trace_probes"], seed=seed + 1, probe_batch=opts["probe_batch"], **common
        )
    t2 = time.perf_counter()
    sam = sam_sharpness(model, x, sub.y, rho=float(opts["sam_rho"]), **common) if opts["sam_rho"] is not None else None
    return {
        "top_eigenvalue": eigenvalues[0],
        "eigenvalues": eigenvalues,
        "trace": trace.trace if trace is not None else None,
        "trace_stderr": trace.stderr if trace is not None else None,
        "trace_probes": opts["trace_probes"],
        "sam_sharpness": sam["sharpness"] if sam is not None else None,
        "sam": sam,
        "loss": info["loss"],
        "n_samples": len(sub),
        "k": opts["k"],
        "matvecs": info["matvecs"],
        "seconds_eigenvalues": t1 - t0,
        "seconds_trace": t2 - t1,
        "split": "test",
        "seed": seed,
    }
