"""The README's result tables, generated from the shipped results store (``results/<name>/``).

The README shows results between markers, ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``; this script
writes them from the files under ``results/`` (never from checkpoints), and ``tests/test_readme_results.py`` checks
that the README and the shipped files agree.

    python paper_figures/readme_tables.py            # print every table
    python paper_figures/readme_tables.py --write    # rewrite the README's tables from results/
    python paper_figures/readme_tables.py --check    # exit 1 when the README's tables differ from results/
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from paper_figures.common import MissingResultsError, figure1_setting, load_sweep, paper_figure1
from paper_figures.optimizer_zoo import markdown, relabel, table
from paper_figures.report import setting_table, side_by_side_table
from robustopt.io import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
MARKER = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def _protocol_sweep(runs: Path):
    """The final-epoch sweep when it holds results, else the matched-accuracy one; and the protocol's words."""
    sweep = load_sweep(runs, require_completed=False)
    if any(r.evals for r in sweep.runs):
        return sweep, "the final epoch (the paper's protocol)"
    matched = sweep.as_protocol("matched")
    return matched, "matched standard accuracy (each run at the first epoch reaching the same test accuracy)"


def fashion_mnist(results: Path = RESULTS / "fashion_mnist") -> str:
    """Figure 1 of the paper, ours beside the paper's, from ``results/fashion_mnist``."""
    sweep, words = _protocol_sweep(results / "runs")
    settings = {ds: figure1_setting(sweep, ds) for ds in sweep.datasets}
    unfinished = [r for r in sweep.runs if r.status != "completed"]
    lines = [f"Evaluated at {words}; mean ± half-width of the 95% interval over seeds (one seed: the value alone).", ""]
    if unfinished:
        done = ", ".join(f"{r.optimizer} seed {r.seed}: {(r.summary.get('matched') or {}).get('epochs_done')} of "
                         f"{r.config.get('epochs')} epochs" for r in unfinished)
        lines += [f"Runs still training when evaluated ({done}).", ""]
    lines += [setting_table(sweep), "", side_by_side_table(sweep, settings, paper_figure1()), ""]
    return "\n".join(lines)


def optimizer_zoo(results: Path = RESULTS / "optimizer_zoo") -> str:
    """The optimizer-zoo table (final epoch) from ``results/optimizer_zoo``."""
    sweep = relabel(load_sweep(results / "runs"))
    lines = []
    for ds in sweep.datasets:
        header, rows = table(sweep, ds)
        lines += [markdown(header, rows), ""]
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {"fashion_mnist": fashion_mnist, "optimizer_zoo": optimizer_zoo}


def readme_blocks(text: str) -> dict[str, str]:
    """``{name: the README's text between the markers}``."""
    return {m.group("name"): m.group("body") for m in MARKER.finditer(text)}


def render(text: str) -> str:
    """The README with every marked table regenerated from ``results/``."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise MissingResultsError(f"README marker results:{name} has no table; known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name]() + m.group(4)
    return MARKER.sub(fill, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's tables from results/")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README differs from results/")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text()
        new = render(text)
        if args.write:
            atomic_write_text(args.readme, new)
        elif args.check:
            if new != text:
                print(f"error: the tables of {args.readme} differ from results/; run python paper_figures/readme_tables.py --write",
                      file=sys.stderr)
                return 1
        else:
            for name, fn in TABLES.items():
                print(f"## {name}\n\n{fn()}")
    except MissingResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
