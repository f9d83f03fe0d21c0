"""The linear-theory entry point's job (``experiments/linear_theory.py``)."""

from __future__ import annotations

from omegaconf import DictConfig

from robustopt.cli.app import entry_point, launch, output_dir, to_plain
from robustopt.rundir import RunDir
from robustopt.theory.pipeline import headline, run_linear_theory
from robustopt.tracking import build_logger


@entry_point
def linear_theory_job(cfg: DictConfig) -> None:
    """Simulate the configured optimizers on the paper's linear model and record everything in this job's run
    directory (and W&B when configured)."""
    config = to_plain(cfg)
    run_dir = output_dir()
    logger = build_logger(
        config["logger"],
        name=config["experiment_name"],
        group=config["experiment_name"],
        job_type="theory",
        config=config,
        dir=run_dir,
        run_id=RunDir(run_dir).meta().get("wandb_id"),
    )
    try:
        summary = run_linear_theory(config, run_dir, logger)
    except BaseException:
        logger.finish(exit_code=1)
        raise
    logger.finish(exit_code=0)
    print(headline(summary), flush=True)
    print(f"[{summary.get('status')}] linear theory -> {run_dir}", flush=True)


def main() -> None:
    """``robustopt-linear-theory`` / ``python experiments/linear_theory.py``."""
    launch(linear_theory_job, "linear_theory")
