"""Run evaluations on trained runs (one run directory or a whole sweep folder).

    python experiments/evaluate.py run_dir=outputs/multiruns/quick evaluations=[clean]

Each run is evaluated with the evaluation options it was trained with (its preset's ``eval``), changed only by the
``eval.*`` / ``attack=`` overrides on this command line.  Each result is stored under its name in the run's
summary.json ("eval", or "matched.eval" with protocol=matched) and logged to W&B.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from robustopt.tracking.hydra_app import CONF_DIR, entry_point, overridden, to_plain


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
@entry_point
def main(cfg: DictConfig) -> None:
    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.tracking import build_logger

    config = to_plain(cfg)

    def make_logger(run, run_cfg):
        name = f"{run_cfg['optimizer']['name']}-seed{run_cfg['seed']}"
        return build_logger(
            config["logger"], name=name, group=run_cfg.get("experiment_name"), job_type="evaluate",
            config={**run_cfg, "evaluate": {k: config[k] for k in ("evaluations", "eval", "seed")}}, dir=run.path,
        )

    # Each run is evaluated with the options it was configured with (its preset's eval.*), changed only where this
    # command line says so (eval.<name>.<option>=..., attack=<name>).
    explicit = overridden(cfg, "eval", groups={"attack": "eval.robust_accuracy.attack"})
    results = evaluate_runs(
        config["run_dir"], config["evaluations"], explicit, options_from_run=True, device=config["device"],
        batch_size=config["batch_size"], seed=config["seed"], progress=config["progress"],
        data_dir=config.get("data_dir"), make_logger=make_logger,
        protocol=config["protocol"], matched_target=config["matched_target"], prune_snapshots=config["prune_snapshots"],
        shard=config.get("shard"), num_threads=config.get("num_threads"),
    )
    from robustopt.tracking.compare import sweep_report

    skipped = {path: res["skipped"] for path, res in results.items() if "skipped" in res}
    for path, status in skipped.items():
        print(f"skipped {path}: status {status}", flush=True)
    print(sweep_report(config["run_dir"]), flush=True)


if __name__ == "__main__":
    main()
