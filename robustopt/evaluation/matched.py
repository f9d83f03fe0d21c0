"""The matched-accuracy protocol: compare optimizers at the same standard accuracy.

Ma, Pan & Farahmand (TMLR 2023) state their claim for models of *equal* standard accuracy, and evaluate
each model at the end of training (the paper's protocol, the default of the ``paper_*`` presets).  When the
optimizers end at different accuracies, that difference confounds every robustness comparison.  This
protocol, which goes beyond the paper, removes it:

* the runs that differ only in their optimizer (same model, initial weights, data order, schedule, epochs:
  :func:`robustopt.runs.comparison_key`) form a group -- one group per seed;
* the group's *target* is the lowest final **validation** accuracy among its runs (or a fixed accuracy);
* each run is evaluated with its weights at the first epoch whose validation accuracy (``metrics.jsonl``)
  reaches the target -- kept by training with ``snapshot_epochs`` (e.g. ``snapshot_epochs=all``).

The epoch is chosen on the validation split held out of the training set (``dataset.validation_size``), never
on test data: the test images are those the chosen model is then evaluated on, so choosing on them would bias
every comparison.  A run trained without a validation split cannot be matched (a :class:`ConfigError` says how
to train one).

Results are stored in ``summary.json`` under ``matched``: the target, the epoch, the validation and test
accuracies there, the rule (a sentence the report quotes), and every evaluation's result under
``matched.eval.<name>`` (beside the final-epoch ``eval``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Optional, Sequence

from robustopt.errors import ConfigError
from robustopt.runs import comparison_key

RULE_LOWEST_FINAL = "lowest_final"
SELECTION_METRIC = "validation_accuracy"  # what the epoch is chosen on; never a test metric


@dataclass(frozen=True)
class MatchedEpoch:
    """Where one run is evaluated under the matched-accuracy protocol."""

    run_path: str
    target_accuracy: float
    epoch: int
    validation_accuracy_at_epoch: float
    final_epoch: int
    group: tuple[str, ...]  # the run paths compared with this one
    rule: str  # the sentence the report quotes
    test_accuracy_at_epoch: Optional[float] = None  # reported, never used to choose
    metric: str = SELECTION_METRIC

    def as_dict(self) -> dict:
        return {
            "target_accuracy": self.target_accuracy,
            "epoch": self.epoch,
            "selection_metric": self.metric,
            "validation_accuracy_at_epoch": self.validation_accuracy_at_epoch,
            "test_accuracy_at_epoch": self.test_accuracy_at_epoch,
            "final_epoch": self.final_epoch,
            "group": list(self.group),
            "rule": self.rule,
        }


def _curve(run) -> list[tuple[int, float]]:
    """The run's per-epoch validation accuracy: what the epoch is chosen on."""
    metrics = run.metrics()
    curve = [(int(m["epoch"]), float(m[SELECTION_METRIC])) for m in metrics if m.get(SELECTION_METRIC) is not None]
    if metrics and not curve:
        raise ConfigError(
            f"run {run.path} records no {SELECTION_METRIC}: the matched-accuracy protocol chooses each run's epoch "
            "on a validation split held out of the training set, never on test data; train the runs with "
            "dataset.validation_size=N (e.g. 2000) to hold one out"
        )
    return curve


def _test_accuracy(run, epoch: int) -> Optional[float]:
    return next(
        (
            float(m["test_accuracy"])
            for m in run.metrics()
            if int(m["epoch"]) == epoch and m.get("test_accuracy") is not None
        ),
        None,
    )


def _images(run) -> str:
    size = (run.config().get("dataset") or {}).get("validation_size")
    return f"{int(size):,} " if size else ""


def matched_epochs(runs: Sequence, target: str | float = RULE_LOWEST_FINAL) -> dict[str, MatchedEpoch]:
    """``{run path: MatchedEpoch}`` for completed runs (:class:`robustopt.rundir.RunDir`).

    ``target``: ``"lowest_final"`` (the lowest final validation accuracy of each group) or an accuracy in (0, 1]
    for every group.  A run that never reaches a fixed target, or records no validation accuracy, raises
    :class:`ConfigError`.
    """
    if isinstance(target, str) and target != RULE_LOWEST_FINAL:
        raise ConfigError(f"matched target must be '{RULE_LOWEST_FINAL}' or an accuracy in (0, 1], got {target!r}")
    if not isinstance(target, str) and not (0 < float(target) <= 1):
        raise ConfigError(f"matched target accuracy must be in (0, 1], got {target!r}")
    groups: dict[str, list] = defaultdict(list)
    for run in runs:
        groups[comparison_key(run.config())].append(run)
    out: dict[str, MatchedEpoch] = {}
    for members in groups.values():
        curves = {str(r.path): _curve(r) for r in members}
        by_path = {str(r.path): r for r in members}
        for path, curve in curves.items():
            if not curve:
                raise ConfigError(
                    f"run {path} has no per-epoch {SELECTION_METRIC} in metrics.jsonl; it cannot be matched"
                )
        held_out = _images(members[0])
        if isinstance(target, str):
            goal = min(curve[-1][1] for curve in curves.values())
            rule = (
                f"each run at the first epoch whose accuracy on the {held_out}validation images held out of training "
                f"reaches the lowest final validation accuracy among the optimizers of its seed"
            )
        else:
            goal = float(target)
            rule = (
                f"each run at the first epoch whose accuracy on the {held_out}validation images held out of training "
                f"reaches {goal:g}"
            )
        names = tuple(sorted(curves))
        for path, curve in curves.items():
            hit = next(((e, a) for e, a in curve if a >= goal), None)
            if hit is None:
                raise ConfigError(
                    f"run {path} never reaches the matched target validation accuracy {goal:.4f} "
                    f"(best {max(a for _, a in curve):.4f}); "
                    f"choose a lower target"
                )
            out[path] = MatchedEpoch(
                path,
                goal,
                hit[0],
                hit[1],
                curve[-1][0],
                names,
                rule,
                test_accuracy_at_epoch=_test_accuracy(by_path[path], hit[0]),
            )
    return out
