"""The ``clean`` evaluation: accuracy and loss on unperturbed test images, and which images are right.

Result: ``accuracy`` (fraction), ``loss`` (mean cross-entropy), ``n`` (number of images: the first
``n_samples`` test images, or all) and ``correct``, which of those images the model classifies
correctly, as a mask string from :func:`robustopt.bits.encode_mask` (for paired tests such as
McNemar's between two runs on the same images).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustopt.bits import encode_mask
from robustopt.evaluation.registry import EvalContext, EvalData, check_evaluation_options, register_evaluation

DEFAULTS = {"n_samples": None}  # first N test images (None: all)


@torch.no_grad()
def _outcomes(model, x: torch.Tensor, y: torch.Tensor, batch_size: int, device) -> tuple[torch.Tensor, float]:
    """Per-image correctness (bool, CPU) and the summed cross-entropy over ``(x, y)``."""
    device = torch.device(device)
    correct = torch.zeros(x.shape[0], dtype=torch.bool)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device, non_blocking=True)
        yb = y[start : start + batch_size].to(device, non_blocking=True)
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum").double()
        correct[start : start + xb.shape[0]] = (logits.argmax(1) == yb).cpu()
    return correct, loss_sum.item()


@register_evaluation("clean", defaults=DEFAULTS)
def evaluate_clean(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Clean test accuracy, cross-entropy and the per-image mask.  Options: ``n_samples`` (default: all)."""
    cfg = check_evaluation_options("clean", cfg, DEFAULTS)
    data = data.subset(cfg.get("n_samples"))
    was_training = model.training
    model.eval()
    try:
        correct, loss_sum = _outcomes(model, data.x, data.y, int(ctx.batch_size), ctx.device)
    finally:
        model.train(was_training)
    n = len(data)
    return {
        "accuracy": int(correct.sum()) / max(n, 1),
        "loss": loss_sum / max(n, 1),
        "n": n,
        "correct": encode_mask(correct),
    }
