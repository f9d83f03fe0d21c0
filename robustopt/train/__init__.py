"""Training: :func:`fit` and checkpoints."""

from robustopt.checkpoint import load_checkpoint, save_checkpoint
from robustopt.train.fit import PRECISIONS, FitOptions, FitResult, fit

__all__ = ["PRECISIONS", "FitOptions", "FitResult", "fit", "load_checkpoint", "save_checkpoint"]
