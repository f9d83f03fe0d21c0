"""The training pipeline behind ``experiments/train.py``, callable with a plain config dict.

``train_run(cfg, run_dir)`` loads the config's ``plugins``, builds the data, the model (from the shared
initial weights of ``(model config, init_seed)``), the optimizer and schedule, trains with
:func:`robustopt.train.fit` (resuming from ``run_dir/checkpoints/last.pt`` when present) and records
everything in the run directory and the logger.  Evaluating the trained model is the caller's next step
(the entry point chains the two: :func:`robustopt.cli.train.train_and_evaluate`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

import torch

from robustopt.checkpoint import load_checkpoint
from robustopt.data import DatasetSpec, TensorBatches, get_spec, load_configured_split, split_validation
from robustopt.devices import resolve_device, torch_threads
from robustopt.errors import CheckpointError, ConfigError
from robustopt.frequency import FILTERS
from robustopt.io import atomic_torch_save
from robustopt.logger import NullLogger
from robustopt.meta import run_meta
from robustopt.models import init_model, model_fingerprint
from robustopt.optim import build_optimizer, build_scheduler
from robustopt.registry import load_plugins
from robustopt.rundir import RunDir
from robustopt.runs import config_diff, identity, model_kwargs
from robustopt.train.fit import FitResult, fit

log = logging.getLogger("robustopt.train")


def shared_initial_model(cfg: dict) -> tuple[torch.nn.Module, dict]:
    """The model with the initial weights shared by every run of the same (model config, init_seed).

    The first run writes them to ``paths.init_dir``; every other optimizer's run loads that file,
    so all of them start from bitwise-identical weights.
    """
    name = cfg["model"]["name"]
    kwargs = model_kwargs(cfg)
    init_seed = int(cfg["init_seed"])
    model = init_model(init_seed, name, **kwargs)
    path = Path(cfg["paths"]["init_dir"]) / f"{name}-{model_fingerprint(name, **kwargs)}-init{init_seed}.pt"
    if path.exists():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:
            raise CheckpointError(
                f"the shared initial weights {path} are unreadable or do not fit model '{name}' "
                f"({type(exc).__name__}); delete that file so they are drawn again from init_seed={init_seed}"
            ) from None
    else:
        atomic_torch_save(path, model.state_dict())
    return model, {"path": str(path.resolve()), "sha256": _sha256(path), "init_seed": init_seed}


def check_resumable(run_dir: RunDir, cfg: dict) -> None:
    """Refuse to resume a run directory that holds a run with a different configuration."""
    if not run_dir.exists():
        return
    old = run_dir.config()
    changed = config_diff(identity(old), identity(cfg))
    if changed:
        raise ConfigError(
            f"run directory {run_dir.path} holds a run with a different config ({'; '.join(changed[:4])}); "
            f"delete that directory to start over, or choose another output directory"
        )


@dataclass
class Training:
    """Everything :func:`build_training` makes for a config (nothing is trained yet)."""

    spec: DatasetSpec  # the data set's shape and classes
    batches: TensorBatches  # the seeded training batches (augmentation, data filter)
    test: tuple[torch.Tensor, torch.Tensor]  # the test split (uint8 images, labels) on the device
    model: torch.nn.Module  # the shared initial weights of (model config, init_seed), on the device
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    init_ref: dict  # where the initial weights are: path, sha256, init_seed (recorded in meta.json)
    # the images held out of the training set (dataset.validation_size), on the device; None without
    validation: Optional[tuple[torch.Tensor, torch.Tensor]] = None


def build_training(cfg: dict, device: torch.device) -> Training:
    """Data, model, optimizer and scheduler for ``cfg`` (nothing is trained)."""
    ds = cfg["dataset"]
    spec = get_spec(ds["name"])
    x_train, y_train = load_configured_split(ds, "train")
    x_test, y_test = load_configured_split(ds, "test")
    validation = None
    if ds.get("validation_size"):
        (x_train, y_train), validation = split_validation(
            x_train, y_train, int(ds["validation_size"]), int(cfg["data_seed"])
        )
        validation = (validation[0].to(device), validation[1].to(device))
    batch_transform = None
    filt = cfg.get("data_filter") or {}
    if filt.get("name"):
        batch_transform = partial(FILTERS.get(filt["name"]), keep_fraction=float(filt["keep_fraction"]))
    batches = TensorBatches(
        x_train,
        y_train,
        int(cfg["batch_size"]),
        data_seed=int(cfg["data_seed"]),
        crop_padding=int(ds.get("crop_padding") or 0),
        hflip=bool(ds.get("hflip")),
        random_resized_crop=spec.image_size if ds.get("random_resized_crop") else None,
        batch_transform=batch_transform,
        device=device,
        epoch_size=cfg.get("epoch_size"),
    )
    test = (x_test.to(device), y_test.to(device))
    model, init_ref = shared_initial_model(cfg)
    model.to(device)
    opt_cfg = dict(cfg["optimizer"])
    opt_name = opt_cfg.pop("name")
    optimizer = build_optimizer(opt_name, model.parameters(), **opt_cfg)
    sched_cfg = dict(cfg["scheduler"])
    scheduler = build_scheduler(sched_cfg.pop("name"), optimizer, int(cfg["epochs"]), **sched_cfg)
    return Training(spec, batches, test, model, optimizer, scheduler, init_ref, validation)


def checkpoint_problem(run: RunDir) -> Optional[str]:
    """Why ``run``'s final checkpoint cannot be used (``missing`` / ``unreadable``), or None when it can.

    Decided without loading it: the run records the final checkpoint it wrote (``meta.json``'s
    ``final_checkpoint``: its epoch, size and SHA-256, written right after it), and a file of another size or
    digest is not that one (truncated, replaced, or damaged in place).  Hashing reads the bytes once and builds no
    tensor (a few tens of milliseconds for c2's checkpoint, against a full ``torch.load``).  Only a run made before
    that record is loaded to tell."""
    path = run.checkpoint_path
    if not path.exists():
        return "missing"
    marker = run.meta().get("final_checkpoint")
    if marker:
        if path.stat().st_size != marker.get("bytes"):
            return "unreadable"
        digest = marker.get("sha256")
        return None if digest is None or _sha256(path) == digest else "unreadable"
    try:
        load_checkpoint(path, map_location="cpu")
    except CheckpointError:
        return "unreadable"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(partial(fh.read, 1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mark_final_checkpoint(run: RunDir, epoch: int) -> None:
    """Record the checkpoint ``fit`` left (its epoch, size and digest) for :func:`checkpoint_problem`."""
    path = run.checkpoint_path
    run.update_meta(final_checkpoint={"epoch": int(epoch), "bytes": path.stat().st_size, "sha256": _sha256(path)})


def run_is_finished(run_dir: str | Path, cfg: dict) -> bool:
    """Whether ``run_dir`` already holds the final result of ``cfg`` (completed, or diverged: a re-run would
    diverge again), so that training it again would change nothing.  A completed run whose checkpoint is
    missing or unreadable (:func:`checkpoint_problem`) is not finished: training it again is the way back to its
    weights.  The entry point decides this once per job and passes the answer down (``train_run(finished=...)``)."""
    run = RunDir(run_dir)
    summary = run.summary()
    if run.status == "completed":
        return summary.get("epochs_done") == int(cfg["epochs"]) and checkpoint_problem(run) is None
    return run.status == "diverged" and summary.get("status") == "diverged"


def _retrain_completed(run: RunDir, cfg: dict) -> None:
    """A completed run whose final checkpoint is missing or unreadable is trained again from scratch (from the
    same seeds: the same weights on CPU); an unreadable file is kept beside it as ``last.pt.corrupted``.
    Called for a run that is not finished (:func:`run_is_finished`)."""
    if run.status != "completed" or run.summary().get("epochs_done") != int(cfg["epochs"]):
        return
    problem = checkpoint_problem(run)
    if problem is None:
        return
    if problem == "unreadable":
        run.checkpoint_path.replace(run.checkpoint_path.with_name(run.checkpoint_path.name + ".corrupted"))
    log.warning(
        "run %s is completed but its checkpoint %s is %s; training it again from scratch%s",
        run.path,
        run.checkpoint_path,
        problem,
        " (the unreadable file is kept as last.pt.corrupted)" if problem == "unreadable" else "",
    )
    retrained = list(run.meta().get("retrained") or [])
    retrained.append({"reason": f"checkpoint {problem}", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    run.update_meta(retrained=retrained)


@contextlib.contextmanager
def run_rng(seed: int, device: torch.device):
    """The run's own global torch RNG inside the block: seeded with the run's ``seed`` and restored afterwards,
    so the caller's random state is left as it was.  Only layers that draw from the global RNG while training
    use it (the dropout of ``vgg11`` / ``vgg16``; ``c2`` and the ResNets have none: their results do not
    depend on it).  A resumed run continues the checkpoint's RNG state (:func:`robustopt.train.fit`)."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(int(seed))
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield


def format_epoch(row: dict, epochs: int) -> str:
    """One epoch's metrics as a log line: ``epoch 3/10: train loss 0.4123, train accuracy 0.8512, test loss 0.4391,
    test accuracy 0.8437, lr 0.01, 5042 img/s, 0.20 s`` (4 significant digits; other keys after them)."""
    row = dict(row)
    parts = []
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
        if isinstance(row.get(key), (int, float)):
            parts.append(f"{key.replace('_', ' ')} {row.pop(key):.4f}")
    if isinstance(row.get("lr"), (int, float)):
        parts.append(f"lr {row.pop('lr'):.4g}")
    if isinstance(row.get("images_per_s"), (int, float)):
        parts.append(f"{row.pop('images_per_s'):.0f} img/s")
    if isinstance(row.get("epoch_time_s"), (int, float)):
        parts.append(f"{row.pop('epoch_time_s'):.2f} s")
    epoch = row.pop("epoch", "?")
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()]
    return f"epoch {epoch}/{epochs}: " + ", ".join(parts)


