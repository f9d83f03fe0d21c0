"""Choosing each optimizer's learning rate on a validation split, under one rule for all (the optimizer zoo).

A fair comparison of optimizers gives each the same chance: the same grid around its own default learning rate
(:func:`lr_grid`, e.g. x {1/3, 1, 3}), the same training budget, and the choice made on held-out training images
(``dataset.validation_size``), never on the test set.  :func:`select_lr` picks the learning rate with the best
score, ties broken to the smaller one; :func:`select_from_runs` does it for a folder of run directories, one
group per optimizer (:func:`optimizer_label`).  Plain dicts and paths in, chosen learning rates out.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from robustopt.errors import ConfigError
from robustopt.rundir import RunDir, find_runs
from robustopt.runs import identity

#: The default grid: the optimizer's default learning rate times these factors.
DEFAULT_FACTORS = (1 / 3, 1.0, 3.0)


def lr_grid(reference_lr: float, factors: Sequence[float] = DEFAULT_FACTORS) -> list[float]:
    """``reference_lr`` times each factor, rounded to 3 significant digits (so that they read well in run names)."""
    if not float(reference_lr) > 0:
        raise ConfigError(f"the reference learning rate must be > 0, got {reference_lr}")
    return [float(f"{reference_lr * f:.3g}") for f in factors]


def optimizer_label(opt: Mapping) -> str:
    """A name for an optimizer config: its ``name``, and a wrapper's base in brackets (``lookahead(adam)``)."""
    base = opt.get("base")
    if base is None:
        return str(opt["name"])
    inner = optimizer_label(base) if isinstance(base, Mapping) else str(base)
    return f"{opt['name']}({inner})"


def learning_rate(opt: Mapping) -> float:
    """The learning rate of an optimizer config (a wrapper's is its base's)."""
    if "lr" in opt:
        return float(opt["lr"])
    base = opt.get("base")
    if isinstance(base, Mapping):
        return learning_rate(base)
    raise ConfigError(f"optimizer config {dict(opt)} has no learning rate (no 'lr', and no base with one)")


def lr_override(opt: Mapping, lr: float) -> str:
    """The Hydra override that sets ``opt``'s learning rate to ``lr``: ``optimizer.lr=...``, or for a wrapper
    ``optimizer.base={name:<base>,lr:...}`` (the base's other options at their defaults: the zoo's case)."""
    if "lr" in opt:
        return f"optimizer.lr={lr:g}"
    base = opt.get("base")
    if isinstance(base, Mapping) and "lr" in base:
        return f"optimizer.base={{name:{base['name']},lr:{lr:g}}}"
    raise ConfigError(
        f"cannot set the learning rate of optimizer {optimizer_label(opt)}: only a plain optimizer or a "
        f"wrapper around one has a learning rate to sweep"
    )


def score(history: Sequence[Mapping], metric: str = "validation_accuracy", rule: str = "final") -> float:
    """A run's score from its per-epoch ``history``: ``metric`` at the last epoch (``rule="final"``) or its best
    over epochs (``"best"``); ``-inf`` for a run without the metric or with a non-finite value (diverged)."""
    if rule not in ("final", "best"):
        raise ConfigError(f"rule must be 'final' or 'best', got {rule!r}")
    check_selection_metric(metric)
    values = [row.get(metric) for row in history]
    if not values or any(v is None or not math.isfinite(float(v)) for v in values):
        return -math.inf
    return float(values[-1]) if rule == "final" else max(float(v) for v in values)


def check_selection_metric(metric: str) -> None:
    """Refuse to choose anything on test data: the selection metric must be a validation (or training) one."""
    if str(metric).startswith("test"):
        raise ConfigError(
            f"cannot choose on {metric!r}: a choice made on the test split biases every number measured "
            f"on it; choose on validation_accuracy (train with dataset.validation_size=N)"
        )


def edge_of_grid(scores: Mapping[float, float], chosen: float) -> str | None:
    """``"low"`` or ``"high"`` when ``chosen`` is the smallest or largest learning rate tried (of at least two),
    so that a better one may lie outside the grid; ``None`` when it is interior (or all diverged)."""
    lrs = sorted(scores)
    if len(lrs) < 2 or all(math.isinf(v) for v in scores.values()):
        return None
    return "low" if chosen == lrs[0] else "high" if chosen == lrs[-1] else None


