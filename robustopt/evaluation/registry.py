"""The evaluation registry.

Every evaluation has one signature::

    @register_evaluation("my_eval")
    def evaluate_my_eval(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict: ...

``model`` is in eval mode on ``ctx.device``; ``data`` holds the test images in [0, 1];
``cfg`` is the evaluation's own options (plain dict); the returned dict holds plain,
JSON-serialisable numbers and lists.  Optional artefacts (tables, figures) go to
``ctx.tracker`` (which may be None).  The pipeline stores the result under the evaluation's
name in the run's ``summary.json`` (``summary["eval"][name]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from robustopt.registry import Registry


@dataclass
class EvalData:
    """The images an evaluation runs on: ``x`` float (N, C, H, W) in [0, 1], ``y`` int64 (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    dataset: str = ""  # data-set name, for per-data-set defaults (e.g. eps grids)

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"EvalData: {self.x.shape[0]} images but {self.y.shape[0]} labels")

    def subset(self, n: int | None) -> "EvalData":
        """The first ``n`` samples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return EvalData(self.x[:n], self.y[:n], self.dataset)

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class EvalContext:
    """What every evaluation may use besides the model and the data."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 1024
    seed: int = 0  # evaluations that draw noise use torch.Generator seeded from this
    progress: bool = False
    tracker: Optional[Any] = None  # robustopt.tracking logger (log_table / log_figure), or None
    run_dir: Optional[str] = None

    def generator(self, offset: int = 0) -> torch.Generator:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(self.seed) + int(offset))
        return gen


Evaluation = Callable[[torch.nn.Module, EvalData, dict, EvalContext], dict]

# The built-in evaluations live in their own modules (some pull in scipy or the attacks); they are
# imported on the first lookup, so that training does not pay for them.
BUILTIN_EVALUATION_MODULES = ("clean", "robust_accuracy", "noise", "lipschitz")


def _import_builtin_evaluations() -> None:
    import importlib

    for module in BUILTIN_EVALUATION_MODULES:
        importlib.import_module(f"robustopt.evaluation.{module}")


EVALUATIONS: Registry[Evaluation] = Registry("evaluation", builtins=_import_builtin_evaluations)
register_evaluation = EVALUATIONS.register