def _slurm_job_id() -> Optional[str]:
    """This process's SLURM job ('ARRAY_TASK' for a job array, as squeue shows it), or None outside SLURM."""
    array_id, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array_id}_{task}" if array_id and task else os.environ.get("SLURM_JOB_ID")


def train_run(
    cfg: dict,
    run_dir: str | Path,
    logger: Optional[NullLogger] = None,
    *,
    mark_finished: bool = True,
    finished: Optional[bool] = None,
) -> FitResult:
    """Train (or resume, or skip when already complete or diverged) the run described by ``cfg`` in ``run_dir``.

    ``cfg`` is trusted: the entry point checked it (:func:`robustopt.cli.validate.check_train_config`).
    ``cfg["plugins"]`` (optional) are imported first (once per process: :func:`robustopt.registry.load_plugins`);
    ``cfg["num_threads"]`` (optional) sets the torch threads for this run only.  ``finished`` is the caller's
    :func:`run_is_finished` when it already decided it (None: decided here).  ``mark_finished=False`` leaves the
    run's status ``running`` after training: the caller marks it (:meth:`RunDir.set_status`) after its own steps,
    so that a run stopped while, e.g., being evaluated is not skipped as finished when the same command runs again.
    """
    load_plugins(cfg.get("plugins"))
    with torch_threads(cfg.get("num_threads")):
        return _train_run(cfg, run_dir, logger, mark_finished, finished)


