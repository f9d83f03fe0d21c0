"""Train one model (or a sweep with -m) and record it in its run directory.

    python experiments/train.py optimizer=adam seed=1
    python experiments/train.py -m experiment=quick optimizer=sgd,adam,rmsprop seed=0,1
    python experiments/train.py -m launcher=slurm optimizer=sgd,adam,rmsprop seed=0,1,2   # on a SLURM cluster

Re-running the same command resumes from the last checkpoint (or skips a finished run).  In a multirun a
job that fails (a bad config, a crash) is recorded as failed and the other jobs go on; the sweep's table
(scripts/collect_sweep.py) lists it by its overrides.
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from robustopt.errors import RobustOptError
from robustopt.tracking.hydra_app import CONF_DIR, entry_point, output_dir, to_plain

log = logging.getLogger("robustopt")


def _job_info() -> dict:
    """This job's place in its sweep, for the W&B config (group runs by the swept keys in the UI)."""
    hc = HydraConfig.get()
    overrides = {}
    for item in hc.overrides.task:
        key, _, value = str(item).partition("=")
        overrides[key.lstrip("+~")] = value
    info = {"overrides": overrides}
    if hc.mode == RunMode.MULTIRUN:
        info.update(sweep_dir=str(hc.sweep.dir), job_num=hc.job.num, job_id=OmegaConf.select(hc, "job.id", default=None, throw_on_missing=False))
    return info


def train(cfg: DictConfig) -> None:
    """Train the run ``cfg`` describes in this job's output directory (logging to W&B when configured)."""
    from robustopt.tracking import NullLogger, RunDir, build_logger
    from robustopt.train.pipeline import run_is_finished, train_run

    config = to_plain(cfg)
    run_dir = output_dir()
    run = RunDir(run_dir)
    name = f"{config['optimizer']['name']}-seed{config['seed']}"
    if run_is_finished(run_dir, config):  # nothing to train: no new W&B run either
        logger = NullLogger()
    else:
        logger = build_logger(
            config["logger"], name=name, group=config["experiment_name"], job_type="train",
            config={**config, "job": _job_info()}, dir=run_dir, run_id=run.meta().get("wandb_id"),
        )
    try:
        result = train_run(config, run_dir, logger)
    except BaseException:
        logger.finish(exit_code=1)  # marked failed in W&B, not finished
        raise
    logger.finish(exit_code=0)
    final = result.final
    print(
        f"[{result.status}] {name}: test accuracy {final.get('test_accuracy', float('nan')):.4f}, "
        f"test loss {final.get('test_loss', float('nan')):.4f} -> {run_dir}",
        flush=True,
    )


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # Raise, not exit: the launcher records this job as failed and runs the others (a SystemExit would
        # end a sequential sweep at once, and leave a SLURM job without a result for submitit to read).
        try:
            return train(cfg)
        except RobustOptError as exc:
            log.error("%s", exc)
            raise
    return entry_point(train)(cfg)


if __name__ == "__main__":
    main()
