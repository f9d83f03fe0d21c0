"""Train one model (or a sweep with -m) and record it in its run directory.

    python experiments/train.py optimizer=adam seed=1
    python experiments/train.py -m experiment=quick optimizer=sgd,adam,rmsprop seed=0,1
    python experiments/train.py -m launcher=slurm optimizer=sgd,adam,rmsprop seed=0,1,2   # on a SLURM cluster

Re-running the same command resumes from the last checkpoint (or skips a finished run).  In a multirun a
job that fails (a bad config, a crash) is recorded as failed and the other jobs go on; the sweep's table
(scripts/collect_sweep.py) lists it by its overrides.  The job itself: robustopt.cli.train.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from robustopt.cli import CONF_DIR
from robustopt.cli.train import train_job


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train_job(cfg)


if __name__ == "__main__":
    main()
