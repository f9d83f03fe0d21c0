"""Reading the results store for the paper's figures and tables (Ma, Pan & Farahmand, TMLR 2023).

The *results store* is what the pipeline writes, nothing else: sweep folders of training runs
(``experiments/train.py -m ...``; each run directory holds ``config.yaml``, ``meta.json``,
``metrics.jsonl`` and ``summary.json`` with every evaluation under ``eval``), the
irrelevant-frequency sweep (``experiments/irrelevant_freq.py``) and the linear-theory run
(``experiments/linear_theory.py``).  Figure scripts never train: when something is missing they
raise :class:`MissingResultsError`, whose one-line message names what is missing and the command
that produces it; :func:`cli_main` prints that line and exits with status 2.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, stdev
from typing import Callable, Iterable, Sequence

from robustopt import paper
from robustopt.bits import decode_mask
from robustopt.errors import RobustOptError
from robustopt.io import read_json
from robustopt.rundir import find_runs
from robustopt.runs import comparison_key
from robustopt.stats import mean_interval
from robustopt.tracking.compare import irrelevant_freq_rows
from robustopt.tracking.loggers import WandbLogger

#: Canonical order of optimizers in tables and legends (SGD first, as the paper).
OPTIMIZER_ORDER = ("sgd", "adam", "rmsprop", "adamw", "adagrad", "signsgd")
#: Data sets in the paper's order.
DATASET_ORDER = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette", "synthetic")
DATASET_LABELS = {
    "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
    "svhn": "SVHN", "caltech101": "Caltech-101", "imagenette": "Imagenette", "synthetic": "synthetic",
}


class MissingResultsError(RobustOptError):
    """The results store lacks what a figure needs; the message names it and the command that produces it."""


def py(script: str, *args: str) -> str:
    """A shell command line running ``script`` with the repository's interpreter (as the README writes it)."""
    return " ".join(["python", script, *(shlex.quote(a) if any(c in a for c in " '\"") else a for a in args)])


