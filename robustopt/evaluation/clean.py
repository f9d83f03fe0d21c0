"""The ``clean`` evaluation: accuracy and loss on unperturbed test images."""

from __future__ import annotations

from robustopt.evaluation.metrics import accuracy_and_loss
from robustopt.evaluation.registry import EvalContext, EvalData, register_evaluation


@register_evaluation("clean")
def evaluate_clean(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Clean test accuracy and cross-entropy.  Options: ``n_samples`` (default: all)."""
    data = data.subset(cfg.get("n_samples"))
    return accuracy_and_loss(model, data.x, data.y, batch_size=ctx.batch_size, device=ctx.device)
