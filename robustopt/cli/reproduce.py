"""A long reproduction as a ledger of units (``robustopt-reproduce``, ``scripts/reproduce.sh fashion-mnist``).

A *unit* is one piece of work that finishes on one core between interruptions: one training run of the full recipe,
or one evaluation of one finished run.  A finished unit *ships* its small files into the results store
(``results/<name>/runs/<run>/``: config, meta, per-epoch metrics, the final weights as ``model.safetensors``, each
evaluation's summary with its per-image outcomes); a unit in progress ships nothing.  The ledger is what is shipped:
:func:`ledger` reads it from the store, so a fresh clone knows what is done, and :func:`run_units` starts the next
units (one thread each, on the cores available, within a time budget), ships each as soon as it finishes and, with
``commit=True``, commits it on its own::

    robustopt-reproduce fashion_mnist status
    robustopt-reproduce fashion_mnist run --budget 150m [--jobs 2] [--commit]

Training units train in a scratch folder (``--work``, default ``outputs/units``), where an interrupted unit resumes
from its checkpoint while the machine lives; evaluation units evaluate a scratch copy of the shipped run (its
``model.safetensors``, no checkpoint needed) and ship only the evaluations they ran, merged into the stored summary.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from robustopt.attacks import default_eps_grid
from robustopt.cli.app import run_dirname
from robustopt.devices import available_cpus
from robustopt.errors import ConfigError, RobustOptError
from robustopt.evaluation.merge import merge_result
from robustopt.io import atomic_write_bytes, atomic_write_text
from robustopt.rundir import RunDir, find_runs
from robustopt.runs import export_run_weights

REPO = Path(__file__).resolve().parents[2]
SHIPPED_RUN_FILES = ("config.yaml", "meta.json", "metrics.jsonl", "summary.json", "model.safetensors")


@dataclass(frozen=True)
class Evaluation:
    """One evaluation unit's work: the evaluations it runs, their option overrides, and when it is done."""

    key: str
    evaluations: tuple[str, ...]
    overrides: tuple[str, ...] = ()
    minutes: float = 15.0  # estimated minutes on one core (the budget's unit)
    curves: tuple[tuple[str, float], ...] = ()  # robust_accuracy: the (label, eps) points this unit adds
    n: int = 1000  # robust_accuracy: on the first n test images

    def done(self, summary: dict) -> bool:
        """Whether the stored summary holds this unit's results."""
        stored = summary.get("eval") or {}
        if not self.curves:
            return all(name in stored for name in self.evaluations)
        ra = stored.get("robust_accuracy") or {}
        attacks = ra.get("attacks") or {}
        return ra.get("n") == self.n and all(
            any(abs(float(e) - eps) < 1e-12 for e in (attacks.get(label) or {}).get("eps", []))
            for label, eps in self.curves
        )


@dataclass(frozen=True)
class Recipe:
    """A reproduction: its training runs (optimizer x seed) and the evaluations of each finished run."""

    name: str
    experiment: str
    optimizers: tuple[str, ...]
    seeds: tuple[int, ...]
    evaluations: tuple[Evaluation, ...]  # of each finished run, in this order, before the next seed's runs
    later: tuple[Evaluation, ...]  # of each finished run, once every run and its evaluations above are done
    train_minutes: float
    train_overrides: dict = field(default_factory=dict)  # per optimizer: extra identity overrides (e.g. fused Adam)
    common_overrides: tuple[str, ...] = ()  # identity overrides of every training run (e.g. a smaller test recipe)


def _autoattack(norm: str, eps: float, n: int = 1000, minutes: float = 50.0) -> Evaluation:
    """The standard AutoAttack (the authors' batch size 100) at one eps on the first ``n`` test images."""
    spec = f"{{name:autoattack,norm:{norm},version:standard,batch_size:100,eps:{eps}}}"
    return Evaluation(
        f"autoattack-{norm}-{eps:g}",
        ("robust_accuracy",),
        (f"eval.robust_accuracy.attacks=[{spec}]", f"eval.robust_accuracy.n_samples={n}"),
        minutes,
        ((f"autoattack-{norm}", float(eps)),),
        n,
    )


