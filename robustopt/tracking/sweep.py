"""Collect every job of a sweep (a Hydra multirun) into one table next to its ``multirun.yaml``.

Each job writes its results in its own run directory; :func:`collect_sweep` reads them all and writes

* ``sweep_results.csv``  one row per job: its status, overrides, run dir, the config values that vary
  across the sweep, and every scalar result (final metrics, evaluations; robust accuracy one column per
  attack and eps);
* ``sweep_results.json`` the same jobs with their full flat records, the failed and missing jobs, and the
  mean ± std summary;

both written atomically.  The jobs a sweep should have (``expected``) come from the caller:
:func:`robustopt.cli.sweep.collect` re-expands them from ``multirun.yaml`` with Hydra's override parser, so
a job that never started is listed as missing, by its overrides.  It works on a partial or still-running
sweep: Hydra skips ``on_multirun_end`` when a job failed, so run ``python scripts/collect_sweep.py SWEEP_DIR``
then.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import yaml

from robustopt.errors import ConfigError
from robustopt.io import atomic_write_json, atomic_write_text
from robustopt.rundir import RunDir
from robustopt.stats import mean_interval
from robustopt.tracking.reader import format_table, run_record

CSV_NAME = "sweep_results.csv"
JSON_NAME = "sweep_results.json"
FINISHED = ("completed", "diverged")  # a result (diverged is a result too: it would diverge again)
SEED_KEYS = ("seed", "init_seed", "data_seed")
MAIN_METRICS = ("summary.test_accuracy", "summary.test_loss")


@dataclass
class SweepJob:
    """One job of a sweep.

    ``status``: completed | diverged | failed | interrupted (Ctrl-C; the same command resumes it) | running (still
    running, or killed and not yet resumed) | no_result (its directory exists but training never started, e.g. a
    config error) | missing (no directory).
    """

    overrides: list[str]
    status: str
    run_dir: Optional[Path] = None
    record: dict = field(default_factory=dict)  # reader.run_record() plus expanded results

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def error(self) -> Optional[str]:
        return self.record.get("meta.error")


@dataclass
class SweepResult:
    """Everything :func:`collect_sweep` found in a sweep directory."""

    sweep_dir: Path
    jobs: list[SweepJob]
    expected: Optional[int]  # jobs the sweep should have (None: no multirun.yaml to expand)
    summary: list[dict]
    csv_path: Optional[Path] = None
    json_path: Optional[Path] = None

    def with_status(self, *statuses: str) -> list[SweepJob]:
        return [j for j in self.jobs if j.status in statuses]

    @property
    def unfinished(self) -> list[SweepJob]:
        """Jobs without a result: failed, running/killed, never started or missing."""
        return [j for j in self.jobs if not j.finished]


# -- the jobs a sweep has -------------------------------------------------------------------------------
def _job_dirs(sweep_dir: Path) -> dict[tuple, Path]:
    """Job directories under the sweep (those Hydra wrote ``.hydra/overrides.yaml`` in), by their overrides."""
    found = {}
    for path in sorted(sweep_dir.rglob(".hydra/overrides.yaml")):
        with open(path) as fh:
            overrides = yaml.safe_load(fh) or []
        found[tuple(sorted(str(o) for o in overrides))] = path.parent.parent
    return found


# -- one job's record ------------------------------------------------------------------------------------
def _robust_accuracy_columns(summary_eval: dict) -> dict:
    """``robust_accuracy`` results as scalar columns: one per attack and eps, and the mean over the eps grid."""
    out = {}
    result = (summary_eval or {}).get("robust_accuracy") or {}
    for label, attack in (result.get("attacks") or {}).items():
        accs = attack.get("robust_accuracy") or []
        for eps, acc in zip(attack.get("eps") or [], accs):
            out[f"robust.{label}@{eps:g}"] = acc
        finite = [a for a in accs if isinstance(a, (int, float))]
        if finite:
            out[f"robust.{label}.mean"] = sum(finite) / len(finite)
    return out


def _job_status(run_dir: Optional[Path]) -> str:
    if run_dir is None:
        return "missing"
    run = RunDir(run_dir)
    status = run.status if run.meta_path.exists() else None
    if status is None:
        return "no_result"
    return status


def _logged_error(run_dir: Path) -> Optional[str]:
    """The last ERROR line of the job's Hydra log (e.g. a config error raised before training started)."""
    for log_file in sorted(run_dir.glob("*.log")):
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if "[ERROR]" in line]
        if lines:
            return lines[-1].split("[ERROR] - ", 1)[-1].strip()
    return None


