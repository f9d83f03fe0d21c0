"""The evaluation entry point's job (``experiments/evaluate.py``)."""

from __future__ import annotations

from omegaconf import DictConfig

from robustopt.cli.app import entry_point, overridden, to_plain
from robustopt.evaluation.pipeline import evaluate_runs
from robustopt.tracking import build_logger
from robustopt.tracking.compare import sweep_report


@entry_point
def evaluate_job(cfg: DictConfig) -> None:
    """Evaluate every run under ``run_dir`` with the options each was configured with (its preset's ``eval.*``),
    changed only where this command line says so (``eval.<name>.<option>=...``, ``attack=<name>``), then print
    the sweep's tables."""
    config = to_plain(cfg)

    def make_logger(run, run_cfg):
        name = f"{run_cfg['optimizer']['name']}-seed{run_cfg['seed']}"
        return build_logger(
            config["logger"], name=name, group=run_cfg.get("experiment_name"), job_type="evaluate",
            config={**run_cfg, "evaluate": {k: config[k] for k in ("evaluations", "eval", "seed")}}, dir=run.path,
        )

    explicit = overridden(cfg, "eval", groups={"attack": "eval.robust_accuracy.attack"})
    results = evaluate_runs(
        config["run_dir"], config["evaluations"], explicit, options_from_run=True, device=config["device"],
        batch_size=config["batch_size"], seed=config["seed"], progress=config["progress"],
        data_dir=config.get("data_dir"), make_logger=make_logger, plugins=config.get("plugins"),
        protocol=config["protocol"], matched_target=config["matched_target"], prune_snapshots=config["prune_snapshots"],
        shard=config.get("shard"), num_threads=config.get("num_threads"), in_progress=config.get("in_progress", False),
    )
    for path, res in results.items():
        if "skipped" in res:
            print(f"skipped {path}: status {res['skipped']}", flush=True)
    print(sweep_report(config["run_dir"]), flush=True)