def _fgsm_pgd(dataset: str, n: int = 1000, minutes: float = 20.0) -> Evaluation:
    """FGSM and PGD-100, L-inf and L2, over the paper's eps grid, on the first ``n`` test images."""
    grid = {norm: default_eps_grid(dataset, norm) for norm in ("linf", "l2")}
    specs = ",".join(
        f"{{name:{a},norm:{norm}{',steps:100' if a == 'pgd' else ''}}}"
        for norm in ("linf", "l2")
        for a in ("fgsm", "pgd")
    )
    curves = tuple((f"{a}-{norm}", float(e)) for norm in ("linf", "l2") for a in ("fgsm", "pgd") for e in grid[norm])
    return Evaluation(
        "fgsm-pgd",
        ("robust_accuracy",),
        (f"eval.robust_accuracy.attacks=[{specs}]", f"eval.robust_accuracy.n_samples={n}"),
        minutes,
        curves,
        n,
    )


#: The paper's Fashion-MNIST recipe (conf/experiment/paper_fashion_mnist.yaml): SGD, Adam, RMSprop x 3 seeds, c2,
#: 200 epochs; evaluated at the final epoch: noise, band noise, heat maps, Lipschitz; FGSM + PGD-100 over the eps
#: grid; the standard AutoAttack at the smallest eps of each norm (Figure 1); then AutoAttack at the grid's other eps.
FASHION_MNIST = Recipe(
    name="fashion_mnist",
    experiment="paper_fashion_mnist",
    optimizers=("sgd", "adam", "rmsprop"),
    seeds=(0, 1, 2),
    train_minutes=100.0,  # measured: 75-105 min for SGD-Adam with two units at once on this 2-core CPU (bf16)
    train_overrides={"adam": ("optimizer.fused=true",)},
    evaluations=(
        Evaluation(
            "noise-lipschitz", ("clean", "gaussian_noise", "band_noise", "fourier_heatmap", "lipschitz"), minutes=5.0
        ),  # measured 2 min
        _autoattack("linf", 0.01),
        _autoattack("l2", 0.1),
        _fgsm_pgd("fashion_mnist"),
    ),
    later=(_autoattack("linf", 0.03), _autoattack("l2", 0.5), _autoattack("linf", 0.05), _autoattack("l2", 0.7)),
)
RECIPES = {r.name: r for r in (FASHION_MNIST,)}


@dataclass
class Unit:
    """One unit of the ledger: ``train`` (one run) or ``evaluate`` (one evaluation of one finished run)."""

    kind: str
    optimizer: str
    seed: int
    minutes: float
    evaluation: Optional[Evaluation] = None
    state: str = "left"  # done | running | left | waiting (its run is not trained yet)
    run: Optional[str] = None  # the shipped run's folder name, once there is one
    later: bool = False  # an evaluation of Recipe.later (after every run and its main evaluations)

    @property
    def id(self) -> str:
        base = f"{self.optimizer}-seed{self.seed}"
        return f"train:{base}" if self.kind == "train" else f"eval:{base}:{self.evaluation.key}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9.-]+", "_", self.id)


def train_overrides(recipe: Recipe, optimizer: str, seed: int, precision: str) -> list[str]:
    """The training command's overrides that make the run what it is (they name its folder)."""
    out = [
        f"experiment={recipe.experiment}",
        f"optimizer={optimizer}",
        f"seed={seed}",
        *recipe.train_overrides.get(optimizer, ()),
        *recipe.common_overrides,
    ]
    if precision != "fp32":
        out.append(f"precision={precision}")
    return out


def shipped_runs(results: Path, recipe: Recipe) -> dict[tuple[str, int], RunDir]:
    """The finished runs of ``recipe`` in the store, by (optimizer, seed): completed, with their weights."""
    out = {}
    root = results / "runs"
    for run in find_runs(root) if root.exists() else []:
        cfg, meta = run.config(), run.meta()
        if cfg.get("experiment_name") != recipe.experiment or meta.get("status") != "completed":
            continue
        if not run.weights_path.exists():
            continue
        out[(cfg["optimizer"]["name"], int(cfg["seed"]))] = run
    return out


