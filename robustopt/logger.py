"""The logger interface every pipeline talks to, and the logger that logs nothing.

Training, evaluation and the theory experiment take a ``logger`` with these methods and never check which
one they hold; :class:`NullLogger` is the default.  The W&B logger (:class:`robustopt.tracking.WandbLogger`)
implements the same methods; :func:`robustopt.tracking.build_logger` picks one from the ``logger`` config.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence


class NullLogger:
    """Logs nothing (``logger=none``); the interface of every logger."""

    run_id: Optional[str] = None

    def log_metrics(self, metrics: dict, step: Optional[int] = None) -> None:
        """One row of metrics (e.g. an epoch's), at ``step``."""

    def log_summary(self, values: dict) -> None:
        """Final values of the run (scalars)."""

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table of ``rows`` under ``key``."""

    def log_figure(self, key: str, figure) -> None:
        """A matplotlib figure under ``key``."""

    def finish(self, exit_code: int = 0) -> None:
        """End the run (``exit_code`` != 0: it failed)."""
