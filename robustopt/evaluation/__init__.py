"""Evaluations of trained models, looked up by name in :data:`EVALUATIONS`."""

from robustopt.evaluation import clean  # noqa: F401  (registers "clean")
from robustopt.evaluation.metrics import accuracy_and_loss
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData, register_evaluation

# Evaluations contributed by other modules register themselves when imported.
for _module in ("robust_accuracy", "noise", "lipschitz"):
    try:
        __import__(f"robustopt.evaluation.{_module}")
    except ModuleNotFoundError as _exc:  # only while a module is not written yet
        if _exc.name != f"robustopt.evaluation.{_module}":
            raise

__all__ = ["EVALUATIONS", "EvalContext", "EvalData", "accuracy_and_loss", "register_evaluation"]
