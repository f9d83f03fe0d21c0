"""Gather every job of a sweep into one table (sweep_results.csv / .json next to multirun.yaml) and print
mean ± std over seeds per optimizer, and the failed or missing jobs by their overrides.

    python scripts/collect_sweep.py outputs/multiruns/quick
    python scripts/collect_sweep.py outputs/multiruns/quick --metrics summary.test_accuracy robust.pgd-linf.mean

Works on a partial or still-running sweep.  Exit status: 0 when every job has a result (completed or
diverged), 1 when some failed, are unfinished or missing, 2 when the folder does not exist.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="the multirun's folder (holds multirun.yaml and one folder per job)")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        help="table columns to average over seeds (default: test accuracy and loss, robust accuracy means)",
    )
    parser.add_argument("--no-write", action="store_true", help="only print; do not write sweep_results.*")
    args = parser.parse_args(argv)

    from robustopt.cli.sweep import collect
    from robustopt.errors import RobustOptError
    from robustopt.tracking.sweep import format_report

    try:
        result = collect(args.sweep_dir, write=not args.no_write, metrics=args.metrics)
    except RobustOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    return 1 if result.unfinished else 0


if __name__ == "__main__":
    sys.exit(main())
