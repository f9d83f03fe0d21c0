"""Training: :func:`fit` and checkpoints."""

from robustopt.checkpoint import load_checkpoint, save_checkpoint
from robustopt.train.fit import PRECISIONS, FitResult, fit

__all__ = ["PRECISIONS", "FitResult", "fit", "load_checkpoint", "save_checkpoint"]
