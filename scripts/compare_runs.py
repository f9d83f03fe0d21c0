"""Print the side-by-side tables of a sweep (one column per optimizer).

    python scripts/compare_runs.py outputs/multiruns/quick
"""

import sys

from robustopt.tracking.compare import sweep_report

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/compare_runs.py SWEEP_DIR")
    print(sweep_report(sys.argv[1]))
