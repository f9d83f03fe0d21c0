"""Merge a new evaluation result with the one a run already stores, so that evaluating again never drops results.

``experiments/evaluate.py ... attack=pgd_l2`` evaluates one attack; the run may already hold four (the paper's
FGSM and PGD, L-inf and L2).  :func:`merge_result` keeps them:

* ``robust_accuracy`` on the same images (same ``dataset`` and ``n``): curves are merged by label, and within a
  curve eps points by value (the new value wins at an eps both hold; the per-image masks stay aligned with
  ``eps``); a curve whose attack changed (another name, norm or options under the same label) is replaced by the
  new one.  The sanity flags are recomputed over the merged curves.  On other images the new result replaces
  the stored one (the log says so): accuracies over different images are not one curve.
* every other evaluation: the new result replaces the stored one, and a stored result that differs (beyond its
  run time) is kept in ``eval_replaced[name]`` (a list, oldest first) rather than dropped.

``replace=True`` (``experiments/evaluate.py replace=true``) stores the new result as it is, dropping the old.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Optional

from robustopt.evaluation.robust_accuracy import DEFAULTS as ROBUST_DEFAULTS
from robustopt.evaluation.robust_accuracy import _sanity

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


def _merge_curve(old: dict, new: dict) -> dict:
    """One attack's curve: eps points of both, the new value at an eps both hold; masks aligned with eps."""
    points = {}
    for curve in (old, new):
        masks = curve.get("correct") or [None] * len(curve["eps"])
        for e, acc, mask in zip(curve["eps"], curve["robust_accuracy"], masks):
            points[float(e)] = (acc, mask)
    eps = sorted(points)
    out = {**new, "eps": eps, "robust_accuracy": [points[e][0] for e in eps]}
    if "correct" in old or "correct" in new:
        out["correct"] = [points[e][1] for e in eps]
    out["seconds"] = float(old.get("seconds") or 0) + float(new.get("seconds") or 0)
    return out


def _same_attack(old: dict, new: dict) -> bool:
    return all(old.get(k) == new.get(k) for k in ("name", "norm", "options"))


def merge_robust_accuracy(old: dict, new: dict, max_accuracy: Optional[float] = None) -> tuple[dict, str]:
    """``(merged, note)``: ``new`` with ``old``'s curves and eps points that it does not hold itself (same images
    only; else ``new`` as it is).  ``note`` says what happened, for the log ('' when nothing was kept)."""
    if (old.get("dataset"), old.get("n")) != (new.get("dataset"), new.get("n")):
        return new, (f"replacing the stored robust_accuracy (n={old.get('n')} images of {old.get('dataset')!r}) by one on "
                     f"other images (n={new.get('n')} of {new.get('dataset')!r}); accuracies over different images are not merged")
    curves = {label: copy.deepcopy(c) for label, c in (old.get("attacks") or {}).items()}
    kept, replaced = [label for label in curves if label not in new.get("attacks", {})], []
    for label, curve in (new.get("attacks") or {}).items():
        if label in curves and _same_attack(curves[label], curve):
            curves[label] = _merge_curve(curves[label], curve)
        else:
            if label in curves:
                replaced.append(label)
            curves[label] = copy.deepcopy(curve)
    merged = {**new, "attacks": curves}
    if "sanity" in new or "sanity" in old:
        large = {**((old.get("sanity") or {}).get("large_eps") or {}), **((new.get("sanity") or {}).get("large_eps") or {})}
        limit = ROBUST_DEFAULTS["large_eps_max_accuracy"] if max_accuracy is None else float(max_accuracy)
        merged["sanity"] = _sanity(curves, large, limit)
    merged["seconds"] = float(old.get("seconds") or 0) + float(new.get("seconds") or 0)
    notes = []
    if kept:
        notes.append(f"kept the stored curves {', '.join(kept)}")
    if replaced:
        notes.append(f"replaced the curves {', '.join(replaced)} (their attack's options changed)")
    return merged, "; ".join(notes)


def merge_result(name: str, old: Optional[dict], new: dict, *, replace: bool = False,
                 options: Optional[dict] = None) -> tuple[dict, Optional[dict], str]:
    """``(to_store, replaced, note)`` for evaluation ``name``: the result to store, the stored result it drops
    (to keep under ``eval_replaced``; None when nothing is lost) and a log note ('' when there is nothing to say).
    ``options`` are the evaluation's options of this call (``robust_accuracy``'s ``large_eps_max_accuracy``)."""
    if not old or replace:
        return new, None, ("replace=true: dropped the stored result" if old and replace and not same_result(old, new) else "")
    if name == "robust_accuracy" and isinstance(old.get("attacks"), dict) and isinstance(new.get("attacks"), dict):
        merged, note = merge_robust_accuracy(old, new, (options or {}).get("large_eps_max_accuracy"))
        other_images = (old.get("dataset"), old.get("n")) != (new.get("dataset"), new.get("n"))
        return merged, (old if other_images else None), note + ("; the stored one is kept in eval_replaced.robust_accuracy" if other_images else "")
    if same_result(old, new):
        return new, None, ""
    return new, old, f"the stored {name} result differs from the new one; it is kept in eval_replaced.{name}"
