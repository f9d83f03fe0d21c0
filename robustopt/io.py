"""Atomic file writes: write to a temporary file in the same folder, fsync, rename.

A reader (or a run killed half-way) never sees a half-written file.  The file gets the mode any other new file
would get (``0666`` less the process's umask, e.g. ``0644``), not the ``0600`` of the temporary file, so that a
group sharing run and data folders can read it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """This process's umask (read by setting it and setting it back, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], binary: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())  # mkstemp makes 0600: the mode a plain open() gives
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def check_writable(folder: str | os.PathLike) -> None:
    """Raise ``OSError`` unless a file can be created in ``folder`` (or, when it does not exist yet, ``folder`` can be
    created in its nearest existing parent): the check a job makes before any work.  Creates nothing that stays."""
    folder = Path(folder).expanduser().absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(20, f"{existing} is not a folder", str(existing))
    if existing == folder:
        fd, tmp = tempfile.mkstemp(prefix=".robustopt-write-check.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    else:
        os.rmdir(tempfile.mkdtemp(prefix=".robustopt-write-check.", dir=existing))


def atomic_write_text(path, text: str) -> Path:
    return _atomic_write(path, lambda fh: fh.write(text), binary=False)


def atomic_write_bytes(path, data: bytes) -> Path:
    return _atomic_write(path, lambda fh: fh.write(data), binary=True)


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, numpy values, paths and tuples into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON
        return None
    return obj


def atomic_write_json(path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


def atomic_torch_save(path, obj: Any) -> Path:
    return _atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


def read_json(path, default: Any = None) -> Any:
    path = Path(path)
    if not path.exists():
        return default
    with open(path) as fh:
        return json.load(fh)