def ledger(results: Path, recipe: Recipe, work: Optional[Path] = None) -> list[Unit]:
    """Every unit of ``recipe`` in order (the seed-0 runs of every optimizer and their evaluations first, then the
    next seeds; AutoAttack at the grid's other eps last), with its state read from the store (and from ``work``'s
    lock files for units running now)."""
    runs = shipped_runs(results, recipe)
    units: list[Unit] = []
    for seed in recipe.seeds:
        for opt in recipe.optimizers:
            units.append(Unit("train", opt, seed, recipe.train_minutes))
        for opt in recipe.optimizers:
            units += [Unit("evaluate", opt, seed, e.minutes, e) for e in recipe.evaluations]
    for seed in recipe.seeds:
        for opt in recipe.optimizers:
            units += [Unit("evaluate", opt, seed, e.minutes, e, later=True) for e in recipe.later]
    for u in units:
        run = runs.get((u.optimizer, u.seed))
        u.run = run.path.name if run else None
        if u.kind == "train":
            u.state = "done" if run else "left"
        elif run is None:
            u.state = "waiting"
        else:
            u.state = "done" if u.evaluation.done(run.summary()) else "left"
        if u.state != "done" and work is not None and _lock_alive(work / "locks" / f"{u.slug}.pid"):
            u.state = "running"
    return units


def _lock_alive(path: Path) -> bool:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ledger_table(units: list[Unit]) -> str:
    """The ledger as a Markdown table, with a count per state."""
    lines = ["| unit | state | run | est. min (1 core) |", "|---|---|---|---:|"]
    for u in units:
        lines.append(f"| {u.id} | {u.state} | {u.run or '–'} | {u.minutes:.0f} |")
    counts = {s: sum(u.state == s for u in units) for s in ("done", "running", "left", "waiting")}
    left = sum(u.minutes for u in units if u.state != "done")
    lines.append("")
    lines.append(
        ", ".join(f"{n} {s}" for s, n in counts.items())
        + f" of {len(units)} units; about {left / 60:.1f} core-hours left"
    )
    return "\n".join(lines)


def ledger_summary(units: list[Unit]) -> str:
    """One sentence: what the ledger holds (training runs, Figure 1 evaluations, later units) and what is left."""

    def done(group: list[Unit]) -> str:
        return f"{sum(u.state == 'done' for u in group)} of {len(group)}"

    train = [u for u in units if u.kind == "train"]
    main = [u for u in units if u.kind == "evaluate" and not u.later]
    later = [u for u in units if u.later]
    left = sum(u.minutes for u in units if u.state != "done" and not u.later)
    return (
        f"Ledger: {done(train)} training runs, {done(main)} of their main evaluation units (noise, Lipschitz, "
        f"AutoAttack at the smallest eps, FGSM/PGD) and {done(later)} later units (AutoAttack at the other eps) "
        f"shipped; about {left / 60:.0f} core-hours left before the later units."
    )


