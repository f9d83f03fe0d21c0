"""A run directory: the plain-file record of one training run (the base layer: training, evaluation,
the theory experiment and the reporting all read and write runs through :class:`RunDir`).

Layout (every file written atomically)::

    config.yaml        the fully resolved config
    meta.json          seed, git commit, package versions, device, start/end time, status (:mod:`robustopt.meta`)
    metrics.jsonl      one JSON line per epoch
    summary.json       final metrics + every evaluation's results (under "eval")
    checkpoints/last.pt  the training checkpoint (resume)
    model.safetensors  the final weights of a shipped run (results/<name>/runs/<run>/), in place of a checkpoint
    .lock              while a process trains the run: its pid (:class:`RunLock`; removed when it ends)

:func:`find_runs` lists the run directories under a folder (one run, or a sweep of runs).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterable

import yaml

from robustopt.errors import CheckpointError
from robustopt.io import atomic_write_json, atomic_write_text, read_json, to_jsonable

STATUSES = ("running", "completed", "diverged", "failed", "interrupted")


class RunDir:
    """Read and write the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- paths ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def weights_path(self) -> Path:
        """The final weights as ``safetensors``: what a shipped run (``results/<name>/runs/<run>/``) carries
        instead of a training checkpoint."""
        return self.path / "model.safetensors"

    def exists(self) -> bool:
        return self.config_path.exists()

    # -- config --------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        atomic_write_text(self.config_path, yaml.safe_dump(to_jsonable(config), sort_keys=False))

    def config(self) -> dict:
        if not self.config_path.exists():
            return {}
        with open(self.config_path) as fh:
            return yaml.safe_load(fh) or {}

    # -- meta ----------------------------------------------------------------------------
    def meta(self) -> dict:
        return read_json(self.meta_path, default={}) or {}

    def update_meta(self, **fields: Any) -> dict:
        """Update ``meta.json`` with ``fields``.  A run that starts again or finishes (status ``running``,
        ``completed`` or ``diverged``) no longer carries the ``error`` of an earlier failed start: it moves to
        ``past_errors`` (a list, oldest first, with the time it was cleared)."""
        meta = self.meta()
        if fields.get("status") in ("running", "completed", "diverged") and "error" not in fields and "error" in meta:
            error = meta.pop("error")
            if error:
                meta.setdefault("past_errors", []).append({"error": error, "cleared": _now()})
        meta.update(fields)
        atomic_write_json(self.meta_path, meta)
        return meta

    def set_status(self, status: str, **fields: Any) -> dict:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        extra = {"end_time": _now()} if status != "running" else {}
        return self.update_meta(status=status, **extra, **fields)

    @property
    def status(self) -> str | None:
        return self.meta().get("status")

    # -- metrics -------------------------------------------------------------------------
    def write_metrics(self, rows: Iterable[dict]) -> None:
        """Rewrite metrics.jsonl with ``rows`` (the whole history, so a resumed run never duplicates)."""
        text = "".join(json.dumps(to_jsonable(r), sort_keys=True) + "\n" for r in rows)
        atomic_write_text(self.metrics_path, text)

    def metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path) as fh:
            return [json.loads(line) for line in fh if line.strip()]

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> dict:
        return read_json(self.summary_path, default={}) or {}

    def update_summary(self, values: dict) -> dict:
        summary = self.summary()
        summary.update(to_jsonable(values))
        atomic_write_json(self.summary_path, summary)
        return summary

    def stored_eval(self, name: str, protocol: str = "final") -> dict | None:
        """The result of evaluation ``name`` stored under ``protocol`` (None when there is none)."""
        summary = self.summary()
        node = summary if protocol == "final" else summary.get(protocol) or {}
        return (node.get("eval") or {}).get(name)

    def write_eval(self, name: str, result: dict, protocol: str = "final", replaced: dict | None = None) -> dict:
        """Store an evaluation's result under ``summary["eval"][name]`` (the final weights) or, for
        ``protocol="matched"``, under ``summary["matched"]["eval"][name]``.  ``replaced``: the stored result this
        one replaces, appended to ``eval_replaced[name]`` next to ``eval`` (so nothing is lost unasked)."""
        summary = self.summary()
        if protocol == "final":
            node = summary
        elif protocol == "matched":
            node = summary.setdefault("matched", {})
        else:
            raise ValueError(f"protocol must be 'final' or 'matched', got {protocol!r}")
        node.setdefault("eval", {})[name] = to_jsonable(result)
        if replaced is not None:
            node.setdefault("eval_replaced", {}).setdefault(name, []).append(to_jsonable(replaced))
        atomic_write_json(self.summary_path, summary)
        return summary

    def set_matched(self, info: dict) -> dict:
        """Record where the matched-accuracy protocol evaluates this run (``summary["matched"]``); results
        stored for another epoch are dropped, since they no longer describe the matched model."""
        summary = self.summary()
        old = summary.get("matched") or {}
        keep = old.get("eval", {}) if old.get("epoch") == info.get("epoch") else {}
        summary["matched"] = {**to_jsonable(info), "eval": keep}
        atomic_write_json(self.summary_path, summary)
        return summary

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


class RunLock:
    """An exclusive lock on a run directory, held while one process trains it (``with RunLock(path): ...``).

    The lock is an ``flock`` on ``<run>/.lock``, which holds the holder's pid and host.  The kernel releases an
    ``flock`` when its process ends, however it ends, so a lock left by a killed process never blocks: the next
    command takes it over.  A second process that finds the lock held raises :class:`CheckpointError` naming the
    holder.  ``flock`` on NFS is emulated with POSIX locks (Linux >= 2.6.12), so it also holds between nodes.
    """

    FILENAME = ".lock"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path) / self.FILENAME
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds (or last held) the lock: ``process 1234 on host``, or ``another process``."""
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if not info.get("pid"):
            return "another process"
        host = info.get("host")
        return f"process {info['pid']}" + (f" on {host}" if host and host != socket.gethostname() else "")

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CheckpointError(
                    f"run directory {self.path.parent} is in use by {self.holder()}, which is training it; wait for that "
                    f"command to end (or stop it), then run this one again to resume or skip the run"
                ) from None
            try:  # the file we locked may have been removed by a holder that just released it: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def find_runs(root: str | Path) -> list[RunDir]:
    """Every run directory (a folder with ``config.yaml`` and ``meta.json``) under ``root``, sorted."""
    root = Path(root)
    found = {p.parent for p in root.rglob("meta.json") if (p.parent / "config.yaml").exists()}
    return [RunDir(p) for p in sorted(found)]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
