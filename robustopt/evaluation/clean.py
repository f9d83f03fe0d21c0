"""The ``clean`` evaluation: accuracy and loss on unperturbed test images, and which images are right.

Result: ``accuracy`` (fraction), ``loss`` (mean cross-entropy), ``n`` (number of images: the first
``n_samples`` test images, or all) and ``correct``, which of those images the model classifies
correctly, as a mask string from :func:`robustopt.bits.encode_mask` (for paired tests such as
McNemar's between two runs on the same images).
"""

from __future__ import annotations

from robustopt.bits import encode_mask
from robustopt.evaluation.registry import EvalContext, EvalData, evaluation_options, register_evaluation
from robustopt.metrics import forward_outcomes

DEFAULTS = {"n_samples": None}  # first N test images (None: all)


@register_evaluation("clean", defaults=DEFAULTS)
def evaluate_clean(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Clean test accuracy, cross-entropy and the per-image mask.  Options: ``n_samples`` (default: all)."""
    opts = evaluation_options("clean", cfg, data.dataset)
    data = data.subset(opts["n_samples"])
    res = forward_outcomes(model, data.x, data.y, batch_size=int(ctx.batch_size), device=ctx.device)
    return {"accuracy": res.accuracy, "loss": res.loss, "n": res.n, "correct": encode_mask(res.correct)}
