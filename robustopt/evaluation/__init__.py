"""Evaluations of trained models, looked up by name in :data:`EVALUATIONS`."""

from robustopt.evaluation import clean  # noqa: F401  (registers "clean")
from robustopt.evaluation.metrics import accuracy_and_loss
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData, register_evaluation

__all__ = ["EVALUATIONS", "EvalContext", "EvalData", "accuracy_and_loss", "register_evaluation"]
