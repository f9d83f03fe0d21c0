"""signSGD and Signum."""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class SignSGD(Optimizer):
    """Sign gradient descent, ``w <- w - lr * sign(m)``.

    With ``momentum=0``, ``m`` is the gradient (signSGD, Bernstein et al. 2018, "signSGD: compressed
    optimisation for non-convex problems"); with ``momentum=beta > 0``, ``m = beta*m + (1-beta)*g``
    (Signum, same paper).  Weight decay is added to the gradient before the sign.  Ma, Pan &
    Farahmand (2023) use signGD as the limit case of Adam/RMSprop in their linear analysis.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, beta, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if wd:
                    g = g.add(p, alpha=wd)
                if beta:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    buf = state["momentum_buffer"]
                    buf.mul_(beta).add_(g, alpha=1 - beta)
                    g = buf
                p.add_(torch.sign(g), alpha=-lr)
        return loss