def _train_run(
    cfg: dict, run_dir: str | Path, logger: Optional[NullLogger], mark_finished: bool, finished: Optional[bool]
) -> FitResult:
    run = RunDir(run_dir)
    logger = logger or NullLogger()
    check_resumable(run, cfg)
    if finished is None:
        finished = run_is_finished(run.path, cfg)
    if finished:
        summary = run.summary()
        log.info("run %s is already %s; nothing to train", run.path, run.status)
        return FitResult(
            status=run.status,
            history=run.metrics(),
            resumed_from_epoch=int(summary.get("epochs_done") or 0),
            diverged_at=summary.get("diverged_at"),
        )
    _retrain_completed(run, cfg)
    device = resolve_device(cfg.get("device", "auto"))
    with run_rng(int(cfg["seed"]), device):
        return _train(cfg, run, logger, device, mark_finished)


def _train(cfg: dict, run: RunDir, logger: NullLogger, device: torch.device, mark_finished: bool) -> FitResult:
    resuming = run.checkpoint_path.exists()
    training = build_training(cfg, device)
    model = training.model
    run.write_config(cfg)
    previous = run.meta()
    this_start = run_meta(
        device, seed=int(cfg["seed"]), init_seed=int(cfg["init_seed"]), data_seed=int(cfg["data_seed"])
    )
    run.update_meta(
        **this_start,
        status="running",
        final_checkpoint=None,  # written again when this start's training is over (_mark_final_checkpoint)
        init=training.init_ref,
        first_start_time=previous.get("first_start_time") or this_start["start_time"],
        starts=int(previous.get("starts", 0)) + 1,
        slurm_job_id=_slurm_job_id(),
        wandb_id=getattr(logger, "run_id", None) or previous.get("wandb_id"),
        num_parameters=sum(p.numel() for p in model.parameters()),
        precision=cfg.get("precision") or "fp32",
    )
    if resuming:
        log.info("resuming %s from checkpoint %s", run.path, run.checkpoint_path)

    def on_epoch_end(history: list) -> None:
        run.write_metrics(history)
        logger.log_metrics(history[-1], step=history[-1]["epoch"])
        log.info("%s", format_epoch(history[-1], int(cfg["epochs"])))

    try:
        result = fit(
            model,
            training.optimizer,
            training.batches,
            training.test,
            epochs=int(cfg["epochs"]),
            scheduler=training.scheduler,
            checkpoint_path=run.checkpoint_path,
            device=device,
            amp=bool(cfg.get("amp")),
            precision=cfg.get("precision") or "fp32",
            channels_last=bool(cfg.get("channels_last")),
            grad_clip=cfg.get("grad_clip"),
            eval_batch_size=int(cfg.get("eval_batch_size", 1024)),
            progress=bool(cfg.get("progress", True)),
            on_epoch_end=on_epoch_end,
            snapshot_epochs=cfg.get("snapshot_epochs"),
            snapshot_dir=run.checkpoint_dir,
            validation=training.validation,
        )
    except KeyboardInterrupt:  # Ctrl-C is not a failure: the same command resumes from the last checkpoint
        run.set_status("interrupted")
        raise
    except BaseException as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if result.status == "completed":
        _mark_final_checkpoint(run, len(result.history))
    if result.resumed_from_epoch:
        log.info("resumed at epoch %d of %d", result.resumed_from_epoch, int(cfg["epochs"]))
    final = result.final
    summary = {
        "status": result.status,
        "epochs_done": len(result.history),
        "resumed_from_epoch": result.resumed_from_epoch,
        "final": final,
        "test_accuracy": final.get("test_accuracy"),
        "test_loss": final.get("test_loss"),
    }
    if result.status == "diverged":
        summary["diverged_at"] = result.diverged_at
        log.warning("run diverged (non-finite loss) at %s; stopped cleanly", result.diverged_at)
    run.update_summary(summary)
    logger.log_summary({k: v for k, v in summary.items() if not isinstance(v, dict)})
    if mark_finished or result.status != "completed":
        run.set_status(result.status)
    return result
