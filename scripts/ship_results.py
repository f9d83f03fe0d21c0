"""Copy the small result files of a reproduction into the repository's results store, with their provenance.

    python scripts/ship_results.py --name fashion_mnist --sweep outputs/multiruns/paper_fashion_mnist \\
        [--irrelevant-freq outputs/multiruns/irrelevant_freq] [--linear-theory outputs/runs/linear_theory_paper] \\
        [--report outputs/reproduce/fashion-mnist] [--note "CPU, seed 0 only"]

Writes ``results/<name>/``:

* ``runs/<run>/`` -- each run's ``config.yaml``, ``meta.json``, ``summary.json`` and ``metrics.jsonl``
  (never a checkpoint),
  so ``paper_figures/report.py --sweep results/<name>/runs`` redraws everything;
* ``irrelevant_freq/<run>/`` and ``linear_theory/`` likewise (the theory's trajectories and surface too);
* ``sweep_results.csv`` / ``.json`` (the sweep table), ``report.md`` and ``figures/*.png`` when ``--report`` is given;
* ``PROVENANCE.md``: the hardware, commit, date, package versions and what is complete, taken from the runs' meta.

Every file is written atomically; an existing ``results/<name>`` is replaced only with ``--replace``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from robustopt.errors import RobustOptError
from robustopt.io import atomic_write_bytes, atomic_write_text
from robustopt.meta import cpu_model
from robustopt.rundir import find_runs

RUN_FILES = ("config.yaml", "meta.json", "summary.json", "metrics.jsonl")
THEORY_FILES = RUN_FILES + ("surface.json", "trajectories_population.json", "trajectories_sampled.json")
REPO = Path(__file__).resolve().parents[1]


def _copy(src: Path, dst: Path) -> None:
    atomic_write_bytes(dst, src.read_bytes())


def _copy_runs(root: Path, dest: Path, files=RUN_FILES) -> list[dict]:
    out = []
    for run in find_runs(root):
        target = dest / run.path.relative_to(root)
        for name in files:
            if (run.path / name).exists():
                _copy(run.path / name, target / name)
        meta = json.loads((run.path / "meta.json").read_text()) if (run.path / "meta.json").exists() else {}
        out.append(
            {
                "run": str(run.path.relative_to(root)),
                "status": meta.get("status"),
                "meta": meta,
                "epochs_done": len(run.metrics()),
                "epochs": (run.config() or {}).get("epochs"),
            }
        )
    return out


def _provenance(name: str, runs: list[dict], note: str | None) -> str:
    metas = [r["meta"] for r in runs if r["meta"]]
    commits = sorted(
        {str(m.get("git", {}).get("commit") if isinstance(m.get("git"), dict) else m.get("git_commit")) for m in metas}
    )
    devices = sorted(
        {
            json.dumps(m.get("device"), sort_keys=True) if not isinstance(m.get("device"), str) else m["device"]
            for m in metas
        }
    )
    lines = [
        f"# results/{name}: provenance",
        "",
        f"Shipped {time.strftime('%Y-%m-%d %H:%M %Z')} by `scripts/ship_results.py`.",
        "",
    ]
    if note:
        lines += [note, ""]
    platforms = sorted({str(m.get("platform")) for m in metas if m.get("platform")})
    threads = sorted({str(m.get("cpu_threads")) for m in metas if m.get("cpu_threads") is not None})
    lines += [
        f"- git commit(s) of the runs: {', '.join(commits)}",
        f"- device(s): {', '.join(devices)}; torch CPU threads per run: {', '.join(threads) or '?'}",
        f"- platform: {', '.join(platforms) or '?'}; CPU of the machine that shipped them: {cpu_model()}",
    ]
    versions = next((m.get("versions") for m in metas if m.get("versions")), None)
    if versions:
        lines.append("- package versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    lines += ["", "| run | status | epochs done | epochs | first start | end |", "|---|---|---:|---:|---|---|"]
    for r in runs:
        m = r["meta"]
        lines.append(
            f"| {r['run']} | {r['status']} | {r['epochs_done']} | {r['epochs']} | "
            f"{m.get('first_start_time', m.get('start_time', '–'))} | {m.get('end_time', '–')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--irrelevant-freq")
    parser.add_argument("--linear-theory")
    parser.add_argument("--report", help="a report folder written by paper_figures/report.py (report.md, figures/)")
    parser.add_argument("--note", help="a sentence on what this is (e.g. hardware, what is incomplete)")
    parser.add_argument("--replace", action="store_true", help="replace an existing results/<name>")
    args = parser.parse_args(argv)
    dest = REPO / "results" / args.name
    try:
        sweep = Path(args.sweep)
        if not sweep.exists():
            raise RobustOptError(f"sweep folder {sweep} does not exist")
        if dest.exists():
            if not args.replace:
                raise RobustOptError(f"{dest} exists; pass --replace to replace it")
            shutil.rmtree(dest)
        runs = _copy_runs(sweep, dest / "runs")
        if not runs:
            raise RobustOptError(f"no run directories under {sweep}")
        for table in ("sweep_results.csv", "sweep_results.json"):
            if (sweep / table).exists():
                _copy(sweep / table, dest / table)
        if args.irrelevant_freq:
            runs += _copy_runs(Path(args.irrelevant_freq), dest / "irrelevant_freq")
        if args.linear_theory:
            lt = Path(args.linear_theory)
            for name in THEORY_FILES:
                if (lt / name).exists():
                    _copy(lt / name, dest / "linear_theory" / name)
        if args.report:
            rep = Path(args.report)
            _copy(rep / "report.md", dest / "report.md")
            for png in sorted((rep / "figures").rglob("*.png")):
                _copy(png, dest / "figures" / png.relative_to(rep / "figures"))
            for md in sorted((rep / "figures").rglob("*.md")):
                _copy(md, dest / "figures" / md.relative_to(rep / "figures"))
        atomic_write_text(dest / "PROVENANCE.md", _provenance(args.name, runs, args.note))
    except RobustOptError as exc:
        print(f"error: {exc}")
        return 2
    print(dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