# -- shipping ---------------------------------------------------------------------------------------------------
def ship_training(run: RunDir, dest: Path) -> Path:
    """Copy a finished training run's small files and its final weights (``model.safetensors``) to ``dest``
    (``results/<name>/runs/<run>/``), atomically, file by file, the weights last-but-one and ``meta.json`` last,
    so that a store holding ``meta.json`` with ``status: completed`` and the weights holds the whole run.
    The shipped config's data location becomes the default ``data`` (the machine's own path means nothing elsewhere)."""
    if run.status != "completed":
        raise RobustOptError(f"{run.path} is {run.status}, not completed; only finished runs are shipped")
    export_run_weights(run)
    dest.mkdir(parents=True, exist_ok=True)
    cfg = run.config()
    cfg.setdefault("dataset", {})["root"] = "data"
    if isinstance(cfg.get("paths"), dict):
        cfg["paths"] = {**cfg["paths"], "data_dir": "data", "output_dir": "outputs"}
    atomic_write_text(dest / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    for name in ("metrics.jsonl", "summary.json", "model.safetensors", "meta.json"):
        _copy(run.path / name, dest / name)
    return dest


def ship_evaluation(scratch: RunDir, shipped: RunDir, evaluations: tuple[str, ...]) -> None:
    """Merge the named evaluations of a scratch copy into the shipped run's summary (another unit may have
    shipped other curves of ``robust_accuracy`` meanwhile: :func:`merge_result` keeps them)."""
    new = scratch.summary().get("eval") or {}
    for name in evaluations:
        if name not in new:
            raise RobustOptError(f"{scratch.path} holds no {name} result; the evaluation did not finish")
        merged, replaced, _ = merge_result(name, shipped.stored_eval(name), new[name])
        shipped.write_eval(name, merged, replaced=replaced)


def _copy(src: Path, dst: Path) -> None:
    atomic_write_bytes(dst, src.read_bytes())


# -- running units ----------------------------------------------------------------------------------------------
@dataclass
class Started:
    unit: Unit
    proc: subprocess.Popen
    folder: Path
    lock: Path
    start: float
    cpu: Optional[int] = None  # the CPU this unit is pinned to (None: not pinned)


def free_cpu(allowed: set[int], taken: set[int]) -> Optional[int]:
    """The lowest CPU of ``allowed`` that no running unit holds, or None when every one is taken.

    Each unit runs one thread pinned to a CPU of its own: left to the scheduler, two units were seen sharing one
    CPU while a niced process (tests, a build) had the other to itself, so the units ran at about half speed."""
    return next((c for c in sorted(allowed) if c not in taken), None)


def _pin(pid: int, cpu: Optional[int]) -> Optional[int]:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError:  # the process already ended, or the platform refuses: it runs unpinned
        return None
    return cpu


def _python() -> str:
    return sys.executable


def _quoted(path: Path) -> str:
    """A path as a quoted Hydra override value (run folder names hold ``~``, which the override grammar rejects
    bare)."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _start(
    unit: Unit,
    recipe: Recipe,
    results: Path,
    work: Path,
    *,
    precision: str,
    device: str,
    data_dir: Path,
    cpu: Optional[int] = None,
) -> Started:
    common = ["logger=none", "progress=false", "num_threads=1", f"device={device}"]
    log_dir = work / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if unit.kind == "train":
        identity = train_overrides(recipe, unit.optimizer, unit.seed, precision)
        folder = work / "train" / run_dirname(identity)
        cmd = [
            _python(),
            str(REPO / "experiments" / "train.py"),
            *identity,
            *common,
            "channels_last=true",
            "evaluations=[]",
            f"paths.data_dir={_quoted(data_dir)}",
            f"paths.output_dir={_quoted(work)}",
            f"hydra.run.dir={_quoted(folder)}",
        ]
    else:
        shipped = results / "runs" / unit.run
        folder = work / "evaluate" / unit.slug / unit.run
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name in SHIPPED_RUN_FILES:
            _copy(shipped / name, folder / name)
        ev = unit.evaluation
        cmd = [
            _python(),
            str(REPO / "experiments" / "evaluate.py"),
            f"run_dir={_quoted(folder)}",
            f"evaluations=[{','.join(ev.evaluations)}]",
            *ev.overrides,
            *common,
            f"data_dir={data_dir}",
            f"paths.output_dir={work}",
            f"hydra.run.dir={work / 'evaluate' / unit.slug / 'hydra'}",
        ]
    log_path = log_dir / f"{unit.slug}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    with open(log_path, "a") as log:
        log.write("+ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    lock = work / "locks" / f"{unit.slug}.pid"
    lock.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(lock, f"{proc.pid}\n")
    return Started(unit, proc, folder, lock, time.time(), _pin(proc.pid, cpu))


def _finish(s: Started, results: Path) -> str:
    """Ship a finished unit; returns the path (relative to the store) that it shipped."""
    u = s.unit
    if u.kind == "train":
        run = RunDir(s.folder)
        dest = results / "runs" / s.folder.name
        ship_training(run, dest)
        return str(dest)
    shipped = RunDir(results / "runs" / u.run)
    ship_evaluation(RunDir(s.folder), shipped, u.evaluation.evaluations)
    return str(shipped.path / "summary.json")


def _commit(repo: Path, paths: list[str], message: str) -> None:
    for attempt in range(10):
        add = subprocess.run(["git", "-C", str(repo), "add", "--", *paths], capture_output=True, text=True)
        if add.returncode == 0:
            done = subprocess.run(
                ["git", "-C", str(repo), "commit", "-q", "-m", message, "--", *paths], capture_output=True, text=True
            )
            if done.returncode == 0:
                return
            err = done.stderr
        else:
            err = add.stderr
        if "index.lock" not in err:
            print(f"[reproduce] git commit failed: {err.strip()}", flush=True)
            return
        time.sleep(3 + attempt)


def parse_budget(text: str) -> float:
    """``150m``, ``2.5h``, ``90`` (minutes) -> minutes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([mh]?)\s*", str(text))
    if not m:
        raise ConfigError(f"--budget must look like 150m or 2.5h, got {text!r}")
    value = float(m.group(1))
    return value * 60 if m.group(2) == "h" else value


def run_units(
    recipe: Recipe,
    results: Path,
    work: Path,
    *,
    budget_min: float,
    jobs: int,
    precision: str = "bf16",
    device: str = "cpu",
    data_dir: Path = Path("data"),
    commit: bool = False,
    only: Optional[str] = None,
    poll_s: float = 20.0,
) -> list[Unit]:
    """Start the next units (in ledger order, ``jobs`` at a time) that fit in what is left of ``budget_min``,
    ship each as it finishes (and commit it with ``commit``), until nothing more fits; returns the final ledger.
    On the CPU each unit is pinned to a CPU of its own among those this process may use (:func:`free_cpu`)."""
    t0 = time.time()
    allowed_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    data_dir.mkdir(parents=True, exist_ok=True)  # filled on first use (Fashion-MNIST: from Debian's package)
    running: list[Started] = []
    failed: set[str] = set()
    while True:
        for s in list(running):
            code = s.proc.poll()
            if code is None:
                continue
            running.remove(s)
            s.lock.unlink(missing_ok=True)
            minutes = (time.time() - s.start) / 60
            if code != 0:
                failed.add(s.unit.id)
                print(
                    f"[reproduce] {s.unit.id} FAILED (exit {code}) after {minutes:.1f} min; see "
                    f"{work / 'logs' / (s.unit.slug + '.log')}",
                    flush=True,
                )
                continue
            try:
                path = _finish(s, results)
            except RobustOptError as exc:
                failed.add(s.unit.id)
                print(f"[reproduce] {s.unit.id} finished but could not be shipped: {exc}", flush=True)
                continue
            print(f"[reproduce] {s.unit.id} done in {minutes:.1f} min, shipped {path}", flush=True)
            paths = [path, str(write_provenance(results, recipe))]
            readme = refresh_readme(results, recipe)
            if readme is not None:
                paths.append(str(readme))
            if commit:
                _commit(
                    _repo_of(results),
                    paths,
                    f"results/{recipe.name}: {s.unit.id} ({minutes:.0f} min on one core), shipped by "
                    "robustopt-reproduce",
                )
        units = ledger(results, recipe, work)
        busy = {s.unit.id for s in running}
        left_min = budget_min - (time.time() - t0) / 60
        while len(running) < jobs:
            nxt = next(
                (
                    u
                    for u in units
                    if u.state == "left"
                    and u.id not in busy
                    and u.id not in failed
                    and (only is None or re.search(only, u.id))
                    and u.minutes <= left_min
                ),
                None,
            )
            if nxt is None:
                break
            cpu = free_cpu(allowed_cpus, {r.cpu for r in running}) if device == "cpu" else None
            s = _start(nxt, recipe, results, work, precision=precision, device=device, data_dir=data_dir, cpu=cpu)
            running.append(s)
            busy.add(nxt.id)
            print(
                f"[reproduce] started {nxt.id} (about {nxt.minutes:.0f} min; {left_min:.0f} min of budget left), pid "
                f"{s.proc.pid}",
                flush=True,
            )
        if not running:
            return ledger(results, recipe, work)
        time.sleep(poll_s)


def refresh_readme(results: Path, recipe: Recipe) -> Optional[Path]:
    """Regenerate the results tables of the README of the repository that holds ``results`` (when it shows
    ``<!-- results:<recipe> -->``), so that a shipped unit and the README that quotes the store never disagree
    (``tests/test_readme_results.py``).  The tables are drawn by ``paper_figures/readme_tables.py``, a layer above
    this one, so it runs as a command; returns the README's path, or None when there is none to refresh."""
    readme = results.parent.parent / "README.md"
    if (
        results.parent.name != "results"
        or not readme.is_file()
        or f"<!-- results:{recipe.name} -->" not in readme.read_text()
    ):
        return None
    cmd = [
        _python(),
        "-m",
        "paper_figures.readme_tables",
        "--write",
        "--readme",
        str(readme),
        "--results",
        str(results.parent),
    ]
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": pythonpath})
    if done.returncode != 0:
        print(f"[reproduce] could not refresh {readme}: {(done.stderr or done.stdout).strip()[-500:]}", flush=True)
        return None
    return readme


def _repo_of(path: Path) -> Path:
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.returncode == 0 else path


# -- provenance -------------------------------------------------------------------------------------------------
def write_provenance(results: Path, recipe: Recipe) -> Path:
    """``results/<name>/PROVENANCE.md``: the hardware, commits, precision and package versions of the shipped runs,
    and the ledger (what is shipped, what is left), regenerated from the store."""
    runs = shipped_runs(results, recipe)
    lines = [
        f"# results/{recipe.name}: provenance and ledger",
        "",
        f"Regenerated {time.strftime('%Y-%m-%d %H:%M %Z')} by `robustopt-reproduce` from the files in this folder.",
        "",
        f"The paper's full recipe (`experiment={recipe.experiment}`) as units: one training run each, then one "
        "evaluation of one finished run each, at the final epoch. Each finished run ships its config, meta, "
        "per-epoch metrics, evaluations (with per-image outcomes) and final weights (`model.safetensors`).",
        "",
        "## Shipped runs",
        "",
        "| run | precision | device | threads | git commit | CPU | started | ended | epochs | test acc. (10,000 "
        "images) |",
        "|---|---|---|---:|---|---|---|---|---:|---:|",
    ]
    for _key, run in sorted(
        runs.items(),
        key=lambda kv: (kv[0][1], recipe.optimizers.index(kv[0][0]) if kv[0][0] in recipe.optimizers else 99),
    ):
        m, summ = run.meta(), run.summary()
        commit = (m.get("git") or {}).get("commit", "?")[:10] + ("+dirty" if (m.get("git") or {}).get("dirty") else "")
        lines.append(
            f"| {run.path.name} | {m.get('precision', 'fp32')} | {m.get('device')} | {m.get('cpu_threads')} | "
            f"{commit} | {m.get('cpu_model') or '? (not recorded)'} | "
            f"{m.get('first_start_time', m.get('start_time'))} | {m.get('end_time', '–')} | "
            f"{summ.get('epochs_done')} | {summ.get('test_accuracy')} |"
        )
    versions = next((r.meta().get("versions") for r in runs.values() if r.meta().get("versions")), None)
    if versions:
        lines += ["", "Package versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))]
    others = {
        "fp32_reference": (
            "per-epoch metrics of two unfinished fp32 runs, the reference for the bf16 evidence (its README.md)"
        ),
        "precision": "the bf16-against-fp32 evidence (`paper_figures/precision.py`; report.md)",
        "linear_theory": (
            "the paper's linear least-squares instance (`experiments/linear_theory.py`; "
            "its meta.json says where it ran)"
        ),
    }
    present = [f"- `{name}/`: {text}" for name, text in others.items() if (results / name).exists()]
    if present:
        lines += ["", "## Other folders", "", *present]
    units = ledger(results, recipe)
    lines += ["", "## Ledger", "", ledger_summary(units), "", ledger_table(units), ""]
    return atomic_write_text(results / "PROVENANCE.md", "\n".join(lines))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="robustopt-reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument(
        "action",
        choices=("status", "run", "ship", "provenance"),
        help="status: print the ledger; run: start the next units; ship RUN_DIR: ship a finished "
        "training run trained by hand; provenance: rewrite PROVENANCE.md",
    )
    parser.add_argument("run_dir", nargs="?", type=Path, help="ship: the finished run folder")
    parser.add_argument("--results", type=Path, help="the results store (default: results/<recipe> of this clone)")
    parser.add_argument("--work", type=Path, default=Path("outputs/units"), help="scratch folder of units in progress")
    parser.add_argument("--budget", default="150m", help="start no unit that would end after this (e.g. 150m, 2.5h)")
    parser.add_argument("--jobs", type=int, default=None, help="units at once (default: the cores available)")
    parser.add_argument(
        "--precision", default="bf16", choices=("fp32", "bf16"), help="training precision (bf16 on a CPU)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--only", default=None, help="a regular expression: start only units whose id matches")
    parser.add_argument("--commit", action="store_true", help="git-commit each shipped unit on its own")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.recipe]
    results = (args.results or REPO / "results" / recipe.name).resolve()
    try:
        if args.action == "status":
            print(ledger_table(ledger(results, recipe, args.work)))
        elif args.action == "provenance":
            print(write_provenance(results, recipe))
        elif args.action == "ship":
            if args.run_dir is None:
                raise ConfigError("ship needs the finished run's folder: robustopt-reproduce <recipe> ship RUN_DIR")
            print(ship_training(RunDir(args.run_dir), results / "runs" / args.run_dir.name))
            write_provenance(results, recipe)
            refresh_readme(results, recipe)
        else:
            units = run_units(
                recipe,
                results,
                args.work.resolve(),
                budget_min=parse_budget(args.budget),
                jobs=args.jobs or available_cpus(),
                precision=args.precision,
                device=args.device,
                data_dir=args.data_dir.resolve(),
                commit=args.commit,
                only=args.only,
            )
            print(ledger_table(units))
    except RobustOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
