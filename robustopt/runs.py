"""What a run's config means, shared by training and evaluation: its identity and its model.

* :func:`identity` is the part of a config that changes results (where the data live, the device, logging
  and evaluation options do not); :func:`config_diff` lists the differences that matter between two configs,
  so a run directory is never resumed with another run's config.  An option added to robustopt after a run
  was started is no difference as long as it is off (null, false, 0 or empty) -- that is how new options are
  introduced, so old run directories stay resumable.
* :func:`comparison_key` groups the runs that differ only in their optimizer (same model, initial weights,
  data order, schedule, epochs ...): the pairs the paper compares.
* :func:`build_run_model` builds the model a config describes; :func:`load_run_model` loads a trained run's
  weights, at the end of training or at a kept epoch (``snapshot_epochs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch

from robustopt.checkpoint import load_checkpoint, load_weights, save_weights
from robustopt.data import get_spec
from robustopt.errors import CheckpointError
from robustopt.meta import rerun_command
from robustopt.models import build_model
from robustopt.registry import load_plugins
from robustopt.rundir import RunDir

#: Top-level keys that may change between a run and its resumption (they do not change the results).
NON_IDENTITY_KEYS = frozenset(
    {
        "device",
        "progress",
        "logger",
        "paths",
        "eval_batch_size",
        "evaluations",
        "eval",
        "amp",
        "channels_last",
        "num_threads",
        "snapshot_epochs",
    }
)
#: Keys of the dataset group that say where the data live, not what they are.
NON_IDENTITY_DATASET_KEYS = frozenset({"root", "download"})
#: Command-line keys that never name a run's folder (:func:`robustopt.cli.app.run_dirname`): the keys above, and
#: those that say how a job is launched or which code it imports, not what it computes.
RUN_DIRNAME_EXCLUDED = (
    *sorted(NON_IDENTITY_KEYS),
    *(f"dataset.{k}" for k in sorted(NON_IDENTITY_DATASET_KEYS)),
    "launcher",
    "hydra",
    "attack",
    "plugins",
)
#: Keys that tell the optimizers of one comparison apart.
OPTIMIZER_KEYS = frozenset({"optimizer"})


def identity(cfg: dict) -> dict:
    """The part of ``cfg`` that determines a run's results."""
    out = {k: v for k, v in cfg.items() if k not in NON_IDENTITY_KEYS}
    if out.get("precision") == "fp32":  # the precision of every run made before the key existed
        out.pop("precision")
    if isinstance(out.get("dataset"), dict):
        out["dataset"] = {k: v for k, v in out["dataset"].items() if k not in NON_IDENTITY_DATASET_KEYS}
    return out


def _is_off(value: Any) -> bool:
    """null, false, 0 or empty: how a newly added option is left off."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, (str, list, tuple, dict)) and len(value) == 0


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``key (old -> new)`` for every value that differs; a key present on one side only counts when it is
    not off (null, false, 0, empty)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            if k not in old and _is_off(new[k]) or k not in new and _is_off(old[k]):
                continue
            out += config_diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix[:-1]} ({old!r} -> {new!r})"]


def comparison_key(cfg: dict) -> str:
    """A string equal for runs that differ only in their optimizer (and its learning rate)."""
    ident = {k: v for k, v in identity(cfg).items() if k not in OPTIMIZER_KEYS}
    return json.dumps(ident, sort_keys=True, default=str)


def model_kwargs(cfg: dict) -> dict:
    """``build_model`` keyword arguments (minus the name) for this config's data set and model."""
    spec = get_spec(cfg["dataset"]["name"])
    ds = cfg["dataset"]
    normalize = None
    if ds.get("normalize"):
        mean = ds.get("mean") or list(spec.mean)
        std = ds.get("std") or list(spec.std)
        normalize = (list(mean), list(std))
    return dict(
        in_channels=spec.in_channels,
        num_classes=spec.num_classes,
        image_size=spec.image_size,
        normalize=normalize,
        **(cfg["model"].get("options") or {}),
    )


def build_run_model(cfg: dict) -> torch.nn.Module:
    """The (untrained) model of a run's config."""
    return build_model(cfg["model"]["name"], **model_kwargs(cfg))


