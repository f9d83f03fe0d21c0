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

:func:`find_runs` lists the run directories under a folder (one run, or a sweep of runs);
:func:`scan_run_dir` reads what ``experiments/evaluate.py run_dir=...`` may be given (:data:`RUN_DIR_KINDS`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from robustopt.errors import CheckpointError, ConfigError
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

    def __init__(self, path: str | Path, doing: str = "training") -> None:
        self.path = Path(path) / self.FILENAME
        self.doing = doing  # what the holder does, in the refusal: training | evaluating
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
        where = f" on {host}" if host and host != socket.gethostname() else ""
        return f"process {info['pid']}{where}, which is {info.get('doing') or 'training'} it"

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CheckpointError(
                    f"run directory {self.path.parent} is in use by {self.holder()}; wait for that "
                    f"command to end (or stop it), then run this one again"
                ) from None
            try:  # the file we locked may have been removed by a holder that just released it: lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "doing": self.doing, "since": _now()}
            ).encode(),
        )
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


#: What ``run_dir`` of ``experiments/evaluate.py`` may be (README, "Evaluating runs").
RUN_DIR_KINDS = (
    "one training run's folder (config.yaml + meta.json of experiments/train.py)",
    "a sweep folder: its subfolders are training runs (outputs/multiruns/<name>, results/<name>/runs)",
    "a folder of sweep folders: training runs two levels down (outputs/runs, outputs/multiruns, results/<name>)",
)
_SCAN_DEPTH = 2


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a run's record (``config.yaml`` and ``meta.json``), of any kind."""
    return (path / "config.yaml").is_file() and (path / "meta.json").is_file()


def not_a_training_run(run: RunDir) -> Optional[str]:
    """Why the run folder ``run`` is not a training run of ``experiments/train.py`` (None when it is one): a
    linear-theory run, a config without a model, data set or optimizer, an unreadable file."""
    try:
        cfg = run.config()
        meta = run.meta()
    except Exception as exc:  # noqa: BLE001 - any unreadable record is reported in one line, not raised
        return f"its config.yaml or meta.json is unreadable ({type(exc).__name__})"
    if not isinstance(cfg, dict) or not isinstance(meta, dict):
        return "its config.yaml or meta.json is not a mapping"
    missing = [k for k in ("model", "dataset") if not isinstance(cfg.get(k), dict) or not cfg[k].get("name")]
    if missing:
        kind = " (a linear-theory run)" if "w0_tilde" in cfg or cfg.get("experiment_name") == "linear_theory" else ""
        return f"not a training run{kind}: its config has no {' or '.join(missing)}"
    return None


@dataclass
class RunScan:
    """What :func:`scan_run_dir` found: the training runs, the sweep folders holding them, and the folders skipped."""

    root: Path
    runs: list[RunDir] = field(default_factory=list)
    sweeps: dict[str, int] = field(default_factory=dict)  # folder -> training runs directly in it
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (folder, why it is not evaluated)

    def describe(self) -> str:
        """One line: ``found 4 training runs: 3 in outputs/multiruns/quick, 1 in ...; 2 other folders skipped``."""
        where = ", ".join(f"{n} in {folder}" for folder, n in self.sweeps.items())
        skipped = (
            f"; {len(self.skipped)} other folder{'s' if len(self.skipped) != 1 else ''} skipped" if self.skipped else ""
        )
        return (
            f"found {len(self.runs)} training run{'s' if len(self.runs) != 1 else ''} under {self.root}: "
            f"{where}{skipped}"
        )


def _subfolders(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def scan_run_dir(root: str | Path) -> RunScan:
    """The training runs ``run_dir=root`` names (:data:`RUN_DIR_KINDS`): ``root`` itself when it is a training
    run; else the training runs one or two levels below it.  Hidden folders (``.hydra``, ``.submitit``) are not
    looked at; other folders that are not training runs (a linear-theory run, ``figures/``) are listed in
    ``skipped`` with the reason.  Raises :class:`ConfigError` (one sentence) when ``root`` is none of these."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(
            f"run_dir {root} does not exist (or is not a folder); pass a run directory (or a sweep folder) written "
            "by experiments/train.py"
        )
    scan = RunScan(root)
    if is_run_folder(root):
        why = not_a_training_run(RunDir(root))
        if why:
            raise ConfigError(
                f"run_dir {root} is a run folder but {why}; pass a training run's folder or a sweep folder of them"
            )
        scan.runs.append(RunDir(root))
        scan.sweeps[str(root.parent)] = 1
        return scan

    def visit(folder: Path, depth: int) -> RunScan:
        found = RunScan(folder)
        for child in _subfolders(folder):
            if is_run_folder(child):
                why = not_a_training_run(RunDir(child))
                if why:
                    found.skipped.append((child, why))
                else:
                    found.runs.append(RunDir(child))
                    found.sweeps[str(folder)] = found.sweeps.get(str(folder), 0) + 1
            elif depth < _SCAN_DEPTH:
                inner = visit(child, depth + 1)
                if inner.runs:
                    found.runs += inner.runs
                    found.sweeps.update(inner.sweeps)
                    found.skipped += inner.skipped
                else:
                    found.skipped.append((child, "holds no training run"))
            else:
                found.skipped.append((child, "not a run folder (no config.yaml and meta.json)"))
        return found

    inner = visit(root, 1)
    if not inner.runs:
        deeper = _sweep_folders_below(root)
        fix = (
            f"pass one of the sweep folders below it: {', '.join(map(str, deeper))}"
            if deeper
            else "train first with experiments/train.py"
        )
        raise ConfigError(
            f"run_dir {root}: no run directories of training runs in it or one or two levels down (run_dir must be a "
            f"training run's folder, a sweep folder of runs, or a folder of sweep folders); {fix}"
        )
    scan.runs, scan.sweeps, scan.skipped = inner.runs, inner.sweeps, inner.skipped
    return scan


def _sweep_folders_below(root: Path, max_depth: int = 5, limit: int = 5, budget: int = 5000) -> list[Path]:
    """Up to ``limit`` folders below ``root`` (at most ``max_depth`` down, ``budget`` folders looked at) that hold
    training runs directly: the hint of a refused ``run_dir``."""
    found: list[Path] = []
    queue = [(root, 0)]
    while queue and budget > 0 and len(found) < limit:
        folder, depth = queue.pop(0)
        budget -= 1
        children = _subfolders(folder)
        if any(is_run_folder(c) and not not_a_training_run(RunDir(c)) for c in children):
            found.append(folder)
            continue
        if depth < max_depth:
            queue += [(c, depth + 1) for c in children if not is_run_folder(c)]
    return found


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
