"""Reporting: experiment loggers (W&B), run directories read back into tables, side-by-side comparisons of a
sweep's optimizers, the sweep collector, and the one reader of the results store (:mod:`robustopt.tracking.store`:
:class:`Run`, :class:`Sweep`, :func:`load_sweep`) that the figures and reports draw from.

W&B is imported only here (lazily, by :class:`WandbLogger`).  The run directories themselves are the base
layer's (:mod:`robustopt.rundir`); the logger interface is :class:`robustopt.logger.NullLogger`.
"""

from robustopt.tracking.loggers import WandbLogger, build_logger
from robustopt.tracking.reader import format_table, load_runs, run_record
from robustopt.tracking.store import Run, Sweep, load_sweep

__all__ = ["Run", "Sweep", "WandbLogger", "build_logger", "format_table", "load_runs", "load_sweep", "run_record"]
