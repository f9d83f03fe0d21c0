"""Batched accuracy and loss of a classifier on tensors (used by training after every epoch, by the Fourier
heat maps and by the evaluations)."""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def accuracy_and_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    transform: Optional[Callable[[torch.Tensor, int], torch.Tensor]] = None,
    amp: bool = False,
    channels_last: bool = False,
) -> dict:
    """Accuracy (fraction) and mean cross-entropy of ``model`` on ``(x, y)``.

    ``x`` may be uint8 (converted per batch) or float in [0, 1].  ``transform(xb, start)``, if
    given, is applied to each batch (e.g. adds noise).  The model's train/eval mode is restored.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            yb = y[start : start + batch_size].to(device, non_blocking=True)
            if xb.dtype == torch.uint8:
                xb = xb.float().div_(255)
            if transform is not None:
                xb = transform(xb, start)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                logits = model(xb)
            loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum").double()
            correct += (logits.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = max(int(x.shape[0]), 1)
    return {"accuracy": correct.item() / n, "loss": loss_sum.item() / n, "n": int(x.shape[0])}
