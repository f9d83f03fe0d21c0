"""The evaluation entry point's job (``experiments/evaluate.py``)."""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from robustopt.cli.app import EXIT_FAILED, entry_point, launch, overridden, to_plain
from robustopt.cli.validate import check_evaluate_config
from robustopt.evaluation.pipeline import evaluate_runs
from robustopt.tracking import build_logger
from robustopt.tracking.compare import sweep_report


@entry_point
def evaluate_job(cfg: DictConfig) -> None:
    """Evaluate every training run ``run_dir`` names (a run, a sweep folder, or a folder of sweep folders) with the
    options each was configured with (its preset's ``eval.*``), changed only where this command line says so
    (``eval.<name>.<option>=...``, ``attack=<name>``), then print the sweep's tables.  What it found and skips is
    logged first; a run whose evaluation fails is one line on stderr, the others go on, and the exit status is 1."""
    config = to_plain(cfg)

    def make_logger(run, run_cfg):
        name = f"{run_cfg['optimizer']['name']}-seed{run_cfg['seed']}"
        return build_logger(
            config["logger"],
            name=name,
            group=run_cfg.get("experiment_name"),
            job_type="evaluate",
            config={**run_cfg, "evaluate": {k: config[k] for k in ("evaluations", "eval", "seed")}},
            dir=run.path,
        )

    explicit = overridden(cfg, "eval", groups={"attack": "eval.robust_accuracy.attack"})
    results = evaluate_runs(
        config["run_dir"],
        config["evaluations"],
        explicit,
        options_from_run=True,
        device=config["device"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        progress=config["progress"],
        data_dir=config.get("data_dir"),
        make_logger=make_logger,
        plugins=config.get("plugins"),
        protocol=config["protocol"],
        matched_target=config["matched_target"],
        prune_snapshots=config["prune_snapshots"],
        shard=config.get("shard"),
        num_threads=config.get("num_threads"),
        in_progress=config.get("in_progress", False),
        replace=bool(config.get("replace")),
    )
    for path, res in results.items():
        if "skipped" in res:
            print(f"skipped {path}: {res['skipped']}", flush=True)
    print(sweep_report(config["run_dir"]), flush=True)
    failed = {path: res["failed"] for path, res in results.items() if "failed" in res}
    for path, why in failed.items():
        print(f"error: {path}: {why}", file=sys.stderr, flush=True)
    if failed:  # the other runs' results are stored; exit status 1 as for a failed training run
        raise SystemExit(EXIT_FAILED)


def main() -> None:
    """``robustopt-evaluate`` / ``python experiments/evaluate.py``: the command line checked, then
    :func:`evaluate_job`."""
    launch(evaluate_job, "evaluate", check_evaluate_config)
