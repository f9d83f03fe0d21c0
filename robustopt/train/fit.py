"""The training loop: epochs over on-device batches, per-epoch test evaluation, atomic
checkpoints every epoch, exact resume, and clean stops on divergence."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from robustopt.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from robustopt.data.batches import TensorBatches
from robustopt.errors import ConfigError
from robustopt.io import atomic_torch_save
from robustopt.metrics import accuracy_and_loss
from robustopt.optim import needs_closure
from robustopt.runs import snapshot_path


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    status: str  # "completed" | "diverged"
    history: list = field(default_factory=list)  # one metrics dict per finished epoch
    resumed_from_epoch: int = 0  # epochs already done when this call started
    diverged_at: Optional[dict] = None

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


@dataclass
class FitOptions:
    """How :func:`fit` trains: every keyword of ``fit`` but ``scheduler`` (``fit(..., options=FitOptions(...))``
    or the same names as keywords)."""

    epochs: int
    checkpoint_path: str | Path | None = None  # resumed from when it exists; rewritten atomically every epoch
    device: torch.device | str = "cpu"
    amp: bool = False  # CUDA's fp16 autocast with a gradient scaler (ignored off CUDA)
    precision: str = "fp32"  # or "bf16": the training steps' forward and backward passes under bf16 autocast
    channels_last: bool = False
    grad_clip: Optional[float] = None
    eval_batch_size: int = 1024
    progress: bool = True
    on_epoch_end: Optional[Callable[[list], None]] = None  # called with the whole history after each checkpoint
    on_step: Optional[Callable[[int], None]] = None  # called with the number of steps taken since the run began
    divergence_check_every: int = 25
    snapshot_epochs: Union[str, Iterable[int], None] = None  # "all" or epoch numbers counted from 1
    snapshot_dir: str | Path | None = None
    validation: Optional[tuple[torch.Tensor, torch.Tensor]] = None  # images, labels held out of the training set


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: TensorBatches,
    test: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
    *,
    scheduler=None,
    options: Optional[FitOptions] = None,
    **kwargs,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs with cross-entropy (the options: :class:`FitOptions`, given as
    ``options=`` or as keywords, e.g. ``fit(model, opt, batches, (xt, yt), epochs=1)``).

    If ``checkpoint_path`` exists the run resumes from it (model, optimizer, scheduler, AMP scaler,
    RNG state, history); after every epoch it is rewritten atomically.  On CPU a run killed at any
    point and resumed ends with weights bitwise identical to an uninterrupted run.  A non-finite
    loss stops the run with ``status="diverged"`` without checkpointing the broken weights.
    ``on_epoch_end(history)`` is called after each epoch's checkpoint with the whole history, and
    ``on_step(step)`` after every optimizer step with the number of steps taken since the run began
    (counted over the whole run, also across a resume).

    ``snapshot_epochs`` (``"all"`` or epoch numbers counted from 1) keeps the model weights of those
    epochs as ``snapshot_dir/epoch-NNNN.pt`` (weights only, written atomically), so that a model can
    later be evaluated at the epoch where it first reaches a target accuracy (the matched-accuracy
    protocol, :mod:`robustopt.evaluation.matched`).

    ``validation`` (images, labels held out of the training set) adds ``validation_loss`` and
    ``validation_accuracy`` to each epoch's metrics: what hyper-parameters are chosen on, never the test split.

    ``precision`` is ``"fp32"`` or ``"bf16"``: bf16 runs each training step's forward and backward pass under
    ``torch.autocast(dtype=torch.bfloat16)`` (on the CPU too, where AVX-512 BF16 makes the paper's ``c2`` about
    twice as fast); the weights, the gradients' accumulation, the optimizer state and the per-epoch test and
    validation passes stay fp32.  ``amp`` is CUDA's fp16 autocast with a gradient scaler; the two exclude each other.
    """
    options = FitOptions(**kwargs) if options is None else replace(options, **kwargs)
    loop = _Loop.start(model, optimizer, scheduler, options, steps_per_epoch=len(train))
    result = _resume(loop)
    for epoch in range(result.resumed_from_epoch, options.epochs):
        metrics = _train_epoch(loop, train, epoch, result)
        if metrics is None or not _end_epoch(loop, test, epoch, metrics, result):
            break
    return result


