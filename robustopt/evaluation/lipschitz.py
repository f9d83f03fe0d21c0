"""The ``lipschitz`` evaluation: per-layer norms, certified upper bound, paper-method product, lower bound, gap.

Reproduces a row of Table 1 of Ma, Pan & Farahmand (TMLR 2023) for one trained model: the product
of per-layer Lipschitz constants (the paper's reshaped-kernel method and our certified bound) next
to an empirical lower bound (:func:`robustopt.lipschitz.lower_bound`).
"""

from __future__ import annotations

import math
import os
from typing import Any

from robustopt.evaluation.registry import EvalContext, EvalData, register_evaluation
from robustopt.lipschitz import lower_bound, network_bound

DEFAULTS: dict[str, Any] = {
    "method": "lanczos",  # lanczos | power | dense: per-layer operator norms
    "rtol": 1e-5,  # ARPACK residual tolerance of the Lanczos iteration
    "certified": "eigh",  # eigh | gram: how the certified conv bound bounds its FFT blocks
    "gram_rtol": 1e-4,
    "n_samples": 64,  # test images for the lower bound
    "ascent_steps": 20,
    "ascent_step_size": 0.25,
    "cache": True,  # cache the (data-independent) upper bounds in <run_dir>/cache
    "cache_dir": None,  # overrides <run_dir>/cache
    "plot": True,
}


def _layer_figure(names: list[str], layers: dict[str, dict]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.28 * len(names)), 4.0))
    ax = fig.subplots()
    xs = range(len(names))
    width = 0.28
    for k, (key, label) in enumerate((("norm", "operator norm"), ("upper", "certified bound"), ("reshaped_kernel", "reshaped kernel (paper)"))):
        ax.bar([x + (k - 1) * width for x in xs], [layers[n][key] for n in names], width=width, label=label)
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("Lipschitz constant (L2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@register_evaluation("lipschitz")
def evaluate_lipschitz(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Lipschitz bounds of ``model`` on inputs shaped like ``data.x``.

    Options (``conf/eval/lipschitz.yaml``): see :data:`DEFAULTS`.  Returns ``upper_bound``
    (certified), ``norm_product`` (same composition with per-layer operator norms),
    ``reshaped_kernel_product`` (the paper's method), ``lower_bound`` (+ its parts under ``lower``),
    ``gap`` (upper / lower) and ``log10_gap``, and ``layers`` (per layer: norm, upper,
    reshaped_kernel, type).  Logs a per-layer table and bar plot to ``ctx.tracker`` when present.
    """
    opts = {**DEFAULTS, **{k: v for k, v in dict(cfg or {}).items() if v is not None or k == "cache_dir"}}
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
    summary = nb.as_dict()
    upper, lower = nb.total.upper, lb.value
    gap = upper / lower if lower > 0 else float("inf")
    result = {
        "upper_bound": upper,
        "norm_product": nb.total.norm,
        "reshaped_kernel_product": nb.total.reshaped_kernel,
        "lower_bound": lower,
        "gap": gap if math.isfinite(gap) else None,
        "log10_gap": math.log10(gap) if lower > 0 and upper > 0 else None,
        "lower": lb.as_dict(),
        "layers": summary["layers"],
        "input_shape": list(input_shape),
        "seconds_upper": nb.seconds,
        "cached": nb.cached,
    }
    if ctx.tracker is not None:
        names = list(summary["layers"])
        rows = [[n, summary["layers"][n]["type"], summary["layers"][n]["norm"], summary["layers"][n]["upper"], summary["layers"][n]["reshaped_kernel"]] for n in names]
        ctx.tracker.log_table("lipschitz/layers", ["layer", "type", "norm", "upper", "reshaped_kernel"], rows)
        if opts["plot"] and names:
            ctx.tracker.log_figure("lipschitz/layers", _layer_figure(names, summary["layers"]))
    return result
