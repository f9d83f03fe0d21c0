"""Tracking: run directories (plain files, written atomically), a reader for sweeps, and loggers.

W&B and Hydra are imported only inside this package (and the entry points).
"""

from robustopt.tracking.loggers import NullLogger, WandbLogger, build_logger
from robustopt.tracking.meta import run_meta
from robustopt.tracking.reader import find_runs, format_table, load_runs
from robustopt.tracking.run_dir import RunDir

__all__ = ["NullLogger", "RunDir", "WandbLogger", "build_logger", "find_runs", "format_table", "load_runs", "run_meta"]
