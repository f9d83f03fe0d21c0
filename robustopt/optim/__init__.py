"""Optimizers and learning-rate schedules, looked up by name.

``build_optimizer("adam", model.parameters(), lr=5e-4)`` returns a torch optimizer;
an unknown name or hyper-parameter raises :class:`~robustopt.errors.ConfigError`.  The built-in optimizer zoo
(torch.optim's, signSGD, and LAMB, Lion, Shampoo, Lookahead and SAM from pytorch-optimizer) is listed in
:mod:`robustopt.optim.build` and docs/optimizers.md.  Add your own with ``register_optimizer("name",
OptimizerClass)`` (docs/plugins.md), or name any optimizer class by its import path (``torch.optim.NAdam``).
"""

from __future__ import annotations

from robustopt.optim.build import (
    OPTIMIZERS,
    WRAPPERS,
    build_optimizer,
    build_optimizer_spec,
    needs_closure,
    optimizer_options,
    register_optimizer,
)
from robustopt.optim.schedules import SCHEDULERS, build_scheduler
from robustopt.optim.signsgd import SignSGD

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "SignSGD",
    "WRAPPERS",
    "build_optimizer",
    "build_optimizer_spec",
    "build_scheduler",
    "needs_closure",
    "optimizer_options",
    "register_optimizer",
]
