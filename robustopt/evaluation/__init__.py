"""Evaluations of trained models, looked up by name in :data:`EVALUATIONS`.

The built-in evaluations (``clean``, ``robust_accuracy``, ``gaussian_noise``, ``band_noise``,
``fourier_heatmap``, ``lipschitz``) register themselves from their modules, which the registry
imports on its first lookup.
"""

from robustopt.evaluation.metrics import accuracy_and_loss
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData, register_evaluation

__all__ = ["EVALUATIONS", "EvalContext", "EvalData", "accuracy_and_loss", "register_evaluation"]
