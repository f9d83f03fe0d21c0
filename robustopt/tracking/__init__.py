"""Reporting: experiment loggers (W&B), run directories read back into tables, side-by-side comparisons of a
sweep's optimizers and the sweep collector.

W&B is imported only here (lazily, by :class:`WandbLogger`).  The run directories themselves are the base
layer's (:mod:`robustopt.rundir`); the logger interface is :class:`robustopt.logger.NullLogger`.
"""

from robustopt.tracking.loggers import WandbLogger, build_logger
from robustopt.tracking.reader import format_table, load_runs, run_record

__all__ = ["WandbLogger", "build_logger", "format_table", "load_runs", "run_record"]
