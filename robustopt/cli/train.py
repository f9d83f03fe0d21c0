"""The training entry point's job (``experiments/train.py``, ``experiments/irrelevant_freq.py``).

:func:`train_job` turns a composed Hydra config into plain dicts, builds the logger and calls
:func:`train_and_evaluate`: training (:func:`robustopt.train.pipeline.train_run`) and then the configured
evaluations (:func:`robustopt.evaluation.pipeline.evaluate_model`), each a library call on plain dicts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from robustopt.cli.app import entry_point, interrupted, launch, output_dir, record_run_status, to_plain
from robustopt.cli.check import split_override
from robustopt.cli.validate import check_train_config_once
from robustopt.devices import resolve_device, torch_threads
from robustopt.errors import RobustOptError
from robustopt.evaluation.pipeline import evaluate_model
from robustopt.logger import NullLogger
from robustopt.rundir import RunDir, RunLock
from robustopt.runs import load_run_model
from robustopt.tracking import build_logger
from robustopt.train import FitResult
from robustopt.train.pipeline import run_is_finished, train_run

log = logging.getLogger("robustopt")


def train_and_evaluate(cfg: dict, run_dir: str | Path, logger: Optional[NullLogger] = None) -> FitResult:
    """Train the run ``cfg`` describes in ``run_dir`` (or resume it, or skip it when finished), then run its
    ``evaluations`` (with its ``eval`` options) on the trained weights, storing each result in the run's
    summary.  The run is marked completed only after its evaluations, so a run stopped while being
    evaluated is evaluated again when the same command runs again; a failed evaluation marks it failed.

    The library's door to a training job: ``cfg`` is checked first (:func:`check_train_config_once`, so a
    misspelled evaluation fails before training; a no-op for a config this process already checked)."""
    check_train_config_once(cfg)
    return _train_and_evaluate(cfg, run_dir, logger, run_is_finished(run_dir, cfg))


def _train_and_evaluate(cfg: dict, run_dir: str | Path, logger: Optional[NullLogger], finished: bool) -> FitResult:
    """:func:`train_and_evaluate` of a checked ``cfg`` whose run is ``finished`` (:func:`run_is_finished`) or not."""
    evaluations = list(cfg.get("evaluations") or [])
    if not evaluations or finished:
        return train_run(cfg, run_dir, logger, finished=finished)
    result = train_run(cfg, run_dir, logger, mark_finished=False, finished=False)
    run = RunDir(run_dir)
    if result.status == "completed":
        try:
            with torch_threads(cfg.get("num_threads")):
                device = resolve_device(cfg.get("device", "auto"))
                evaluate_model(
                    load_run_model(run, device),
                    cfg,
                    run,
                    evaluations,
                    cfg.get("eval") or {},
                    device=device,
                    logger=logger,
                    batch_size=int(cfg.get("eval_batch_size", 1024)),
                    seed=int(cfg["seed"]),
                    progress=bool(cfg.get("progress", True)),
                )
        except KeyboardInterrupt:
            run.set_status("interrupted")
            raise
        except BaseException as exc:
            run.set_status("failed", error=f"evaluation: {type(exc).__name__}: {exc}")
            raise
        run.set_status(result.status)
    return result


def _job_info() -> dict:
    """This job's place in its sweep, for the W&B config (group runs by the swept keys in the UI)."""
    hc = HydraConfig.get()
    info = {"overrides": dict(split_override(item) for item in hc.overrides.task)}
    if hc.mode == RunMode.MULTIRUN:
        info.update(
            sweep_dir=str(hc.sweep.dir),
            job_num=hc.job.num,
            job_id=OmegaConf.select(hc, "job.id", default=None, throw_on_missing=False),
        )
    return info


def train(cfg: DictConfig) -> None:
    """Train the run ``cfg`` describes in this job's output directory (logging to W&B when configured).

    The run directory is locked (:class:`~robustopt.rundir.RunLock`) for the whole job: a second command on the
    same run refuses in one line naming the process that trains it.  Ctrl-C records the run as ``interrupted``
    and says, in one line, that the same command resumes it (exit status 130)."""
    config = to_plain(cfg)
    check_train_config_once(config)  # checked by the command line in this process; a SLURM job checks on its node
    run_dir = output_dir()
    name = f"{config['optimizer']['name']}-seed{config['seed']}"
    with RunLock(run_dir):
        try:
            _train_locked(config, run_dir, name)
        except KeyboardInterrupt:
            done, epochs = len(RunDir(run_dir).metrics()), int(config["epochs"])
            where = f"in epoch {done + 1} of {epochs}" if done < epochs else "after training, while being evaluated"
            interrupted(
                f"{name} stopped {where} and is recorded as interrupted in {run_dir}; "
                f"run the same command again to resume it from its last checkpoint"
            )


def _train_locked(config: dict, run_dir: Path, name: str) -> None:
    run = RunDir(run_dir)
    finished = run_is_finished(run_dir, config)  # decided once for the job, passed down
    if finished:  # nothing to train: no new W&B run either
        logger = NullLogger()
    else:
        logger = build_logger(
            config["logger"],
            name=name,
            group=config["experiment_name"],
            job_type="train",
            config={**config, "job": _job_info()},
            dir=run_dir,
            run_id=run.meta().get("wandb_id"),
        )
    try:
        result = _train_and_evaluate(config, run_dir, logger, finished)
    except BaseException:
        logger.finish(exit_code=1)  # marked failed in W&B, not finished
        raise
    logger.finish(exit_code=0)
    record_run_status(result.status)
    final = result.final
    print(
        f"[{result.status}] {name}: test accuracy {final.get('test_accuracy', float('nan')):.4f}, "
        f"test loss {final.get('test_loss', float('nan')):.4f} -> {run_dir}",
        flush=True,
    )


def train_job(cfg: DictConfig) -> None:
    """The task of ``experiments/train.py``: :func:`train`, with user mistakes as one line and a non-zero exit."""
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # Raise, not exit: the launcher records this job as failed and runs the others (a SystemExit would
        # end a sequential sweep at once, and leave a SLURM job without a result for submitit to read).
        try:
            return train(cfg)
        except RobustOptError as exc:
            log.error("%s", exc)
            raise
    return entry_point(train)(cfg)


def main() -> None:
    """``robustopt-train`` / ``python experiments/train.py``: the command line checked, then :func:`train_job`."""
    launch(train_job, "train", check_train_config_once)
