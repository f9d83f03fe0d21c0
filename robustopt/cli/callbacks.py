"""Hydra callbacks (``hydra.callbacks`` in ``conf/train.yaml``).

:class:`CollectSweep` gathers a finished multirun into one table with :func:`robustopt.cli.sweep.collect`.
Hydra calls ``on_multirun_end`` only when every job succeeded; for a sweep with failed jobs run
``python scripts/collect_sweep.py SWEEP_DIR``, which does the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from robustopt.cli.app import record_run_status
from robustopt.cli.sweep import collect
from robustopt.tracking.sweep import format_report

log = logging.getLogger(__name__)


class CollectSweep(Callback):
    """After a multirun: write ``sweep_results.{csv,json}`` next to ``multirun.yaml`` and print the summary.

    ``enabled=false`` (``hydra.callbacks.collect_sweep.enabled=false``) turns it off; ``print_report=false``
    only writes the files.  A diverged job makes the sweep's exit status 3 (:data:`robustopt.cli.app.EXIT_DIVERGED`).
    A problem while collecting is logged, never raised: the sweep itself succeeded.
    """

    def __init__(self, enabled: bool = True, print_report: bool = True) -> None:
        self.enabled = enabled
        self.print_report = print_report

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            result = collect(sweep_dir)
        except Exception as exc:  # noqa: BLE001 - the jobs are done; a table we cannot write is only a warning
            log.warning(
                "could not collect the sweep %s (%s: %s); run scripts/collect_sweep.py %s",
                sweep_dir,
                type(exc).__name__,
                exc,
                sweep_dir,
            )
            return
        for job in result.with_status("diverged"):  # jobs of other processes (joblib, SLURM): the exit status is 3
            record_run_status(job.status)
        if self.print_report:
            print(format_report(result), flush=True)