@dataclass
class _Loop:
    """One :func:`fit` call's training state: what it trains, how, and where it stands."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    options: FitOptions
    device: torch.device
    use_amp: bool  # CUDA's fp16 autocast and gradient scaler
    autocast_dtype: Optional[torch.dtype]  # bf16, or None
    closure_step: bool  # the optimizer needs a closure (SAM)
    scaler: torch.amp.GradScaler
    keep_snapshot: Optional[Callable[[int], bool]]
    steps_per_epoch: int
    history: list = field(default_factory=list)

    @classmethod
    def start(
        cls, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, options: FitOptions, steps_per_epoch: int
    ) -> "_Loop":
        """Check the options against each other and the optimizer, and put the model on its device."""
        keep_snapshot = _snapshot_rule(options.snapshot_epochs)
        if keep_snapshot is not None and options.snapshot_dir is None:
            raise ValueError("snapshot_epochs needs a snapshot_dir")
        device = torch.device(options.device)
        use_amp = bool(options.amp) and device.type == "cuda"
        precision = options.precision
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "bf16" and use_amp:
            raise ConfigError(
                "precision=bf16 and amp=true both set the training precision; pick one (amp is CUDA's fp16)"
            )
        closure_step = needs_closure(optimizer)
        if closure_step and use_amp:
            raise ConfigError(
                f"{type(optimizer).__name__} needs a closure (a second forward/backward pass per step), which torch's "
                f"GradScaler does not support; train it with amp=false"
            )
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        model.to(device)
        if (
            options.channels_last
        ):  # NHWC convolutions: faster on CUDA and, for the paper's c2, on the CPU too (scripts/bench/)
            model.to(memory_format=torch.channels_last)
        return cls(
            model,
            optimizer,
            scheduler,
            options,
            device,
            use_amp,
            torch.bfloat16 if precision == "bf16" else None,
            closure_step,
            scaler,
            keep_snapshot,
            steps_per_epoch,
        )


def _resume(loop: _Loop) -> FitResult:
    """Load the checkpoint, when there is one, into the model, optimizer, scheduler, scaler, RNG and history;
    the result so far (the epochs already done)."""
    path = loop.options.checkpoint_path
    start_epoch = 0
    if path is not None and Path(path).exists():
        ckpt = load_checkpoint(path, map_location=loop.device)
        loop.model.load_state_dict(ckpt["model"])
        loop.optimizer.load_state_dict(ckpt["optimizer"])
        if loop.scheduler is not None and ckpt.get("scheduler") is not None:
            loop.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            loop.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        loop.history = list(ckpt.get("history", []))
        start_epoch = int(ckpt["epoch"])
    return FitResult(status="completed", history=loop.history, resumed_from_epoch=start_epoch)


def _train_epoch(loop: _Loop, train: TensorBatches, epoch: int, result: FitResult) -> Optional[dict]:
    """One epoch's optimizer steps; its training metrics, or None when the loss became non-finite (``result``
    then says where it diverged)."""
    model, optimizer, scaler, opts = loop.model, loop.optimizer, loop.scaler, loop.options
    steps_per_epoch = loop.steps_per_epoch
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=loop.device)
    correct = torch.zeros((), dtype=torch.long, device=loop.device)
    seen = 0
    t0 = time.perf_counter()
    bar = _progress(steps_per_epoch, f"epoch {epoch + 1}/{opts.epochs}", opts.progress)
    for step, (xb, yb) in enumerate(train.epoch(epoch)):
        if opts.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        if loop.closure_step:
            logits, loss = _closure_step(model, optimizer, xb, yb, opts.grad_clip, loop.autocast_dtype)
        else:
            with _autocast(loop.device, loop.use_amp, loop.autocast_dtype):
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if opts.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), float(opts.grad_clip))
            scaler.step(optimizer)
            scaler.update()
        n = yb.shape[0]
        loss_sum += loss.detach().double() * n
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += n
        if bar is not None:
            bar.update(1)
        if (step + 1) % opts.divergence_check_every == 0 or step + 1 == steps_per_epoch:
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                result.status = "diverged"
                result.diverged_at = {"epoch": epoch + 1, "step": step + 1, "loss": str(mean_loss)}
                break
            if bar is not None:
                elapsed = time.perf_counter() - t0
                bar.set_postfix(
                    loss=f"{mean_loss:.4f}",
                    acc=f"{correct.item() / seen:.4f}",
                    img_s=f"{seen / max(elapsed, 1e-9):.0f}",
                )
        if opts.on_step is not None:
            opts.on_step(epoch * steps_per_epoch + step + 1)
    if bar is not None:
        bar.close()
    if result.status == "diverged":
        return None
    train_time = time.perf_counter() - t0
    return {
        "epoch": epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": loss_sum.item() / max(seen, 1),
        "train_accuracy": correct.item() / max(seen, 1),
        "images_per_s": seen / max(train_time, 1e-9),
        "epoch_time_s": train_time,
    }


def _end_epoch(
    loop: _Loop, test: Optional[tuple[torch.Tensor, torch.Tensor]], epoch: int, metrics: dict, result: FitResult
) -> bool:
    """After an epoch's steps: the schedule's step, the test and validation passes, the checkpoint, the snapshot and
    ``on_epoch_end``.  False when the test loss is non-finite (``result`` says so; nothing is checkpointed)."""
    model, opts = loop.model, loop.options
    if loop.scheduler is not None:
        loop.scheduler.step()
    evaluate = partial(
        accuracy_and_loss,
        model,
        batch_size=opts.eval_batch_size,
        device=loop.device,
        amp=loop.use_amp,
        channels_last=opts.channels_last,
    )
    if test is not None:
        ev = evaluate(test[0], test[1])
        metrics.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
        if not math.isfinite(ev["loss"]):
            result.status = "diverged"
            result.diverged_at = {
                "epoch": epoch + 1,
                "step": loop.steps_per_epoch,
                "loss": str(ev["loss"]),
                "where": "test",
            }
            return False
    if opts.validation is not None:
        ev = evaluate(opts.validation[0], opts.validation[1])
        metrics.update(validation_loss=ev["loss"], validation_accuracy=ev["accuracy"])
    loop.history.append(metrics)
    if opts.checkpoint_path is not None:
        save_checkpoint(
            opts.checkpoint_path,
            {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": loop.optimizer.state_dict(),
                "scheduler": loop.scheduler.state_dict() if loop.scheduler is not None else None,
                "scaler": loop.scaler.state_dict() if loop.use_amp else None,
                "rng": rng_state(),
                "history": loop.history,
            },
        )
    if loop.keep_snapshot is not None and loop.keep_snapshot(epoch + 1):
        atomic_torch_save(
            snapshot_path(opts.snapshot_dir, epoch + 1), {"epoch": epoch + 1, "model": model.state_dict()}
        )
    if opts.on_epoch_end is not None:
        opts.on_epoch_end(loop.history)
    return True


#: Training precisions of :func:`fit`.
PRECISIONS = ("fp32", "bf16")


def _autocast(device: torch.device, fp16_amp: bool, dtype: Optional[torch.dtype]):
    """The autocast context of one training step: bf16 (``dtype``), CUDA's fp16 (``fp16_amp``) or none."""
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return torch.autocast(device.type, enabled=fp16_amp)


