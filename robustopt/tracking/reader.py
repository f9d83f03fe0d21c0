"""Read run directories (one run, or a sweep folder of runs) into one flat table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from robustopt.rundir import RunDir, find_runs


def flatten(d: dict, prefix: str = "") -> dict:
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def run_record(run: RunDir) -> dict:
    """One row: ``config.*``, ``meta.*`` (status, seeds, commit) and ``summary.*`` columns."""
    meta = run.meta()
    row = {"run_dir": str(run.path), "status": meta.get("status")}
    row.update(flatten(run.config(), "config."))
    row.update(flatten({k: v for k, v in meta.items() if k not in ("versions",)}, "meta."))
    row.update(flatten(run.summary(), "summary."))
    return row


def load_runs(root: str | Path) -> list[dict]:
    """All runs under ``root`` as a list of flat dicts (one per run)."""
    return [run_record(r) for r in find_runs(root)]


def format_table(
    rows: Iterable[dict], columns: list[str], headers: list[str] | None = None, floatfmt: str = "{:.4f}"
) -> str:
    """A plain-text table of ``columns`` (missing values shown as '-')."""
    rows = list(rows)
    headers = headers or columns

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return floatfmt.format(v)
        return str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)
