"""Training: :func:`fit` and checkpoints."""

from robustopt.train.checkpoint import load_checkpoint, save_checkpoint
from robustopt.train.fit import FitResult, fit

__all__ = ["FitResult", "fit", "load_checkpoint", "save_checkpoint"]
