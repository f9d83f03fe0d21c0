"""The one reader of the results store: the runs a sweep folder holds, read back as :class:`Run` and :class:`Sweep`.

The *results store* is what the pipeline writes, nothing else: sweep folders of training runs
(``experiments/train.py -m ...``; each run directory holds ``config.yaml``, ``meta.json``, ``metrics.jsonl`` and
``summary.json`` with every evaluation under ``eval``, written through :class:`robustopt.rundir.RunDir`), the
irrelevant-frequency sweep (``experiments/irrelevant_freq.py``) and the linear-theory run
(``experiments/linear_theory.py``).  Reading never trains: when something is missing the readers raise
:class:`~robustopt.errors.MissingResultsError`, whose one-line message names what is missing and the command that
produces it.

Per-seed summaries (:class:`Stat`, :func:`per_optimizer`) are built on :func:`robustopt.stats.mean_interval`.
"""

from __future__ import annotations

import math
import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from robustopt.errors import MissingResultsError
from robustopt.io import read_json
from robustopt.rundir import find_runs
from robustopt.runs import comparison_key
from robustopt.stats import Interval, mean_interval
from robustopt.tracking.compare import irrelevant_freq_rows

#: Canonical order of optimizers in tables and legends (SGD first, as the paper).
OPTIMIZER_ORDER = ("sgd", "adam", "rmsprop", "adamw", "adagrad", "signsgd")
#: Data sets in the paper's order.
DATASET_ORDER = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette", "synthetic")
#: The clone's ``conf/`` (the presets a sweep folder may be named after).
_CONF = Path(__file__).resolve().parents[2] / "conf"


def py(script: str, *args: str) -> str:
    """A shell command line running ``script`` with the repository's interpreter (as the README writes it)."""
    return " ".join(["python", script, *(shlex.quote(a) if any(c in a for c in " '\"") else a for a in args)])


def order_key(name: str, order: Sequence[str] = OPTIMIZER_ORDER) -> tuple:
    """Sort key putting known names in ``order`` first, others alphabetically after them."""
    return (order.index(name) if name in order else len(order), name)


@dataclass
class Run:
    """One completed training run of the store: its identity and its summary (with ``eval``)."""

    path: Path
    dataset: str
    optimizer: str
    seed: int | None
    config: dict
    summary: dict
    status: str | None = None
    protocol: str = "final"  # final: the last epoch's weights (the paper's) | matched: the matched-accuracy epoch

    @property
    def evals(self) -> dict:
        """The evaluations of this run's weights under its protocol (``eval``, or ``matched.eval``)."""
        if self.protocol == "matched":
            return (self.summary.get("matched") or {}).get("eval") or {}
        return self.summary.get("eval") or {}

    @property
    def epoch(self) -> int | None:
        """The epoch whose weights were evaluated."""
        if self.protocol == "matched":
            return (self.summary.get("matched") or {}).get("epoch")
        return self.summary.get("epochs_done")

    @property
    def test_accuracy(self) -> float | None:
        """Standard (clean) test accuracy of the evaluated weights: the clean evaluation when present, else the
        accuracy training logged (at the matched epoch under the matched protocol)."""
        clean = self.evals.get("clean") or {}
        if self.protocol == "matched":
            fallback = (self.summary.get("matched") or {}).get("test_accuracy_at_epoch")
        else:
            fallback = self.summary.get("test_accuracy")
        value = clean.get("accuracy", fallback)
        return float(value) if value is not None else None

    @property
    def group_key(self) -> str:
        """Equal for runs that differ only in their optimizer (same model, initial weights, batches): one seed."""
        return comparison_key(self.config)