def _job(overrides: Sequence[str], run_dir: Optional[Path]) -> SweepJob:
    status = _job_status(run_dir)
    record: dict = {}
    if run_dir is not None and status != "no_result":
        run = RunDir(run_dir)
        record = run_record(run)
        record.update(_robust_accuracy_columns(run.summary().get("eval") or {}))
    elif run_dir is not None:
        record = {"run_dir": str(run_dir), "status": status, "meta.error": _logged_error(run_dir)}
    return SweepJob(overrides=list(overrides), status=status, run_dir=run_dir, record=record)


# -- aggregation -----------------------------------------------------------------------------------------
def _varying_overrides(jobs: Sequence[SweepJob]) -> list[str]:
    """Override keys whose value differs between jobs (the swept keys), in first-seen order."""
    values: dict[str, set] = {}
    for job in jobs:
        for item in job.overrides:
            key, _, value = item.partition("=")
            values.setdefault(key, set()).add(value)
    keys = [k for k, v in values.items() if len(v) > 1 or any(k not in _as_dict(j.overrides) for j in jobs)]
    return keys


def _as_dict(overrides: Sequence[str]) -> dict:
    return dict(item.partition("=")[::2] for item in overrides)


def _group_label(job: SweepJob, keys: Sequence[str]) -> str:
    """The job's swept values except the seeds (what mean ± std is taken over), e.g. 'optimizer=adam'."""
    ov = _as_dict(job.overrides)
    parts = [f"{k}={ov[k]}" for k in keys if k.lstrip("+~") not in SEED_KEYS and k in ov]
    if not any(k.lstrip("+~") == "optimizer" for k in keys):  # always say which optimizer
        parts.insert(0, f"optimizer={job.record.get('config.optimizer.name', '?')}")
    return " ".join(parts)


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof=1; 0 for one value) and count of the finite values
    (:func:`robustopt.stats.mean_interval`)."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if not vals:
        return float("nan"), float("nan"), 0
    iv = mean_interval(vals)
    return iv.mean, (iv.sd if iv.n > 1 else 0.0), iv.n


def summarize(jobs: Sequence[SweepJob], metrics: Optional[Sequence[str]] = None) -> list[dict]:
    """Mean ± std over seeds of ``metrics`` (record columns) for each group of finished jobs.

    A group is one combination of the swept values other than the seeds (e.g. one optimizer).  The
    default metrics are the final test accuracy and loss and, when present, each attack's robust accuracy
    averaged over its eps grid.  Each row: ``group``, ``runs``, and ``{metric: {"mean", "std", "n"}}``.
    """
    done = [j for j in jobs if j.finished]
    if metrics is None:
        extra = sorted({k for j in done for k in j.record if k.startswith("robust.") and k.endswith(".mean")})
        metrics = [*MAIN_METRICS, *extra]
    keys = _varying_overrides(jobs)
    groups: dict[str, list[SweepJob]] = {}
    for job in done:
        groups.setdefault(_group_label(job, keys), []).append(job)
    rows = []
    for label, members in groups.items():
        row: dict[str, Any] = {"group": label, "runs": len(members)}
        for metric in metrics:
            m, sd, n = mean_std(j.record.get(metric) for j in members)
            row[metric] = {"mean": m, "std": sd, "n": n}
        rows.append(row)
    return rows


