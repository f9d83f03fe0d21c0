"""``robustopt-compare`` / ``python scripts/compare_runs.py SWEEP_DIR``: a sweep's optimizers side by side.

A folder that does not exist, or holds no run directories, is one error line and exit status 2 (an empty
table with exit status 0 would read as "nothing to compare" instead of "wrong path").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from robustopt.errors import ConfigError, RobustOptError
from robustopt.rundir import find_runs
from robustopt.tracking.compare import sweep_report

USAGE = "usage: robustopt-compare SWEEP_DIR   (or: python scripts/compare_runs.py SWEEP_DIR)"


def compare_runs(sweep_dir: str | Path) -> str:
    """The side-by-side tables of the runs under ``sweep_dir``; ConfigError when there are none."""
    path = Path(sweep_dir)
    if not path.exists():
        raise ConfigError(
            f"{sweep_dir} does not exist; pass a sweep folder of trained runs (e.g. outputs/multiruns/reproduce_quick)"
        )
    if not find_runs(path):
        raise ConfigError(
            f"no run directories (config.yaml + meta.json) under {sweep_dir}; train first (robustopt-train -m ...)"
        )
    return sweep_report(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        print(compare_runs(args[0]), flush=True)
    except RobustOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
