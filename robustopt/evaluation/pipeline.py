"""The evaluation pipeline behind ``experiments/evaluate.py``: load trained runs, run the
configured evaluations from :data:`EVALUATIONS`, store each result under its name."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from robustopt.data import get_spec, load_configured_split
from robustopt.devices import resolve_device, torch_threads
from robustopt.errors import CheckpointError, ConfigError, DataError, RobustOptError
from robustopt.evaluation.api import run_evaluations
from robustopt.evaluation.matched import RULE_LOWEST_FINAL, matched_epochs
from robustopt.evaluation.merge import merge_result
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData, evaluation_options
from robustopt.io import check_writable
from robustopt.logger import NullLogger
from robustopt.registry import load_plugins
from robustopt.rundir import RunDir, RunLock, scan_run_dir
from robustopt.runs import load_run_model, snapshot_path

log = logging.getLogger("robustopt.evaluate")


def load_trained_model(run: RunDir, device: torch.device | str = "cpu", epoch: Optional[int] = None) -> torch.nn.Module:
    """The model of a trained run with its final weights (or those of a kept ``epoch``), in eval mode on ``device``."""
    return load_run_model(run, device, epoch)


def parse_shard(shard: str | None) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with 0 <= i < n; None -> ``(0, 1)``."""
    if shard in (None, ""):
        return 0, 1
    try:
        i, n = (int(v) for v in str(shard).split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like i/n (e.g. 0/2), got {shard!r}") from None
    if not 0 <= i < n:
        raise ConfigError(f"shard i/n needs 0 <= i < n, got {shard!r}")
    return i, n


def deep_merge(base: dict, top: dict) -> dict:
    """``base`` with ``top`` merged in, key by key (``top`` wins; nested mappings merged, lists replaced)."""
    out = dict(base)
    for key, value in (top or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def check_evaluations(evaluations, options: Optional[dict] = None, dataset: str = "") -> None:
    """Check, before any work, that every evaluation in ``evaluations`` is registered and that its options in
    ``options`` (``{name: {option: value}}``) are its own and have values it accepts: each evaluation's registered
    rules (:func:`~robustopt.evaluation.registry.evaluation_options`, its ``check`` included; ``dataset``: the data
    set's name, for per-data-set defaults), so that a training run that ends with evaluations refuses a misspelled
    option or a bad value at start-up, not after training."""
    options = options or {}
    for name in evaluations or []:
        evaluation_options(name, options.get(name), dataset)


def load_test_split(cfg: dict, data_dir: Optional[str] = None) -> EvalData:
    """The run's test images (scaled to [0, 1]) and labels, on the CPU: what every evaluation measures."""
    ds = cfg["dataset"]
    x, y = load_configured_split(ds, "test", root=data_dir)
    return EvalData(x.float().div_(255), y, ds["name"])


def evaluate_model(
    model: torch.nn.Module,
    cfg: dict,
    run: RunDir,
    evaluations: list[str],
    options: dict,
    *,
    device: torch.device,
    logger: Optional[NullLogger] = None,
    batch_size: int = 1024,
    seed: int = 0,
    progress: bool = True,
    data: Optional[EvalData] = None,
    data_dir: Optional[str] = None,
    protocol: str = "final",
    replace: bool = False,
) -> dict:
    """Run each named evaluation on ``model`` and store its result in ``run``'s summary (under ``eval``, or
    ``matched.eval`` for ``protocol="matched"``) as soon as it is done, merged with the result stored there
    (:func:`robustopt.evaluation.merge.merge_result`: e.g. another attack's curves are kept); ``replace=True``
    drops the stored result instead."""
    for name in evaluations:  # unknown names fail before any work
        EVALUATIONS.get(name)
    data = data if data is not None else load_test_split(cfg, data_dir)
    data = EvalData(data.x.to(device), data.y.to(device), data.dataset)
    logger = logger or NullLogger()
    ctx = EvalContext(
        device=device, batch_size=batch_size, seed=seed, progress=progress, tracker=logger, run_dir=str(run.path)
    )
    prefix = "eval" if protocol == "final" else f"{protocol}/eval"

    def store(name: str, result: dict) -> None:
        merged, replaced, note = merge_result(
            name, run.stored_eval(name, protocol), result, replace=replace, options=options.get(name)
        )
        if note:
            log.info("%s %s: %s", run.path, name, note)
        run.write_eval(name, merged, protocol, replaced=replaced)
        scalars = {k: v for k, v in result.items() if isinstance(v, (int, float))}
        logger.log_summary({f"{prefix}/{name}/{k}": v for k, v in scalars.items()})
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in scalars.items())
        log.info("%s: %s: %s", run.path.name, name, shown)

    return run_evaluations(model, data, evaluations, options, ctx, on_result=store)


def check_runs_can_be_evaluated(
    runs: list[RunDir], data_dir: Optional[str] = None, epochs: Optional[dict] = None
) -> None:
    """Before any work: every run to evaluate has its weights (those of ``epochs[str(run.path)]`` under the matched
    protocol), a folder this process can write its results into, and its data root; otherwise one error naming the
    first problem (and how many runs have one), so that an evaluation never stops half-way with some runs rewritten
    and others not."""
    problems: list[tuple[type, str]] = []
    for run in runs:
        cfg = run.config()
        load_plugins(cfg.get("plugins"))
        epoch = (epochs or {}).get(str(run.path))
        if (
            epoch is not None
            and not snapshot_path(run.checkpoint_dir, epoch).exists()
            and int(epoch) != len(run.metrics())
        ):
            problems.append(
                (
                    CheckpointError,
                    f"{run.path} kept no weights of epoch {epoch} ({snapshot_path(run.checkpoint_dir, epoch).name} "
                    f"is missing); train it with snapshot_epochs=all (or a list holding {epoch}) to evaluate it at "
                    "that epoch",
                )
            )
            continue
        if not run.checkpoint_path.exists() and not run.weights_path.exists():
            problems.append(
                (
                    CheckpointError,
                    f"{run.path} has no weights ({run.checkpoint_path.name} or {run.weights_path.name}); "
                    f"train it again with the same command, or move it out of run_dir",
                )
            )
            continue
        try:
            check_writable(run.path)
        except OSError as exc:
            problems.append(
                (
                    ConfigError,
                    f"cannot write the results into {run.path} ({exc.strerror or exc}); make it "
                    f"writable, or evaluate a copy of it",
                )
            )
            continue
        ds = cfg.get("dataset") or {}
        root = Path(str(data_dir or ds.get("root") or "")).expanduser()
        if get_spec(ds["name"]).cacheable and not root.is_dir():
            problems.append(
                (
                    DataError,
                    f"the data root {root} of {run.path} does not exist; pass data_dir=<the folder "
                    f"holding {ds['name']}>",
                )
            )
    if problems:
        kind, first = problems[0]
        more = f" (and {len(problems) - 1} more of the {len(runs)} runs)" if len(problems) > 1 else ""
        raise kind(f"nothing evaluated: {first}{more}")


@dataclass
class EvaluationJob:
    """How :func:`evaluate_runs` evaluates each run (its arguments of the same names)."""

    evaluations: list[str]
    options: dict
    batch_size: int = 1024
    seed: int = 0
    progress: bool = True
    data_dir: Optional[str] = None
    make_logger: Optional[Callable] = None
    protocol: str = "final"
    options_from_run: bool = False
    prune_snapshots: bool = False
    replace: bool = False

    def options_for(self, cfg: dict) -> dict:
        """The evaluations' options for a run configured as ``cfg``: this job's, on top of the run's own ``eval``
        config with ``options_from_run``."""
        return deep_merge(cfg.get("eval") or {}, self.options) if self.options_from_run else self.options


@dataclass
class RunSelection:
    """The runs :func:`evaluate_runs` evaluates (this shard's eligible ones, in order), the matched epochs planned
    from all eligible runs (matched protocol; ``{}`` otherwise) and ``{path: {"skipped": why}}`` for the others."""

    runs: list[RunDir]
    plan: dict
    skipped: dict[str, dict]

    def epochs(self) -> dict:
        return {path: where.epoch for path, where in self.plan.items()}


def check_protocol(protocol: str, matched_target: str | float = RULE_LOWEST_FINAL, in_progress: bool = False) -> None:
    """ConfigError unless ``protocol`` is ``final`` or ``matched``, and ``in_progress`` comes with ``matched`` and a
    fixed ``matched_target`` accuracy."""
    if in_progress and (protocol != "matched" or isinstance(matched_target, str)):
        raise ConfigError(
            "in_progress=true needs protocol=matched with a fixed matched_target accuracy (e.g. matched_target=0.9): "
            "only the first epoch reaching a fixed accuracy is final before training ends"
        )
    if protocol not in ("final", "matched"):
        raise ConfigError(
            "protocol must be 'final' (the paper's: the last epoch) or 'matched' (equal standard accuracy), got "
            f"{protocol!r}"
        )


def select_runs(
    runs: list[RunDir],
    *,
    protocol: str = "final",
    matched_target: str | float = RULE_LOWEST_FINAL,
    in_progress: bool = False,
    shard: str | None = None,
) -> RunSelection:
    """The runs of ``runs`` to evaluate: completed ones (with ``in_progress``, also those being trained or
    interrupted, not diverged ones), every n-th from the i-th with ``shard="i/n"``; the matched epochs are planned
    from all eligible runs, whatever the shard.  A run of the shard that is not eligible is logged and skipped."""
    eligible = [r for r in runs if r.status == "completed" or (in_progress and r.status != "diverged")]
    plan = matched_epochs(eligible, matched_target) if protocol == "matched" else {}
    index, count = parse_shard(shard)
    skipped = {}
    for run in runs[index::count]:
        if run not in eligible:
            log.warning("skipping %s: its status is %s, not completed", run.path, run.status)
            skipped[str(run.path)] = {"skipped": f"its status is {run.status}, not completed"}
    return RunSelection([r for r in runs[index::count] if r in eligible], plan, skipped)


def evaluate_runs(
    root: str | Path,
    evaluations: list[str],
    options: dict,
    *,
    device: str = "auto",
    batch_size: int = 1024,
    seed: int = 0,
    progress: bool = True,
    data_dir: Optional[str] = None,
    make_logger=None,
    protocol: str = "final",
    matched_target: str | float = RULE_LOWEST_FINAL,
    options_from_run: bool = False,
    prune_snapshots: bool = False,
    shard: str | None = None,
    num_threads=None,
    plugins=None,
    in_progress: bool = False,
    replace: bool = False,
) -> dict[str, dict]:
    """Evaluate every completed run under ``root``: a training run's folder, a sweep folder of runs, or a folder of
    sweep folders (:func:`robustopt.rundir.scan_run_dir`, which lists what it found and skipped: logged before any
    work).  Every run to evaluate is checked first (:func:`check_runs_can_be_evaluated`: weights, a writable folder,
    data).  A run being trained (its lock held, :class:`~robustopt.rundir.RunLock`) is skipped; each run is locked
    while it is evaluated.  A run whose evaluation fails with a user error is reported (``{"failed": sentence}``)
    and the others go on.

    ``plugins`` (modules or ``.py`` files, e.g. with the evaluations to run) are imported first, and each run's
    own ``plugins`` (e.g. its model's) before it is loaded.

    ``options`` are the evaluations' options; with ``options_from_run`` they are applied on top of the options each
    run was configured with (its ``eval`` config, e.g. a ``paper_*`` preset's), so that re-evaluating a run uses its
    own settings unless told otherwise.  ``prune_snapshots`` (matched protocol only) deletes each run's kept epoch
    weights except the matched epoch's once it is evaluated (the final weights stay in ``checkpoints/last.pt``).
    ``shard="i/n"`` evaluates only every n-th run starting at the i-th (0-based), so that n processes can share a
    sweep (the matched epochs are still planned from all runs).  ``num_threads``: torch CPU threads (an int,
    ``auto`` or None, as in training).

    ``protocol="final"`` (the paper's) evaluates the final weights; ``"matched"`` evaluates each run at the
    first epoch where its validation accuracy reaches its group's target (:mod:`robustopt.evaluation.matched`).

    ``in_progress`` (matched protocol with a fixed ``matched_target`` only) also evaluates runs that are still
    training (or were interrupted): the weights of the first epoch reaching a fixed accuracy do not depend on
    whether training later finishes.  Such a run's ``summary.matched`` records ``run_status`` and
    ``epochs_done`` at evaluation time.  Evaluate a copy of a run that is still being trained (its trainer
    rewrites ``summary.json``).

    Each result is merged with the one the run stores (:mod:`robustopt.evaluation.merge`: another attack's
    curves, other eps points are kept); ``replace=True`` drops the stored results of the evaluations run.
    """
    check_protocol(protocol, matched_target, in_progress)
    load_plugins(plugins)
    for name in evaluations:
        EVALUATIONS.get(name)
    scan = scan_run_dir(root)
    log.info("%s", scan.describe())
    for folder, why in scan.skipped:
        log.info("skipping %s: %s", folder, why)
    dev = resolve_device(device)
    selection = select_runs(
        scan.runs, protocol=protocol, matched_target=matched_target, in_progress=in_progress, shard=shard
    )
    out = dict(selection.skipped)
    check_runs_can_be_evaluated(selection.runs, data_dir, selection.epochs())
    log.info(
        "evaluating %s on %d run%s",
        ", ".join(evaluations),
        len(selection.runs),
        "s" if len(selection.runs) != 1 else "",
    )
    job = EvaluationJob(
        list(evaluations),
        options,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        data_dir=data_dir,
        make_logger=make_logger,
        protocol=protocol,
        options_from_run=options_from_run,
        prune_snapshots=prune_snapshots,
        replace=replace,
    )
    with torch_threads(num_threads):  # this call's threads only; the caller's are restored afterwards
        for run in selection.runs:
            out[str(run.path)] = _evaluate_locked(run, selection.plan, job, dev)
    return out


def _evaluate_locked(run: RunDir, plan: dict, job: EvaluationJob, device: torch.device) -> dict:
    """One run of :func:`evaluate_runs`, locked while it is evaluated: its results, ``{"skipped": why}`` when its
    lock is held (it is being trained), or ``{"failed": sentence}`` when its evaluation fails with a user error."""
    status = run.status
    lock = RunLock(run.path, "evaluating")
    try:
        lock.acquire()
    except CheckpointError as exc:
        log.warning("skipping %s: %s", run.path, exc)
        return {"skipped": str(exc)}
    try:
        return _evaluate_one(run, plan, status, job, device)
    except RobustOptError as exc:
        log.error("%s: %s", run.path, exc)
        return {"failed": str(exc)}
    finally:
        lock.release()


def _evaluate_one(run: RunDir, plan: dict, status: str, job: EvaluationJob, device: torch.device) -> dict:
    """One run of :func:`evaluate_runs` (its lock held; ``status``: the run's status before it was locked)."""
    cfg = run.config()
    load_plugins(cfg.get("plugins"))
    epoch = None
    if job.protocol == "matched":
        where = plan[str(run.path)]
        epoch = where.epoch
        matched = where.as_dict()
        if status != "completed":
            matched.update(run_status=status, epochs_done=where.final_epoch, epochs=int(cfg["epochs"]))
        run.set_matched(matched)
        log.info(
            "%s: matched validation accuracy %.4f reached at epoch %d of %d",
            run.path,
            where.target_accuracy,
            epoch,
            where.final_epoch,
        )
    model = load_trained_model(run, device, epoch)
    logger = job.make_logger(run, cfg) if job.make_logger else NullLogger()
    try:
        result = evaluate_model(
            model,
            cfg,
            run,
            job.evaluations,
            job.options_for(cfg),
            device=device,
            logger=logger,
            batch_size=job.batch_size,
            seed=job.seed,
            progress=job.progress,
            data_dir=job.data_dir,
            protocol=job.protocol,
            replace=job.replace,
        )
    except BaseException:
        logger.finish(exit_code=1)
        raise
    logger.finish(exit_code=0)
    if job.prune_snapshots and epoch is not None:
        _prune_snapshots(run, epoch)
    return result


def _prune_snapshots(run: RunDir, epoch: int) -> None:
    """Delete the run's kept epoch weights except those of ``epoch`` (the final ones stay in
    ``checkpoints/last.pt``)."""
    keep = snapshot_path(run.checkpoint_dir, epoch)
    for path in run.checkpoint_dir.glob("epoch-*.pt"):
        if path != keep:
            path.unlink()