def dataset_label(name: str) -> str:
    """Display name of a data set."""
    return DATASET_LABELS.get(name, name)


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
        return [r for r in self.runs if (dataset is None or r.dataset == dataset) and (optimizer is None or r.optimizer == optimizer)]

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
                raise MissingResultsError(
                    f"no run under {', '.join(map(str, self.roots))} holds matched-accuracy results; produce them with "
                    f"`{py('experiments/evaluate.py', f'run_dir={self.roots[0]}', 'protocol=matched', 'evaluations=[...]')}` "
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
    preset = name if (Path(__file__).resolve().parents[1] / "conf" / "experiment" / f"{name}.yaml").exists() else "<preset>"
    return py("experiments/train.py", "-m", f"experiment={preset}", "optimizer=sgd,adam,rmsprop", "seed=0,1,2")


def load_sweep(roots: str | Path | Iterable[str | Path], protocol: str = "final", require_completed: bool = True) -> Sweep:
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
        raise MissingResultsError("no sweep folder given; pass the folder of training runs (e.g. outputs/multiruns/reproduce_quick)")
    runs, incomplete, in_progress = [], [], []
    for root in roots:
        if not root.exists():
            raise MissingResultsError(f"sweep folder {root} does not exist; train it with `{train_command(root)}`")
        found = find_runs(root)
        if not found:
            raise MissingResultsError(f"no run directories (config.yaml + meta.json) under {root}; train them with `{train_command(root)}`")
        for rd in found:
            status = rd.status
            summary = rd.summary()
            matched = summary.get("matched") or {}
            unfinished_but_matched = status != "completed" and matched.get("run_status") and matched.get("eval")
            if status != "completed" and not unfinished_but_matched:
                incomplete.append((rd.path, status))
                continue
            cfg = rd.config()
            (in_progress if unfinished_but_matched else runs).append(Run(
                path=rd.path,
                dataset=str((cfg.get("dataset") or {}).get("name", "unknown")),
                optimizer=str((cfg.get("optimizer") or {}).get("name", "unknown")),
                seed=cfg.get("seed"),
                config=cfg,
                summary=summary,
                status=status,
            ))
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


# -- statistics -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stat:
    """Mean of per-seed values, their sample standard deviation and the half-width of the 95% Student-t interval
    of the mean (:func:`robustopt.stats.mean_interval`; 0 for one seed, where no interval exists)."""

    mean: float
    std: float
    n: int
    values: tuple[float, ...]

    @property
    def ci(self) -> float:
        """Half-width of the 95% interval of the mean over seeds (0 for one seed)."""
        if self.n < 2:
            return 0.0
        iv = mean_interval(self.values)
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
    return Stat(mean(vals), stdev(vals) if len(vals) > 1 else 0.0, len(vals), vals)


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


# -- the paper's Figure 1 quantities ----------------------------------------------------------------

ATTACK_PREFERENCE = ("autoattack", "pgd", "fgsm")  # the strongest attack stored is used (the paper: AutoAttack)


def attack_curve(run: Run, norm: str, attack: str | None = None) -> dict | None:
    """The robust-accuracy curve of ``attack`` under ``norm``, or without ``attack`` of the strongest stored one
    (autoattack > pgd > fgsm)."""
    res = run.evals.get("robust_accuracy") or {}
    curves = [c for c in (res.get("attacks") or {}).values() if c.get("norm") == norm]
    if attack is not None:
        return next((c for c in curves if str(c.get("name", "")).lower() == attack.lower()), None)
    for name in ATTACK_PREFERENCE:
        for c in curves:
            if str(c.get("name", "")).lower() == name:
                return c
    return curves[0] if curves else None


def _at(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    for xi, yi in zip(xs, ys):
        if math.isclose(float(xi), float(x), rel_tol=1e-6, abs_tol=1e-12):
            return float(yi)
    return None


def common_attack(runs: Sequence[Run], norm: str) -> str | None:
    """The strongest attack under ``norm`` that every run storing a ``norm`` attack stores, so that compared numbers
    come from the same attack (one run with AutoAttack beside one with PGD only: PGD for both); None if none."""
    names = [{str(c.get("name", "")).lower() for c in ((r.evals.get("robust_accuracy") or {}).get("attacks") or {}).values()
              if c.get("norm") == norm} for r in runs]
    names = [n for n in names if n]
    if not names:
        return None
    shared = set.intersection(*names)
    return next((a for a in ATTACK_PREFERENCE if a in shared), min(shared) if shared else None)


def stored_eps(sweep: Sweep, dataset: str, norm: str) -> list[float]:
    """The eps values every run of ``dataset`` stores for ``norm`` (under the attack they all store: :func:`common_attack`)."""
    grids = []
    runs = sweep.select(dataset)
    attack = common_attack(runs, norm)
    if attack is None:
        return []
    for r in runs:
        c = attack_curve(r, norm, attack)
        if c:
            grids.append({float(e) for e in c["eps"]})
    return sorted(set.intersection(*grids)) if grids else []


def stored_variances(sweep: Sweep, dataset: str) -> list[float]:
    """The Gaussian-noise variances every run of ``dataset`` stores."""
    grids = [{float(v) for v in (r.evals.get("gaussian_noise") or {}).get("variances", [])} for r in sweep.select(dataset)]
    grids = [g for g in grids if g]
    return sorted(set.intersection(*grids)) if grids else []


def robust_accuracy(run: Run, norm: str, eps: float, attack: str | None = None) -> float | None:
    """Accuracy of ``run`` under ``attack`` (default: its strongest stored one) in ``norm`` at ``eps`` (None if not
    stored)."""
    c = attack_curve(run, norm, attack)
    return _at(c["eps"], c["robust_accuracy"], eps) if c else None


def gaussian_accuracy(run: Run, variance: float) -> float | None:
    """Accuracy of ``run`` under Gaussian noise of ``variance`` (None if not stored)."""
    res = run.evals.get("gaussian_noise") or {}
    return _at(res.get("variances", []), res.get("accuracy", []), variance) if res else None


@dataclass(frozen=True)
class Figure1Setting:
    """The perturbation sizes compared in Figure 1 for one data set (chosen among the stored ones) and the images
    every number is measured on."""

    variance: float | None
    eps_l2: float | None
    eps_linf: float | None
    attack_l2: str | None
    attack_linf: str | None
    n_images: int | None = None  # the first n test images (robust_accuracy's); None: each quantity on its own images


def figure1_setting(sweep: Sweep, dataset: str, variance: float | None = None, eps_l2: float | None = None,
                    eps_linf: float | None = None) -> Figure1Setting:
    """The sizes to compare: the given ones, else the largest stored variance and the smallest stored eps.

    These defaults are where the authors' released CIFAR-10 log (opt-robust ``exp/log.txt``) matches their
    Figure 1: AutoAttack at the smallest eps of each grid (L2 0.1: 67.3 / 64.2 / 61.4 against the figure's
    67.0 / 63.9 / 60.3) and Gaussian noise at the largest variance (0.007: 69.5 / 58.7 / 62.9 against
    68.7 / 58.6 / 61.6); at larger eps the log's accuracies are 20 to 50 points lower than the figure's.
    A requested value that is not stored raises :class:`MissingResultsError`.
    """
    def pick(requested, stored, what, default_index, command):
        if requested is None:
            return stored[default_index] if stored else None
        if not any(math.isclose(requested, s, rel_tol=1e-6) for s in stored):
            raise MissingResultsError(
                f"{what} {requested:g} is not stored for {dataset} (stored: {', '.join(f'{s:g}' for s in stored) or 'none'}); "
                f"produce it with `{command}`"
            )
        return requested

    root = sweep.roots[0]
    variance = pick(variance, stored_variances(sweep, dataset), "Gaussian-noise variance", -1,
                    py("experiments/evaluate.py", f"run_dir={root}", "evaluations=[gaussian_noise]", f"eval.gaussian_noise.variances=[{variance}]"))
    l2_grid, linf_grid = stored_eps(sweep, dataset, "l2"), stored_eps(sweep, dataset, "linf")
    eps_l2 = pick(eps_l2, l2_grid, "L2 eps", 0,
                  py("experiments/evaluate.py", f"run_dir={root}", "evaluations=[robust_accuracy]", f"eval.robust_accuracy.eps.l2=[{eps_l2}]"))
    eps_linf = pick(eps_linf, linf_grid, "L-inf eps", 0,
                    py("experiments/evaluate.py", f"run_dir={root}", "evaluations=[robust_accuracy]", f"eval.robust_accuracy.eps.linf=[{eps_linf}]"))
    runs = sweep.select(dataset)
    names = {norm: common_attack(runs, norm) for norm in ("l2", "linf")}
    ns = {int((r.evals.get("robust_accuracy") or {}).get("n") or 0) for r in runs}
    n_images = ns.pop() if len(ns) == 1 and 0 not in ns else None
    setting = Figure1Setting(variance, eps_l2, eps_linf, names.get("l2"), names.get("linf"), n_images)
    sized = {"standard": True, "gaussian_noise": variance is not None, "l2": eps_l2 is not None, "linf": eps_linf is not None}
    if n_images is not None and not all(outcome_mask(r, q, setting) is not None for r in runs for q in FIGURE1_QUANTITIES if sized[q]):
        setting = Figure1Setting(variance, eps_l2, eps_linf, names.get("l2"), names.get("linf"), None)
    return setting


FIGURE1_QUANTITIES = ("standard", "gaussian_noise", "l2", "linf")


def _mask(text, n: int | None):
    if not text:
        return None
    mask = decode_mask(text)
    if n is not None:
        if mask.size < n:
            return None
        mask = mask[:n]
    return mask


def outcome_mask(run: Run, quantity: str, setting: Figure1Setting):
    """Which of the first ``setting.n_images`` test images ``run`` gets right under ``quantity`` (a bool array), or
    None when the per-image outcomes are not stored."""
    n = setting.n_images
    if n is None:
        return None
    ra = run.evals.get("robust_accuracy") or {}
    if quantity == "standard":
        return _mask(ra.get("clean_correct"), n)
    if quantity == "gaussian_noise":
        res = run.evals.get("gaussian_noise") or {}
        for v, m in zip(res.get("variances", []), res.get("correct") or []):
            if setting.variance is not None and math.isclose(float(v), setting.variance, rel_tol=1e-6):
                return _mask(m, n)
        return None
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    curve = attack_curve(run, quantity, setting.attack_l2 if quantity == "l2" else setting.attack_linf)
    if curve is None or eps is None:
        return None
    for e, m in zip(curve.get("eps", []), curve.get("correct") or []):
        if math.isclose(float(e), eps, rel_tol=1e-6):
            return _mask(m, n)
    return None


def figure1_accuracy(run: Run, quantity: str, setting: Figure1Setting) -> float | None:
    """Accuracy of ``run`` for one Figure-1 quantity: on the first ``n_images`` test images when the per-image
    outcomes are stored (every quantity then on the same images), else the stored accuracy of that evaluation."""
    mask = outcome_mask(run, quantity, setting)
    if mask is not None:
        return float(mask.mean())
    if quantity == "standard":
        return run.test_accuracy
    if quantity == "gaussian_noise":
        return gaussian_accuracy(run, setting.variance) if setting.variance is not None else None
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    attack = setting.attack_l2 if quantity == "l2" else setting.attack_linf
    return robust_accuracy(run, quantity, eps, attack) if eps is not None else None


def figure1_values(sweep: Sweep, dataset: str, setting: Figure1Setting) -> dict[str, dict[str, Stat]]:
    """``{quantity: {optimizer: Stat}}`` for quantity in standard, gaussian_noise, l2, linf (accuracies in [0, 1])."""
    runs = sweep.select(dataset)
    out = {"standard": per_optimizer(runs, lambda r: figure1_accuracy(r, "standard", setting))}
    for q, size in (("gaussian_noise", setting.variance), ("l2", setting.eps_l2), ("linf", setting.eps_linf)):
        if size is not None:
            out[q] = per_optimizer(runs, lambda r, q=q: figure1_accuracy(r, q, setting))
    return out


def eps_text(eps: float, norm: str) -> str:
    """``8/255`` style for L-inf eps on the 1/255 grid, else ``%g``."""
    if norm == "linf" and 0 < eps < 1 and abs(eps * 255 - round(eps * 255)) < 1e-6:
        return f"{round(eps * 255)}/255"
    return f"{eps:g}"


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
        raise MissingResultsError(f"no completed run under {root}; produce the irrelevant-frequency sweep with `{command}")
    if not any(r["filter"] == "none" for r in rows):
        raise MissingResultsError(f"the unfiltered baseline run is missing under {root}; finish the sweep with `{command}, re-running resumes")
    if all(r["filter"] == "none" for r in rows):
        raise MissingResultsError(f"only the baseline is complete under {root}; finish the filtered runs with `{command}, re-running resumes")
    return rows


# -- the linear-theory run ---------------------------------------------------------------------------

def load_linear_theory(run_dir: str | Path) -> dict:
    """The summary of a linear-theory run (``experiments/linear_theory.py``)."""
    path = Path(run_dir) / "summary.json"
    summary = read_json(path, default=None) if path.exists() else None
    if not summary or "final" not in summary:
        raise MissingResultsError(
            f"no linear-theory results in {run_dir} (summary.json with 'final'); produce them with "
            f"`{py('experiments/linear_theory.py', 'theory=quick', 'logger=none')}` (the paper's instance: without theory=quick)"
        )
    return summary


# -- command-line helpers ------------------------------------------------------------------------------

def cli_main(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; a :class:`RobustOptError` becomes one line on stderr and exit status 2."""
    try:
        return int(fn() or 0)
    except RobustOptError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


def log_images_to_wandb(paths: Iterable[Path], *, project: str = "robustopt", name: str = "paper_figures",
                        dir: str | Path | None = None, mode: str = "offline") -> Path | None:
    """Log the PNGs among ``paths`` to one W&B run as images, keyed by file stem (only when asked: ``--wandb``).

    Offline by default (the run goes to ``dir/wandb/offline-run-*``; upload it later with ``wandb sync``), never
    prompting: it goes through :class:`robustopt.tracking.loggers.WandbLogger`, where ``WANDB_MODE`` wins and
    ``online`` without a login is a :class:`~robustopt.errors.ConfigError`.  Returns the W&B run folder (None when
    there is no PNG).
    """
    pngs = [Path(p) for p in paths if str(p).endswith(".png")]
    if not pngs:
        return None
    images: dict[str, Path] = {}
    for p in pngs:
        key = p.stem if p.stem not in images else f"{p.parent.name}/{p.stem}"
        images[key] = p
    logger = WandbLogger(project=project, name=name, job_type="figures", mode=mode, dir=Path(dir) if dir else Path("."))
    try:
        import wandb

        logger.run.log({key: wandb.Image(str(p)) for key, p in images.items()})
    finally:
        logger.finish()
    run_dir = getattr(logger.run, "dir", None)
    return Path(run_dir).parent if run_dir else None


# -- the paper's reference numbers (robustopt.paper, with the paper's other constants) --------------------------

paper_reference = paper.reference
paper_figure1 = paper.figure1