@dataclass
class Sweep:
    """The completed runs found under one or more sweep folders."""

    roots: list[Path]
    runs: list[Run]
    incomplete: list[tuple[Path, str | None]] = field(default_factory=list)
    # runs still training (or interrupted) that hold matched-accuracy results (``evaluate.py protocol=matched
    # in_progress=true``): read under the matched protocol only, never as final-epoch results
    in_progress: list[Run] = field(default_factory=list)

    @property
    def datasets(self) -> list[str]:
        return sorted({r.dataset for r in self.runs}, key=lambda d: order_key(d, DATASET_ORDER))

    @property
    def protocol(self) -> str:
        return self.runs[0].protocol if self.runs else "final"

    def groups(self, dataset: str) -> list[dict[str, Run]]:
        """The runs of ``dataset`` grouped by seed (same initial weights and batches): ``[{optimizer: Run}, ...]``."""
        out: dict[str, dict[str, Run]] = {}
        for r in self.select(dataset):
            out.setdefault(r.group_key, {})[r.optimizer] = r
        return [out[k] for k in sorted(out, key=lambda k: str(sorted((o, str(r.seed)) for o, r in out[k].items())))]

    def optimizers(self, dataset: str | None = None) -> list[str]:
        names = {r.optimizer for r in self.runs if dataset is None or r.dataset == dataset}
        return sorted(names, key=order_key)

    def select(self, dataset: str | None = None, optimizer: str | None = None) -> list[Run]:
        return [
            r
            for r in self.runs
            if (dataset is None or r.dataset == dataset) and (optimizer is None or r.optimizer == optimizer)
        ]

    def with_eval(self, name: str) -> list[Run]:
        return [r for r in self.runs if name in r.evals]

    def require(self, name: str, allow_partial: bool = False) -> "Sweep":
        """The runs that hold evaluation ``name``; raises :class:`MissingResultsError` when none (or, unless
        ``allow_partial``, when some completed runs) lack it."""
        have = self.with_eval(name)
        lacking = [r for r in self.runs if name not in r.evals]
        if not have or (lacking and not allow_partial):
            where = _common_root([r.path for r in lacking]) if lacking else self.roots[0]
            which = "every run" if not have else f"{len(lacking)} of {len(self.runs)} runs (e.g. {lacking[0].path})"
            raise MissingResultsError(
                f"evaluation '{name}' is missing from {which} under {', '.join(map(str, self.roots))}; produce it with "
                f"`{py('experiments/evaluate.py', f'run_dir={where}', f'evaluations=[{name}]')}`"
                + (" (or pass --allow-partial to draw the runs that have it)" if have else "")
            )
        return Sweep(self.roots, have, self.incomplete, [r for r in self.in_progress if name in r.evals])

    def as_protocol(self, protocol: str) -> "Sweep":
        """The same runs read under another protocol (``final`` or ``matched``); raises when no run has it."""
        members = self.runs + self.in_progress if protocol == "matched" else self.runs
        runs = [Run(r.path, r.dataset, r.optimizer, r.seed, r.config, r.summary, r.status, protocol) for r in members]
        if protocol == "matched":
            runs = [r for r in runs if r.evals]
            if not runs:
                command = py(
                    "experiments/evaluate.py", f"run_dir={self.roots[0]}", "protocol=matched", "evaluations=[...]"
                )
                raise MissingResultsError(
                    f"no run under {', '.join(map(str, self.roots))} holds matched-accuracy results; produce them with "
                    f"`{command}` "
                    "(the runs must have been trained with snapshot_epochs=all)"
                )
        return Sweep(self.roots, runs, self.incomplete, self.in_progress)


def _common_root(paths: list[Path]) -> Path:
    if not paths:
        return Path(".")
    parts = [p.parts for p in paths]
    common = []
    for items in zip(*parts):
        if len(set(items)) != 1:
            break
        common.append(items[0])
    root = Path(*common) if common else paths[0]
    return root if root not in paths or len(paths) == 1 else root.parent


def train_command(root: Path) -> str:
    """The command that fills sweep folder ``root`` (guessing the preset from its name, as Hydra names it)."""
    name = root.name
    if name == "reproduce_quick":
        return "scripts/reproduce.sh quick"
    preset = name if (_CONF / "experiment" / f"{name}.yaml").exists() else "<preset>"
    return py("experiments/train.py", "-m", f"experiment={preset}", "optimizer=sgd,adam,rmsprop", "seed=0,1,2")


def load_sweep(
    roots: str | Path | Iterable[str | Path], protocol: str = "final", require_completed: bool = True
) -> Sweep:
    """Every completed run under ``roots`` (sweep folders or run directories), read under ``protocol``
    (``final``: the last epoch, the paper's; ``matched``: each run at its matched-accuracy epoch).

    Runs still training that were evaluated with ``evaluate.py protocol=matched in_progress=true`` are kept in
    ``Sweep.in_progress`` and read under the matched protocol only.  ``require_completed=False`` accepts a store
    that holds only such runs.

    Raises :class:`MissingResultsError` when a folder does not exist or holds no completed run (with results of
    that protocol).
    """
    roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
    if not roots:
        raise MissingResultsError(
            "no sweep folder given; pass the folder of training runs (e.g. outputs/multiruns/reproduce_quick)"
        )
    runs, incomplete, in_progress = [], [], []
    for root in roots:
        if not root.exists():
            raise MissingResultsError(f"sweep folder {root} does not exist; train it with `{train_command(root)}`")
        found = find_runs(root)
        if not found:
            raise MissingResultsError(
                f"no run directories (config.yaml + meta.json) under {root}; train them with `{train_command(root)}`"
            )
        for rd in found:
            status = rd.status
            summary = rd.summary()
            matched = summary.get("matched") or {}
            unfinished_but_matched = status != "completed" and matched.get("run_status") and matched.get("eval")
            if status != "completed" and not unfinished_but_matched:
                incomplete.append((rd.path, status))
                continue
            cfg = rd.config()
            (in_progress if unfinished_but_matched else runs).append(
                Run(
                    path=rd.path,
                    dataset=str((cfg.get("dataset") or {}).get("name", "unknown")),
                    optimizer=str((cfg.get("optimizer") or {}).get("name", "unknown")),
                    seed=cfg.get("seed"),
                    config=cfg,
                    summary=summary,
                    status=status,
                )
            )
    if not runs and not (in_progress and (protocol == "matched" or not require_completed)):
        states = ", ".join(sorted({str(s) for _, s in incomplete}))
        raise MissingResultsError(
            f"no completed run under {', '.join(map(str, roots))} ({len(incomplete)} run(s) with status {states}); "
            f"finish them with `{train_command(roots[0])}` (re-running resumes)"
        )
    for members in (runs, in_progress):
        members.sort(key=lambda r: (order_key(r.dataset, DATASET_ORDER), order_key(r.optimizer), str(r.seed)))
    sweep = Sweep(roots, runs, incomplete, in_progress)
    return sweep if protocol == "final" else sweep.as_protocol(protocol)


