"""The ``lipschitz`` evaluation: the paper's quantity beside exact operator norms and certified / empirical bounds.

Reproduces a row of Table 1 of Ma, Pan & Farahmand (TMLR 2023) for one trained model, each number under
a key that says what it is:

* ``paper_bound``: the paper's quantity, exactly as the authors' code computes it
  (:func:`robustopt.lipschitz.paper_bound`; reshaped-kernel singular values, pooling counted as 1),
  for ``c2`` and ``preact_resnet18`` (None for other models, with the reason in ``paper_bound_unsupported``).
  It is not a Lipschitz bound;
* ``operator_norm_product``: the per-layer operator norms composed along the network (products, sums at
  residual additions) (:func:`robustopt.lipschitz.network_bound`);
* ``certified_upper_bound``: the same composition with certified per-layer bounds (>= the true constant);
* ``empirical_lower_bound``: the largest difference quotient / Jacobian norm found on test images
  (:func:`robustopt.lipschitz.lower_bound`; <= the true constant).
"""

from __future__ import annotations

import math
import os
from typing import Any

from robustopt.errors import ConfigError
from robustopt.evaluation.registry import EvalContext, EvalData, evaluation_options, register_evaluation
from robustopt.lipschitz import lower_bound, network_bound, paper_bound_details

DEFAULTS: dict[str, Any] = {
    "method": "lanczos",  # lanczos | power | dense: per-layer operator norms
    "rtol": 1e-5,  # ARPACK residual tolerance of the Lanczos iteration
    "certified": "eigh",  # eigh | gram: how the certified conv bound bounds its FFT blocks
    "gram_rtol": 1e-4,
    "n_samples": 64,  # test images for the lower bound
    "ascent_steps": 20,
    "ascent_step_size": 0.25,
    "cache": True,  # cache the (data-independent) network bounds in <run_dir>/cache
    "cache_dir": None,  # overrides <run_dir>/cache
    "plot": True,
}


METHODS = ("lanczos", "power", "dense")
CERTIFIED = ("eigh", "gram")


def check_lipschitz_options(opts: dict, dataset: str) -> None:
    """The registered check of ``lipschitz``'s option values (merged with :data:`DEFAULTS`; a null option takes
    its default)."""
    if opts["method"] not in METHODS:
        raise ConfigError(f"eval.lipschitz.method must be one of {', '.join(METHODS)}, got {opts['method']!r}")
    if opts["certified"] not in CERTIFIED:
        raise ConfigError(f"eval.lipschitz.certified must be one of {', '.join(CERTIFIED)}, got {opts['certified']!r}")


def _layer_figure(names: list[str], layers: dict[str, dict]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.28 * len(names)), 4.0))
    ax = fig.subplots()
    xs = range(len(names))
    width = 0.28
    series = (
        ("operator_norm", "operator norm"),
        ("certified_upper_bound", "certified upper bound"),
        ("paper_sigma", "paper: reshaped-kernel σ (authors' code)"),
    )
    for k, (key, label) in enumerate(series):
        pts = [(x + (k - 1) * width, layers[n][key]) for x, n in zip(xs, names) if layers[n].get(key) is not None]
        if pts:
            ax.bar([p[0] for p in pts], [p[1] for p in pts], width=width, label=label)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("per-layer Lipschitz value (L2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@register_evaluation("lipschitz", defaults=DEFAULTS, check=check_lipschitz_options, null_means_default=True)
def evaluate_lipschitz(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Lipschitz quantities of ``model`` (L2, pixels to logits) on inputs shaped like ``data.x``.

    Options (``conf/eval/lipschitz.yaml``): see :data:`DEFAULTS`; an unknown option is a ConfigError.
    Returns ``paper_bound`` (+ ``paper_bound_function``, the authors' function it reproduces, or
    ``paper_bound_unsupported``), ``operator_norm_product``, ``certified_upper_bound``,
    ``empirical_lower_bound`` (+ its parts under ``empirical_lower_bound_parts``), ``gap`` =
    certified upper / empirical lower bound and ``log10_gap``, and ``layers``: per layer its
    ``operator_norm``, ``certified_upper_bound``, ``type`` and, for the layers the paper counts,
    ``paper_sigma`` (largest singular value of the weight viewed as ``(paper_view_rows, -1)``).
    Logs a per-layer table and bar plot to ``ctx.tracker`` when present.
    """
    opts = evaluation_options("lipschitz", cfg, data.dataset)
    cache_dir = opts["cache_dir"]
    if cache_dir is None and opts["cache"] and ctx.run_dir:
        cache_dir = os.path.join(ctx.run_dir, "cache")
    if not opts["cache"]:
        cache_dir = None
    input_shape = tuple(int(s) for s in data.x.shape[1:])
    nb = network_bound(
        model,
        input_shape,
        method=opts["method"],
        rtol=float(opts["rtol"]),
        gram_rtol=float(opts["gram_rtol"]),
        seed=int(ctx.seed),
        certified=opts["certified"],
        cache_dir=cache_dir,
    )
    try:
        paper = paper_bound_details(model)
        unsupported = None
    except ConfigError as exc:
        paper, unsupported = None, str(exc)
    sub = data.subset(int(opts["n_samples"]) if opts["n_samples"] is not None else None)
    x = sub.x.float().div(255) if sub.x.dtype.is_floating_point is False else sub.x
    lb = lower_bound(
        model,
        x,
        steps=int(opts["ascent_steps"]),
        step_size=float(opts["ascent_step_size"]),
        batch_size=max(1, min(int(ctx.batch_size), 64)),
        seed=int(ctx.seed),
    )
    layers: dict[str, dict] = {}
    for name, b in nb.layers.items():
        layers[name] = {"operator_norm": b.norm, "certified_upper_bound": b.upper, "type": nb.layer_types.get(name, "")}
        if paper is not None and name in paper.layers:
            layers[name].update(paper_sigma=paper.layers[name], paper_view_rows=paper.rows[name])
    upper, lower = nb.total.upper, lb.value
    gap = upper / lower if lower > 0 else float("inf")
    result = {
        "paper_bound": paper.value if paper is not None else None,
        "paper_bound_function": paper.function if paper is not None else None,
        "operator_norm_product": nb.total.norm,
        "certified_upper_bound": upper,
        "empirical_lower_bound": lower,
        "gap": gap if math.isfinite(gap) else None,
        "log10_gap": math.log10(gap) if lower > 0 and upper > 0 else None,
        "empirical_lower_bound_parts": lb.as_dict(),
        "layers": layers,
        "input_shape": list(input_shape),
        "seconds_network_bound": nb.seconds,
        "cached": nb.cached,
    }
    if unsupported is not None:
        result["paper_bound_unsupported"] = unsupported
    if ctx.tracker is not None:
        names = list(layers)
        columns = ["layer", "type", "operator_norm", "certified_upper_bound", "paper_sigma"]
        rows = [
            [
                n,
                layers[n]["type"],
                layers[n]["operator_norm"],
                layers[n]["certified_upper_bound"],
                layers[n].get("paper_sigma"),
            ]
            for n in names
        ]
        ctx.tracker.log_table("lipschitz/layers", columns, rows)
        if opts["plot"] and names:
            ctx.tracker.log_figure("lipschitz/layers", _layer_figure(names, layers))
    return result
