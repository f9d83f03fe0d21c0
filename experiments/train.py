"""Train one model (or a sweep with -m) and record it in its run directory.

    python experiments/train.py optimizer=adam seed=1
    python experiments/train.py -m experiment=quick optimizer=sgd,adam,rmsprop seed=0,1

Re-running the same command resumes from the last checkpoint (or skips a finished run).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from robustopt.tracking.hydra_app import CONF_DIR, entry_point, output_dir, to_plain


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    from robustopt.tracking import RunDir, build_logger
    from robustopt.train.pipeline import train_run

    config = to_plain(cfg)
    run_dir = output_dir()
    run = RunDir(run_dir)
    name = f"{config['optimizer']['name']}-seed{config['seed']}"
    logger = build_logger(
        config["logger"], name=name, group=config["experiment_name"], job_type="train",
        config=config, dir=run_dir, run_id=run.meta().get("wandb_id"),
    )
    try:
        result = train_run(config, run_dir, logger)
    except BaseException:
        logger.finish(exit_code=1)
        raise
    logger.finish(exit_code=0)
    final = result.final
    print(
        f"[{result.status}] {name}: test accuracy {final.get('test_accuracy', float('nan')):.4f}, "
        f"test loss {final.get('test_loss', float('nan')):.4f} -> {run_dir}",
        flush=True,
    )


if __name__ == "__main__":
    main()
