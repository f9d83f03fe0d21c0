"""The evaluation registry.

Every evaluation has one signature::

    @register_evaluation("my_eval", defaults={"n_samples": None})
    def evaluate_my_eval(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict: ...

``model`` is in eval mode on ``ctx.device``; ``data`` holds the test images in [0, 1];
``cfg`` is the evaluation's own options (plain dict); the returned dict holds plain,
JSON-serialisable numbers and lists.  Optional artefacts (tables, figures) go to
``ctx.tracker`` (which may be None).  The pipeline stores the result under the evaluation's
name in the run's ``summary.json`` (``summary["eval"][name]``).

An evaluation registers its rules in the same call, in one place (:class:`EvaluationRules`):

* ``defaults``: its options and their default values, written once.  :func:`evaluation_options` checks a
  config's options against them and fills in the others; the config layer shows them as ``eval.<name>``
  (``conf/eval/<name>.yaml`` only documents them).  ``null_means_default=True``: an option set to null takes its
  default (otherwise null is a value of its own, e.g. ``n_samples: null`` = all images);
* ``check(options, dataset)``: refuses bad option *values* (a one-sentence ConfigError naming the key and the
  fix), given the merged options and the data-set name (for per-data-set defaults; ``""`` when unknown).  It is
  called by :func:`evaluation_options`, so the entry points run it at start-up (before any training) and the
  evaluation itself when it runs;
* ``merge(old, new, options)``: how a re-evaluation's result joins the one a run stores, returning ``(to_store,
  replaced, note)`` as :func:`robustopt.evaluation.merge.merge_result` does; by default the new result replaces
  the stored one, which is kept under ``eval_replaced`` when it differs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

import torch

from robustopt.errors import ConfigError
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
#: ``check(options, dataset)``: raises ConfigError for a bad option value (options merged with the defaults).
OptionCheck = Callable[[dict, str], None]
#: ``merge(old, new, options) -> (to_store, replaced, note)``: a re-evaluation's result and the stored one.
ResultMerge = Callable[[dict, dict, Optional[dict]], "tuple[dict, Optional[dict], str]"]


@dataclass(frozen=True)
class EvaluationRules:
    """What an evaluation registers besides its function (see the module docstring)."""

    defaults: dict = field(default_factory=dict)
    check: Optional[OptionCheck] = None
    merge: Optional[ResultMerge] = None
    null_means_default: bool = False


EVALUATIONS: Registry[Evaluation] = Registry("evaluation")
_RULES: dict[str, EvaluationRules] = {}


def register_evaluation(
    name: str,
    fn: Evaluation | None = None,
    *,
    defaults: Optional[dict] = None,
    check: Optional[OptionCheck] = None,
    merge: Optional[ResultMerge] = None,
    null_means_default: bool = False,
    overwrite: bool = False,
):
    """Register evaluation ``fn`` under ``name`` (used bare, or as a decorator) with its rules: ``defaults`` (its
    options and their default values, plain JSON-like values), ``check(options, dataset)`` (refuses bad values),
    ``merge(old, new, options)`` (joins a re-evaluation with the stored result) and ``null_means_default``."""

    def add(item: Evaluation) -> Evaluation:
        EVALUATIONS.register(name, item, overwrite=overwrite)
        _RULES[name] = EvaluationRules(copy.deepcopy(dict(defaults or {})), check, merge, bool(null_means_default))
        return item

    return add(fn) if fn is not None else add


def evaluation_rules(name: str) -> EvaluationRules:
    """The rules evaluation ``name`` registered (no defaults, check or merge for one registered without them)."""
    EVALUATIONS.get(name)
    return _RULES.get(name) or EvaluationRules()


def evaluation_defaults(name: str) -> dict:
    """The options of evaluation ``name`` with their default values (a fresh copy; ``{}`` when it declared none)."""
    return copy.deepcopy(evaluation_rules(name).defaults)


def check_evaluation_options(name: str, cfg: Optional[dict], allowed: Iterable[str]) -> dict:
    """``cfg`` as a dict, after checking that every key is one of ``allowed`` (the evaluation's options):
    ``evaluation '<name>' has no option(s) X; its options are: ...`` otherwise."""
    cfg = dict(cfg or {})
    check_options(f"evaluation '{name}'", cfg, allowed)
    return cfg


def evaluation_options(name: str, cfg: Optional[Mapping], dataset: str = "") -> dict:
    """The options of evaluation ``name`` that ``cfg`` (``eval.<name>``) asks for: its keys checked against the
    registered ``defaults``, the others filled in from them, and the values checked by the registered ``check``
    (``dataset``: the data-set name, for per-data-set defaults).  The one way every evaluation reads its options,
    at start-up (:func:`robustopt.evaluation.pipeline.check_evaluations`) and when it runs."""
    rules = evaluation_rules(name)
    if cfg is not None and not isinstance(cfg, Mapping):
        raise ConfigError(f"eval.{name} must be a mapping of options, got {cfg!r}")
    given = check_evaluation_options(name, cfg, rules.defaults)
    if rules.null_means_default:
        given = {k: v for k, v in given.items() if v is not None}
    opts = {**copy.deepcopy(rules.defaults), **given}
    if rules.check is not None:
        rules.check(opts, dataset)
    return opts