def _closure_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    grad_clip: Optional[float],
    autocast_dtype: Optional[torch.dtype] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of an optimizer that needs a closure (SAM: :func:`robustopt.optim.needs_closure`): the gradient at
    the current weights, then ``optimizer.step(closure)`` where the closure recomputes loss and gradient (at SAM's
    perturbed weights).  ``grad_clip`` clips each of the two gradients (SAM's perturbation uses only the first one's
    direction, so clipping changes the update through the second one).  Returns the first pass's logits and loss:
    the training metrics are those of the weights before the step, as on the plain path."""

    def forward_backward() -> tuple[torch.Tensor, torch.Tensor]:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(xb.device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            out = model(xb)
            value = F.cross_entropy(out, yb)
        value.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
        return out, value

    logits, loss = forward_backward()
    optimizer.step(lambda: forward_backward()[1])
    return logits, loss


def _snapshot_rule(snapshot_epochs) -> Optional[Callable[[int], bool]]:
    if snapshot_epochs is None or snapshot_epochs == [] or snapshot_epochs == ():
        return None
    if isinstance(snapshot_epochs, str):
        if snapshot_epochs != "all":
            raise ValueError(f"snapshot_epochs must be 'all', a list of epochs or null, got {snapshot_epochs!r}")
        return lambda epoch: True
    wanted = {int(e) for e in snapshot_epochs}
    if any(e < 1 for e in wanted):
        raise ValueError(f"snapshot_epochs are counted from 1, got {sorted(wanted)}")
    return wanted.__contains__


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=0.5)
