"""Merge a new evaluation result with the one a run already stores, so that evaluating again never drops results.

``experiments/evaluate.py ... attack=pgd_l2`` evaluates one attack; the run may already hold four (the paper's
FGSM and PGD, L-inf and L2).  :func:`merge_result` keeps them, by the rule each evaluation registers
(``register_evaluation(name, merge=...)``, :mod:`robustopt.evaluation.registry`):

* an evaluation that registers a ``merge`` joins the two results its own way (e.g. ``robust_accuracy`` merges
  its curves on the same images: :func:`robustopt.evaluation.robust_accuracy.merge_robust_accuracy_result`);
* every other evaluation (:func:`keep_replaced`): the new result replaces the stored one, and a stored result
  that differs (beyond its run time) is kept in ``eval_replaced[name]`` (a list, oldest first) rather than dropped.

``replace=True`` (``experiments/evaluate.py replace=true``) stores the new result as it is, dropping the old.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from robustopt.evaluation.registry import EVALUATIONS, evaluation_rules

log = logging.getLogger("robustopt.evaluate")


def _without_seconds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def same_result(old: Optional[dict], new: Optional[dict]) -> bool:
    """Whether two results are equal apart from their run times (``seconds``)."""
    return _without_seconds(old) == _without_seconds(new)


def keep_replaced(name: str, old: dict, new: dict) -> tuple[dict, Optional[dict], str]:
    """The default merge: ``new`` is stored; ``old`` is returned to keep under ``eval_replaced`` unless it is the
    same result (apart from its run times)."""
    if same_result(old, new):
        return new, None, ""
    return new, old, f"the stored {name} result differs from the new one; it is kept in eval_replaced.{name}"


def merge_result(
    name: str, old: Optional[dict], new: dict, *, replace: bool = False, options: Optional[dict] = None
) -> tuple[dict, Optional[dict], str]:
    """``(to_store, replaced, note)`` for evaluation ``name``: the result to store, the stored result it drops
    (to keep under ``eval_replaced``; None when nothing is lost) and a log note ('' when there is nothing to say).
    ``options`` are the evaluation's options of this call (``eval.<name>``, as given), handed to its ``merge``."""
    if not old or replace:
        return (
            new,
            None,
            ("replace=true: dropped the stored result" if old and replace and not same_result(old, new) else ""),
        )
    merge = evaluation_rules(name).merge if name in EVALUATIONS else None  # a result of an unloaded plugin: the default
    if merge is not None:
        return merge(old, new, options)
    return keep_replaced(name, old, new)