def next_lr(scores: Mapping[float, float], edge: str, factor: float = 3.0) -> float:
    """The next learning rate beyond the ``edge`` of the grid tried: the smallest / largest divided / multiplied by
    ``factor`` (the grid's step), rounded as :func:`lr_grid` rounds."""
    lrs = sorted(scores)
    if edge not in ("low", "high"):
        raise ConfigError(f"edge must be 'low' or 'high', got {edge!r}")
    return float(f"{(lrs[0] / factor if edge == 'low' else lrs[-1] * factor):.3g}")


def select_lr(scores: Mapping[float, float]) -> float:
    """The learning rate with the highest score; ties go to the smaller learning rate."""
    if not scores:
        raise ConfigError("no learning rates to choose from")
    return min(scores, key=lambda lr: (-scores[lr], lr))


def select_from_runs(
    runs: str | Path | Iterable[RunDir], metric: str = "validation_accuracy", rule: str = "final"
) -> dict[str, dict]:
    """For each optimizer (:func:`optimizer_label`) among ``runs`` (run directories, or a folder holding them):
    ``{"lr": chosen, "scores": {lr: score}, "optimizer": the chosen run's optimizer config, "override": the Hydra
    override of the chosen lr, "edge": "low"/"high" when the choice is the smallest/largest lr tried, else None,
    "seed": the seed the choice was made on}``.  ``metric`` is never a test metric
    (:func:`check_selection_metric`).

    Every run must have finished, and all runs of one optimizer must share everything but the learning rate
    (data, model, seed, epochs, epoch_size ...): otherwise the comparison would not be fair and ConfigError says
    which runs differ.  A run that diverged scores ``-inf``; if every learning rate of an optimizer diverged,
    the smallest is kept and ``"all_diverged": True`` says so.
    """
    check_selection_metric(metric)
    runs = find_runs(runs) if isinstance(runs, (str, Path)) else list(runs)
    groups: dict[str, list[RunDir]] = {}
    for run in runs:
        groups.setdefault(optimizer_label(run.config()["optimizer"]), []).append(run)
    if not groups:
        raise ConfigError(f"no run directories found in {runs}; run the learning-rate sweep first")
    out = {}
    for label, members in sorted(groups.items()):
        scores, configs, budgets, seeds = {}, {}, set(), set()
        for run in members:
            cfg = run.config()
            if run.status not in ("completed", "diverged"):
                raise ConfigError(f"run {run.path} is {run.status or 'not started'}; finish the sweep before choosing")
            lr = learning_rate(cfg["optimizer"])
            if lr in scores:
                raise ConfigError(f"two runs of {label} with lr {lr:g} ({configs[lr][0]} and {run.path}); keep one")
            scores[lr] = score(run.metrics(), metric, rule) if run.status == "completed" else -math.inf
            configs[lr] = (run.path, cfg["optimizer"])
            budgets.add(_budget_key(cfg))
            seeds.add(cfg.get("seed"))
        if len(budgets) > 1:
            raise ConfigError(
                f"the runs of {label} differ in more than their learning rate (data, model, seed or "
                f"budget); select among runs of one sweep"
            )
        chosen = select_lr(scores)
        opt = configs[chosen][1]
        out[label] = {
            "lr": chosen,
            "scores": {lr: scores[lr] for lr in sorted(scores)},
            "optimizer": opt,
            "override": lr_override(opt, chosen),
            "all_diverged": all(math.isinf(s) for s in scores.values()),
            "edge": edge_of_grid(scores, chosen),
            "seed": seeds.pop() if len(seeds) == 1 else None,
            "metric": metric,
            "rule": rule,
        }
    return out


def _budget_key(cfg: Mapping) -> str:
    """Everything of a config except where it runs and its optimizer's learning rate."""
    ident = dict(identity(dict(cfg)))
    opt = dict(ident.pop("optimizer", {}))
    opt.pop("lr", None)
    if isinstance(opt.get("base"), Mapping):
        opt["base"] = {k: v for k, v in opt["base"].items() if k != "lr"}
    return repr(sorted({**ident, "optimizer": sorted(opt.items(), key=str)}.items(), key=str))
