"""A run directory: the plain-file record of one training run (the base layer: training, evaluation,
the theory experiment and the reporting all read and write runs through :class:`RunDir`).

Layout (every file written atomically)::

    config.yaml        the fully resolved config
    meta.json          seed, git commit, package versions, device, start/end time, status (:mod:`robustopt.meta`)
    metrics.jsonl      one JSON line per epoch
    summary.json       final metrics + every evaluation's results (under "eval")
    checkpoints/last.pt  the training checkpoint (resume)
    model.safetensors  the final weights of a shipped run (results/<name>/runs/<run>/), in place of a checkpoint

:func:`find_runs` lists the run directories under a folder (one run, or a sweep of runs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

import yaml

from robustopt.io import atomic_write_json, atomic_write_text, read_json, to_jsonable

STATUSES = ("running", "completed", "diverged", "failed")


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


def find_runs(root: str | Path) -> list[RunDir]:
    """Every run directory (a folder with ``config.yaml`` and ``meta.json``) under ``root``, sorted."""
    root = Path(root)
    found = {p.parent for p in root.rglob("meta.json") if (p.parent / "config.yaml").exists()}
    return [RunDir(p) for p in sorted(found)]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