# -- per-seed summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stat:
    """Per-seed values summarised by :func:`robustopt.stats.mean_interval`: their mean, sample standard deviation
    and the half-width of the 95% Student-t interval of the mean (0 for one seed, where no interval exists)."""

    mean: float
    std: float
    n: int
    values: tuple[float, ...]

    @property
    def interval(self) -> Interval:
        """The 95% interval of the mean over seeds (:func:`robustopt.stats.mean_interval`)."""
        return mean_interval(self.values)

    @property
    def ci(self) -> float:
        """Half-width of the 95% interval of the mean over seeds (0 for one seed)."""
        if self.n < 2:
            return 0.0
        iv = self.interval
        return iv.high - iv.mean

    def fmt(self, scale: float = 100.0, digits: int = 1) -> str:
        """``mean ± half-width of the 95% interval`` (``scale`` 100: in percent); just the mean for one seed."""
        m = f"{self.mean * scale:.{digits}f}"
        return m if self.n < 2 else f"{m} ± {self.ci * scale:.{digits}f}"


def stat(values: Iterable[float]) -> Stat | None:
    """:class:`Stat` of the finite values, or None when there are none."""
    vals = tuple(float(v) for v in values if v is not None and math.isfinite(float(v)))
    if not vals:
        return None
    iv = mean_interval(vals)
    return Stat(iv.mean, iv.sd if iv.n > 1 else 0.0, iv.n, vals)


def per_optimizer(runs: Sequence[Run], value: Callable[[Run], float | None]) -> dict[str, Stat]:
    """``{optimizer: Stat}`` of ``value(run)`` over seeds, in canonical optimizer order."""
    groups: dict[str, list] = defaultdict(list)
    for r in runs:
        v = value(r)
        if v is not None:
            groups[r.optimizer].append(v)
    out = {}
    for name in sorted(groups, key=order_key):
        s = stat(groups[name])
        if s is not None:
            out[name] = s
    return out


# -- the irrelevant-frequency sweep (Figure 2) ------------------------------------------------------


def load_irrelevant_freq(root: str | Path) -> list[dict]:
    """Rows ``{dataset, filter, removed_percent, seed, test_accuracy}`` of the completed runs of an
    irrelevant-frequency sweep (``experiments/irrelevant_freq.py``); raises when the baseline or every
    filtered run is missing."""
    root = Path(root)
    command = py("experiments/irrelevant_freq.py") + "` (or `scripts/reproduce.sh quick`)"
    if not root.exists():
        raise MissingResultsError(f"irrelevant-frequency sweep {root} does not exist; produce it with `{command}")
    rows = [
        {**r, "test_accuracy": float(r["test_accuracy"])}
        for r in irrelevant_freq_rows(root)
        if r["status"] == "completed" and r["test_accuracy"] is not None
    ]
    if not rows:
        raise MissingResultsError(
            f"no completed run under {root}; produce the irrelevant-frequency sweep with `{command}"
        )
    if not any(r["filter"] == "none" for r in rows):
        raise MissingResultsError(
            f"the unfiltered baseline run is missing under {root}; finish the sweep with `{command}, re-running resumes"
        )
    if all(r["filter"] == "none" for r in rows):
        raise MissingResultsError(
            f"only the baseline is complete under {root}; finish the filtered runs with `{command}, re-running resumes"
        )
    return rows


# -- the linear-theory run ---------------------------------------------------------------------------


def load_linear_theory(run_dir: str | Path) -> dict:
    """The summary of a linear-theory run (``experiments/linear_theory.py``)."""
    path = Path(run_dir) / "summary.json"
    summary = read_json(path, default=None) if path.exists() else None
    if not summary or "final" not in summary:
        raise MissingResultsError(
            f"no linear-theory results in {run_dir} (summary.json with 'final'); produce them with "
            f"`{py('experiments/linear_theory.py', 'theory=quick', 'logger=none')}` (the paper's instance: without "
            "theory=quick)"
        )
    return summary
