"""Evaluations of trained models, looked up by name in :data:`EVALUATIONS`.

The built-in evaluations (``clean``, ``robust_accuracy``, ``gaussian_noise``, ``band_noise``,
``fourier_heatmap``, ``lipschitz``, ``sharpness``) register themselves from their modules, imported here.  Add your own
with :func:`register_evaluation` (docs/plugins.md), which also takes the evaluation's option defaults, its
value check and how a re-evaluation merges with a stored result.  :func:`evaluate` runs any of them on a model in one
call (also ``robustopt.evaluate``); :mod:`robustopt.evaluation.pipeline` evaluates trained run directories.
"""

from robustopt.evaluation import clean, lipschitz, noise, robust_accuracy, sharpness  # noqa: F401  (register the built-ins)
from robustopt.evaluation.api import evaluate
from robustopt.evaluation.registry import (
    EVALUATIONS,
    EvalContext,
    EvalData,
    evaluation_defaults,
    evaluation_options,
    evaluation_rules,
    register_evaluation,
)

__all__ = [
    "EVALUATIONS",
    "EvalContext",
    "EvalData",
    "evaluate",
    "evaluation_defaults",
    "evaluation_options",
    "evaluation_rules",
    "register_evaluation",
]
