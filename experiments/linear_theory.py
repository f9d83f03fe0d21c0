"""The paper's linear least-squares theory: GD vs signGD, Adam and RMSprop with irrelevant frequencies.

    python experiments/linear_theory.py                    # the paper's instance (200,001 steps)
    python experiments/linear_theory.py theory=quick logger=none
    python experiments/linear_theory.py data.sigma_tilde=[0.1,0.05,0.001] gradients=[population]

Writes trajectories, the risk-ratio surface and the final numbers to the run directory (and W&B);
draw the figures with ``python paper_figures/linear_theory.py <run dir>``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from robustopt.tracking.hydra_app import CONF_DIR, entry_point, output_dir, to_plain


@hydra.main(config_path=CONF_DIR, config_name="linear_theory", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    from robustopt.theory.pipeline import headline, run_linear_theory
    from robustopt.tracking import RunDir, build_logger

    config = to_plain(cfg)
    run_dir = output_dir()
    logger = build_logger(
        config["logger"], name=config["experiment_name"], group=config["experiment_name"], job_type="theory",
        config=config, dir=run_dir, run_id=RunDir(run_dir).meta().get("wandb_id"),
    )
    try:
        summary = run_linear_theory(config, run_dir, logger)
    except BaseException:
        logger.finish(exit_code=1)
        raise
    logger.finish(exit_code=0)
    print(headline(summary), flush=True)
    print(f"[{summary.get('status')}] linear theory -> {run_dir}", flush=True)


if __name__ == "__main__":
    main()