def collect_sweep(
    sweep_dir: str | Path,
    expected: Optional[Sequence[Sequence[str]]] = None,
    *,
    write: bool = True,
    metrics: Optional[Sequence[str]] = None,
) -> SweepResult:
    """Read every job of the sweep in ``sweep_dir``; with ``write``, save ``sweep_results.{csv,json}`` there.

    ``expected``: every job's override list (None: unknown, only the job folders found are listed;
    :func:`robustopt.cli.sweep.expected_jobs` re-expands them from ``multirun.yaml``).
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"sweep directory {sweep_dir} does not exist; pass the folder that holds multirun.yaml")
    found = _job_dirs(sweep_dir)
    jobs: list[SweepJob] = []
    seen: set[tuple] = set()
    for overrides in expected or []:
        key = tuple(sorted(overrides))
        seen.add(key)
        jobs.append(_job(overrides, found.get(key)))
    for key, run_dir in found.items():  # jobs of earlier sweeps into the same folder
        if key not in seen:
            jobs.append(_job(list(key), run_dir))
    result = SweepResult(sweep_dir, jobs, len(expected) if expected is not None else None, summarize(jobs, metrics))
    if write:
        result.csv_path, result.json_path = write_tables(result)
    return result


# -- output ----------------------------------------------------------------------------------------------
def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def table_rows(result: SweepResult) -> tuple[list[str], list[dict]]:
    """The CSV's columns and rows: job, status, overrides, run dir, the varying config values, then results."""
    fixed = ["job", "status", "overrides", "run_dir", "meta.slurm_job_id", "meta.starts", "meta.error"]
    rows = []
    for i, job in enumerate(result.jobs):
        row = {
            "job": i,
            "status": job.status,
            "overrides": " ".join(job.overrides),
            "run_dir": str(job.run_dir.relative_to(result.sweep_dir)) if job.run_dir else None,
        }
        row.update({k: v for k, v in job.record.items() if _scalar(v) and k not in row})
        rows.append(row)
    config_cols = sorted({k for r in rows for k in r if k.startswith("config.")})
    present = [r for r in rows if r["status"] not in ("missing", "no_result")]
    varying = [
        c
        for c in config_cols  # keys every job has (not e.g. momentum of SGD only) with more than one value
        if all(c in r for r in present) and len({repr(r[c]) for r in present}) > 1
    ]
    keep_config = [
        c
        for c in (
            "config.dataset.name",
            "config.model.name",
            "config.optimizer.name",
            "config.optimizer.lr",
            "config.seed",
            "config.epochs",
        )
        if c in config_cols
    ]
    keep_config += [c for c in varying if c not in keep_config]
    results = sorted({k for r in rows for k in r if k.startswith("summary.") or k.startswith("robust.")})
    columns = fixed + keep_config + results
    return columns, [{c: r.get(c) for c in columns} for r in rows]


def write_tables(result: SweepResult) -> tuple[Path, Path]:
    """Write ``sweep_results.csv`` and ``sweep_results.json`` atomically into the sweep directory."""
    columns, rows = table_rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = atomic_write_text(result.sweep_dir / CSV_NAME, buf.getvalue())
    doc = {
        "sweep_dir": str(result.sweep_dir),
        "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "expected_jobs": result.expected,
        "counts": _counts(result),
        "unfinished": [
            {
                "overrides": j.overrides,
                "status": j.status,
                "run_dir": str(j.run_dir) if j.run_dir else None,
                "error": j.error,
            }
            for j in result.unfinished
        ],
        "summary": result.summary,
        "jobs": [
            {
                "overrides": j.overrides,
                "status": j.status,
                "run_dir": str(j.run_dir) if j.run_dir else None,
                "record": {k: v for k, v in j.record.items()},
            }
            for j in result.jobs
        ],
    }
    json_path = atomic_write_json(result.sweep_dir / JSON_NAME, doc)
    return csv_path, json_path


def _counts(result: SweepResult) -> dict:
    counts: dict[str, int] = {}
    for job in result.jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    return counts


def _pm(cell: dict) -> str:
    if not cell or cell["n"] == 0:
        return "-"
    return f"{cell['mean']:.4f} ± {cell['std']:.4f}" if cell["n"] > 1 else f"{cell['mean']:.4f}"


def format_report(result: SweepResult) -> str:
    """A short text report: counts, the mean ± std table, and the jobs without a result by their overrides."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(_counts(result).items()))
    expected = f" of {result.expected} expected" if result.expected is not None else ""
    lines = [f"Sweep {result.sweep_dir}: {len(result.jobs)} jobs{expected} ({counts or 'none found'})"]
    if result.summary:
        metrics = [k for k in result.summary[0] if k not in ("group", "runs")]
        headers = ["group", "runs"] + [m.removeprefix("summary.").removeprefix("robust.") for m in metrics]
        table = [{"group": r["group"], "runs": r["runs"], **{m: _pm(r[m]) for m in metrics}} for r in result.summary]
        lines += [
            "",
            "Mean ± std over seeds (finished jobs)",
            format_table(table, ["group", "runs", *metrics], headers),
        ]
    diverged = result.with_status("diverged")
    if diverged:
        lines += ["", f"Diverged ({len(diverged)}):"] + [f"  {' '.join(j.overrides)}" for j in diverged]
    if result.unfinished:
        lines += [
            "",
            f"Failed or missing ({len(result.unfinished)}); re-run the same multirun command to finish them "
            f"(finished jobs are skipped):",
        ]
        for job in result.unfinished:
            why = f" — {job.error}" if job.error else ""
            lines.append(f"  [{job.status}] {' '.join(job.overrides)}{why}")
    if result.csv_path:
        lines += ["", f"Table: {result.csv_path} (and {result.json_path.name})"]
    return "\n".join(lines)


__all__ = [
    "SweepJob",
    "SweepResult",
    "collect_sweep",
    "format_report",
    "mean_std",
    "summarize",
    "table_rows",
    "write_tables",
]
