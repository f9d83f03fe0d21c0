"""Atomic, weights-only training checkpoints, and the safetensors weights of finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robustopt.errors import CheckpointError
from robustopt.io import atomic_torch_save, atomic_write_bytes


def rng_state() -> dict:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (tensors and plain Python containers only) atomically."""
    return atomic_torch_save(path, payload)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a damaged file raises CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; train the run first (experiments/train.py)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated, garbage, or pickled objects that are not plain data
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not a robustopt checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); delete it to restart that run from scratch, or restore it from a "
            "backup"
        ) from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"checkpoint {path} has no model weights; delete it to restart that run from scratch")
    return payload


def save_weights(path: str | Path, state_dict: dict, metadata: dict | None = None) -> Path:
    """Write a model's ``state_dict`` as ``safetensors`` (no pickle: safe to ship and to load from anywhere),
    atomically; ``metadata`` (str -> str) is stored in the file's header.  Tensors are saved contiguous, in
    NCHW order whatever memory format the model was trained in."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    return atomic_write_bytes(path, save(tensors, metadata={str(k): str(v) for k, v in (metadata or {}).items()}))


def load_weights(path: str | Path) -> dict:
    """The ``state_dict`` saved by :func:`save_weights`; a missing or damaged file raises CheckpointError."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no weights at {path}; train the run first (experiments/train.py)")
    try:
        return load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(
            f"weights file {path} is corrupted or not a safetensors file ({str(exc).splitlines()[0][:200]}); "
            f"restore it (git checkout -- {path}) or train the run again"
        ) from None
