"""The evaluation registry.

Every evaluation has one signature::

    @register_evaluation("my_eval", defaults={"n_samples": None})
    def evaluate_my_eval(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict: ...

``model`` is in eval mode on ``ctx.device``; ``data`` holds the test images in [0, 1];
``cfg`` is the evaluation's own options (plain dict); the returned dict holds plain,
JSON-serialisable numbers and lists.  Optional artefacts (tables, figures) go to
``ctx.tracker`` (which may be None).  The pipeline stores the result under the evaluation's
name in the run's ``summary.json`` (``summary["eval"][name]``).

``defaults`` are the evaluation's options and their default values, written once: the evaluation checks
its options against them (:func:`check_evaluation_options`) and the config layer shows them as
``eval.<name>`` (``conf/eval/<name>.yaml`` only documents them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import torch

from robustopt.registry import Registry, check_options


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
    tracker: Optional[Any] = None  # a logger (robustopt.logger.NullLogger's methods: log_table / log_figure), or None
    run_dir: Optional[str] = None

    def generator(self, offset: int = 0) -> torch.Generator:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(self.seed) + int(offset))
        return gen


Evaluation = Callable[[torch.nn.Module, EvalData, dict, EvalContext], dict]

EVALUATIONS: Registry[Evaluation] = Registry("evaluation")
_DEFAULTS: dict[str, dict] = {}


def register_evaluation(name: str, fn: Evaluation | None = None, *, defaults: Optional[dict] = None, overwrite: bool = False):
    """Register evaluation ``fn`` under ``name`` (used bare, a decorator); ``defaults``: its options and their
    default values (plain JSON-like values)."""

    def add(item: Evaluation) -> Evaluation:
        EVALUATIONS.register(name, item, overwrite=overwrite)
        _DEFAULTS[name] = copy.deepcopy(dict(defaults or {}))
        return item

    return add(fn) if fn is not None else add


def evaluation_defaults(name: str) -> dict:
    """The options of evaluation ``name`` with their default values (a fresh copy; ``{}`` when it declared none)."""
    EVALUATIONS.get(name)
    return copy.deepcopy(_DEFAULTS.get(name, {}))


def check_evaluation_options(name: str, cfg: Optional[dict], allowed: Iterable[str]) -> dict:
    """``cfg`` as a dict, after checking that every key is one of ``allowed`` (the evaluation's options):
    ``evaluation '<name>' has no option(s) X; its options are: ...`` otherwise."""
    cfg = dict(cfg or {})
    check_options(f"evaluation '{name}'", cfg, allowed)
    return cfg
