"""The one batched forward pass of a classifier over tensors, and the accuracy and loss it gives.

:func:`forward_outcomes` is used by training after every epoch (through :func:`accuracy_and_loss`), by the Fourier
heat maps and by the evaluations (``clean``, the noise evaluations, ``robust_accuracy``'s clean pass): the same
batches in the same order, the same dtype, so that every number they report is computed alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Outcomes:
    """What one pass over ``(x, y)`` gives: ``correct`` (bool ``(N,)`` on the CPU: which images the model classifies
    correctly) and ``loss_sum`` (the summed cross-entropy, accumulated in float64)."""

    correct: torch.Tensor
    loss_sum: float

    @property
    def n(self) -> int:
        return int(self.correct.shape[0])

    @property
    def accuracy(self) -> float:
        return int(self.correct.sum()) / max(self.n, 1)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.n, 1)


@torch.no_grad()
def forward_outcomes(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    transform: Optional[Callable[[torch.Tensor, int], torch.Tensor]] = None,
    amp: bool = False,
    channels_last: bool = False,
    eval_mode: bool = True,
) -> Outcomes:
    """Per-image correctness and the summed cross-entropy of ``model`` on ``(x, y)``, in batches of ``batch_size``
    images taken in order.

    ``x`` may be uint8 (converted per batch to float in [0, 1]) or float in [0, 1]; ``device`` (default: the
    model's) is where each batch runs.  ``transform(xb, start)``, if given, is applied to each batch (``start``: the
    index of its first image), e.g. to add noise.  ``amp``: CUDA's fp16 autocast (ignored on other devices);
    ``channels_last``: the batches' memory format.  ``eval_mode``: run the model in eval mode (its mode is restored
    afterwards); False runs it in the mode it is in.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    if eval_mode:
        model.eval()
    correct: list[torch.Tensor] = []
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
            correct.append(logits.argmax(1) == yb)
    finally:
        model.train(was_training)
    mask = torch.cat(correct).cpu() if correct else torch.zeros(0, dtype=torch.bool)
    return Outcomes(mask, loss_sum.item())


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
    """Accuracy (fraction), mean cross-entropy and number of images of ``model`` on ``(x, y)``, as
    ``{"accuracy", "loss", "n"}`` (:func:`forward_outcomes`, in eval mode; the model's mode is restored)."""
    res = forward_outcomes(
        model, x, y, batch_size=batch_size, device=device, transform=transform, amp=amp, channels_last=channels_last
    )
    return {"accuracy": res.accuracy, "loss": res.loss, "n": res.n}
