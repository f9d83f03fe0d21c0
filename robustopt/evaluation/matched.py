"""The matched-accuracy protocol: compare optimizers at the same standard accuracy.

Ma, Pan & Farahmand (TMLR 2023) state their claim for models of *equal* standard accuracy, and evaluate
each model at the end of training (the paper's protocol, the default of the ``paper_*`` presets).  When the
optimizers end at different accuracies, that difference confounds every robustness comparison.  This
protocol, which goes beyond the paper, removes it:

* the runs that differ only in their optimizer (same model, initial weights, data order, schedule, epochs:
  :func:`robustopt.runs.comparison_key`) form a group -- one group per seed;
* the group's *target* is the lowest final test accuracy among its runs (or a fixed accuracy);
* each run is evaluated with its weights at the first epoch whose test accuracy (``metrics.jsonl``) reaches
  the target -- kept by training with ``snapshot_epochs`` (e.g. ``snapshot_epochs=all``).

Results are stored in ``summary.json`` under ``matched``: the target, the epoch, the accuracy there, the
rule, and every evaluation's result under ``matched.eval.<name>`` (beside the final-epoch ``eval``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from robustopt.errors import ConfigError
from robustopt.runs import comparison_key

RULE_LOWEST_FINAL = "lowest_final"


@dataclass(frozen=True)
class MatchedEpoch:
    """Where one run is evaluated under the matched-accuracy protocol."""

    run_path: str
    target_accuracy: float
    epoch: int
    accuracy_at_epoch: float
    final_epoch: int
    group: tuple[str, ...]  # the run paths compared with this one
    rule: str

    def as_dict(self) -> dict:
        return {
            "target_accuracy": self.target_accuracy,
            "epoch": self.epoch,
            "test_accuracy_at_epoch": self.accuracy_at_epoch,
            "final_epoch": self.final_epoch,
            "group": list(self.group),
            "rule": self.rule,
        }


def _curve(run) -> list[tuple[int, float]]:
    return [(int(m["epoch"]), float(m["test_accuracy"])) for m in run.metrics() if m.get("test_accuracy") is not None]


def matched_epochs(runs: Sequence, target: str | float = RULE_LOWEST_FINAL) -> dict[str, MatchedEpoch]:
    """``{run path: MatchedEpoch}`` for completed runs (:class:`robustopt.rundir.RunDir`).

    ``target``: ``"lowest_final"`` (the lowest final test accuracy of each group) or an accuracy in (0, 1]
    for every group.  A run that never reaches a fixed target raises :class:`ConfigError`.
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
        for path, curve in curves.items():
            if not curve:
                raise ConfigError(f"run {path} has no per-epoch test accuracy in metrics.jsonl; it cannot be matched")
        if isinstance(target, str):
            goal = min(curve[-1][1] for curve in curves.values())
            rule = "first epoch reaching the lowest final test accuracy among the optimizers of the same seed"
        else:
            goal = float(target)
            rule = f"first epoch reaching test accuracy {goal:g}"
        names = tuple(sorted(curves))
        for path, curve in curves.items():
            hit = next(((e, a) for e, a in curve if a >= goal), None)
            if hit is None:
                raise ConfigError(
                    f"run {path} never reaches the matched target accuracy {goal:.4f} (best {max(a for _, a in curve):.4f}); "
                    f"choose a lower target"
                )
            out[path] = MatchedEpoch(path, goal, hit[0], hit[1], curve[-1][0], names, rule)
    return out
