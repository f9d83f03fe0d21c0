"""Print the side-by-side tables of a sweep (one column per optimizer); also installed as ``robustopt-compare``.

    python scripts/compare_runs.py outputs/multiruns/reproduce_quick

A folder that does not exist or holds no runs is an error (exit status 2).
"""

import sys

from robustopt.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