def snapshot_path(checkpoint_dir: str | Path, epoch: int) -> Path:
    """Where training keeps the weights of ``epoch`` (counted from 1) when ``snapshot_epochs`` asks for it."""
    return Path(checkpoint_dir) / f"epoch-{int(epoch):04d}.pt"


def load_run_model(run, device: torch.device | str = "cpu", epoch: Optional[int] = None) -> torch.nn.Module:
    """The model of a trained run (a :class:`robustopt.rundir.RunDir`), in eval mode on ``device``: its final
    weights, or those of ``epoch`` (kept by ``snapshot_epochs``; the final epoch may also come from the last
    checkpoint).

    The final weights come from the training checkpoint or, in a shipped run that has none
    (``results/<name>/runs/<run>/``), from its ``model.safetensors``."""
    cfg = run.config()
    if not cfg:
        raise CheckpointError(
            f"{run.path} is not a run directory (no config.yaml); point run_dir at a folder written by "
            "experiments/train.py"
        )
    model = build_run_model(cfg)
    path = run.checkpoint_path
    if epoch is not None:
        snap = snapshot_path(run.checkpoint_dir, epoch)
        if snap.exists():
            path = snap
        else:
            done = len(run.metrics())
            if int(epoch) != done:
                raise CheckpointError(
                    f"{run.path} kept no weights of epoch {epoch} ({snap.name} is missing); train it with "
                    f"snapshot_epochs=all (or a list holding {epoch}) to evaluate it at that epoch"
                )
    if path == run.checkpoint_path and not path.exists() and run.weights_path.exists():
        state, path = load_weights(run.weights_path), run.weights_path
    else:
        state = _checkpoint_weights(run, path, epoch)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights {path} do not fit the run's model ({str(exc).splitlines()[0]}); they belong to another run"
        ) from None
    return model.to(device).eval()


def _checkpoint_weights(run, path: Path, epoch: Optional[int]) -> dict:
    try:
        return load_checkpoint(path, map_location="cpu")["model"]
    except CheckpointError as exc:
        if epoch is not None and path != run.checkpoint_path:
            raise
        state = "missing" if not path.exists() else "corrupted"
        raise CheckpointError(
            f"the final checkpoint {path} of run {run.path} is {state}; re-run the command that trained it "
            f"(`{rerun_command(run.meta())}`): it trains a completed run whose checkpoint is missing or unreadable "
            f"again from scratch{' (keeping the bad file as last.pt.corrupted)' if state == 'corrupted' else ''}; "
            f"then evaluate it again ({str(exc).split(';')[0]})"
        ) from None


def export_run_weights(run) -> Path:
    """Write a finished run's final weights (from its training checkpoint) as ``model.safetensors`` in the run
    folder, with the epoch, the run's seeds and the checkpoint's provenance in the file's header."""
    ckpt = load_checkpoint(run.checkpoint_path, map_location="cpu")
    meta = run.meta()
    header = {
        "epoch": ckpt.get("epoch"),
        "seed": meta.get("seed"),
        "init_seed": meta.get("init_seed"),
        "data_seed": meta.get("data_seed"),
        "precision": meta.get("precision", "fp32"),
        "git_commit": (meta.get("git") or {}).get("commit"),
        "format": "robustopt run weights v1 (state_dict of build_run_model(config.yaml))",
    }
    return save_weights(run.weights_path, ckpt["model"], header)


def load_run(path: str | Path, device: torch.device | str = "cpu", epoch: Optional[int] = None) -> torch.nn.Module:
    """The trained model of the run folder ``path`` (one written by ``experiments/train.py``, or a shipped one
    such as ``results/fashion_mnist/runs/<run>/`` that carries only its config and ``model.safetensors``), in
    eval mode on ``device``, ready for :func:`robustopt.evaluate`::

        model = robustopt.load_run("results/fashion_mnist/runs/<run>")
        robustopt.evaluate(model, dataset="fashion_mnist", evaluations=["clean"])
    """
    run = RunDir(path)
    if not run.config_path.exists():
        raise CheckpointError(
            f"{path} is not a run folder (no config.yaml); pass a folder written by experiments/train.py "
            f"or a shipped run under results/<name>/runs/"
        )
    load_plugins(run.config().get("plugins"))
    return load_run_model(run, device, epoch)
