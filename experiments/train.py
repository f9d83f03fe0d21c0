"""Train one model (or a sweep with -m) and record it in its run directory.

    python experiments/train.py optimizer=adam seed=1
    python experiments/train.py -m experiment=quick optimizer=sgd,adam,rmsprop seed=0,1
    python experiments/train.py -m launcher=slurm optimizer=sgd,adam,rmsprop seed=0,1,2   # on a SLURM cluster

Re-running the same command resumes from the last checkpoint (or skips a finished run).  In a multirun a
job that fails (a bad config, a crash) is recorded as failed and the other jobs go on; the sweep's table
(scripts/collect_sweep.py) lists it by its overrides.  The job itself: robustopt.cli.train (also installed as the
console script robustopt-train).
"""

from robustopt.cli.train import main

if __name__ == "__main__":
    main()
