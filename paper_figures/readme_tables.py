"""The README's result tables, generated from the shipped results store (``results/<name>/``).

The README shows results between markers, ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``; this script
writes them from the files under ``results/`` (never from checkpoints), and ``tests/test_readme_results.py`` checks
that the README and the shipped files agree.

    python paper_figures/readme_tables.py            # print every table
    python paper_figures/readme_tables.py --write    # rewrite the README's tables from results/
    python paper_figures/readme_tables.py --check    # exit 1 when the README's tables differ from results/

``--results DIR`` reads another clone's store (``robustopt-reproduce`` refreshes the README of the repository it
ships into, which need not be the clone it runs from).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from paper_figures.claims import claim_band_noise, claim_lipschitz, claim_main
from paper_figures.figure1_data import figure1_setting
from paper_figures.optimizer_zoo import heading, load_chosen_lr, lr_cell, relabel, unmatched
from paper_figures.style import label
from paper_figures.tables import setting_table, side_by_side_table
from robustopt.cli.reproduce import FASHION_MNIST, ledger, ledger_summary, shipped_runs
from robustopt.errors import MissingResultsError
from robustopt.io import atomic_write_text, read_json
from robustopt.paper import figure1 as paper_figure1
from robustopt.tracking.store import load_sweep

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
MARKER = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)


def fashion_mnist(results: Path = RESULTS / "fashion_mnist") -> str:
    """Figure 1 of the paper from ``results/fashion_mnist``: the ledger's state, ours beside the paper's at the final
    epoch (the paper's protocol) for the runs shipped so far, and the bf16-against-fp32 evidence."""
    lines = [ledger_summary(ledger(results, FASHION_MNIST)), ""]
    if not shipped_runs(results, FASHION_MNIST):
        lines += ["No run of the recipe has finished yet.", ""]
    else:
        sweep = load_sweep(results / "runs")
        settings = {ds: figure1_setting(sweep, ds) for ds in sweep.datasets}
        lines += [
            "Final epoch (the paper's protocol); mean ± half-width of the 95% interval over seeds (one seed: the value "
            "alone); – where the evaluation is not shipped yet.",
            "",
            setting_table(sweep),
            "",
            side_by_side_table(sweep, settings, paper_figure1()),
            "",
        ]
        lines += verdicts(sweep, settings)
    evidence = results / "precision" / "precision.json"
    if evidence.exists():
        data = read_json(evidence)
        track = "; ".join(
            f"{label(o)} {t['max_abs_diff_points']:.2f} points (epoch {t['max_abs_diff_epoch']} of {t['epochs']})"
            for o, t in data["tracking"].items()
        )
        rows = [r for rows in data["short_schedule"]["rows"].values() for r in rows.values()]
        lines += [
            "bf16 against fp32 ([precision/report.md](results/fashion_mnist/precision/report.md)): largest "
            f"per-epoch test-accuracy difference from the fp32 reference runs (seed 0, 10,000 images): {track}; "
            f"short schedule, 3 seeds: {sum(r['contains_zero'] for r in rows)} of {len(rows)} paired bf16 − fp32 "
            "intervals contain zero (`paper_figures/precision.py`, tested in `tests/test_precision_report.py`).",
            "",
        ]
    return "\n".join(lines)


def verdicts(sweep, settings) -> list[str]:
    """The paper's claims on the shipped runs, each verdict from the tested rule (``paper_figures/claims.py``, tested by
    ``tests/test_claims.py`` and ``tests/test_stats.py``): one line per claim and scope, with the rule's reason."""
    found = []
    for ds in sweep.datasets:
        for name, check in (
            ("robust_accuracy", lambda sw, ds=ds: claim_main(sw, ds, settings[ds])),
            ("band_noise", lambda sw, ds=ds: claim_band_noise(sw, ds)),
            ("lipschitz", lambda sw, ds=ds: claim_lipschitz(sw, ds)),
        ):
            try:
                found += check(sweep.require(name, allow_partial=True))
            except MissingResultsError:
                continue
    if not found:
        return []
    lines = [
        "Verdicts of the tested rule (`paper_figures/claims.py`; its error rates are tested in `tests/test_claims.py` "
        "and `tests/test_stats.py`):",
        "",
    ]
    lines += [f"- {c.claim} ({c.scope}): **{c.verdict.label}**, {c.verdict.reason}" for c in found]
    return lines + [""]


def optimizer_zoo(results: Path = RESULTS / "optimizer_zoo") -> str:
    """One sentence on the optimizer zoo from ``results/optimizer_zoo`` (its tables live in ``optimizer_zoo.md``
    there): its budget, whether it is a finding, what keeps it from one, and the link."""
    sweep = relabel(load_sweep(results / "runs"))
    choices = load_chosen_lr([results / "runs"])
    parts = [f"{len(sweep.optimizers())} optimizers × {len({r.seed for r in sweep.runs})} seeds"]
    if choices:
        edges = sum(1 for c in choices.values() if lr_cell(c).endswith("**"))
        parts.append(f"{edges} of {len(choices)} learning rates at an edge of their grid")
    try:
        off = len(unmatched(sweep.as_protocol("matched").runs))
        parts.append(f"{off} of {len(sweep.runs)} runs not within the tolerance of their matched-accuracy target")
    except MissingResultsError:
        pass
    h = heading(sweep)
    return (
        h[0].upper() + h[1:] + "; " + "; ".join(parts) + ". Its tables, rank correlations, verdicts and plots are in "
        "[optimizer_zoo.md](results/optimizer_zoo/optimizer_zoo.md).\n"
    )


TABLES: dict[str, Callable[[], str]] = {"fashion_mnist": fashion_mnist, "optimizer_zoo": optimizer_zoo}


def readme_blocks(text: str) -> dict[str, str]:
    """``{name: the README's text between the markers}``."""
    return {m.group("name"): m.group("body") for m in MARKER.finditer(text)}


def render(text: str, results: Path = RESULTS) -> str:
    """The README with every marked table regenerated from ``results`` (the folder holding ``results/<name>/``)."""

    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise MissingResultsError(f"README marker results:{name} has no table; known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name](results / name) + m.group(4)

    return MARKER.sub(fill, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's tables from results/")
    parser.add_argument("--check", action="store_true", help="exit 1 when the README differs from results/")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="the results store: the folder holding <name>/ (default: this clone's results/)",
    )
    args = parser.parse_args(argv)
    try:
        text = args.readme.read_text()
        new = render(text, args.results)
        if args.write:
            atomic_write_text(args.readme, new)
        elif args.check:
            if new != text:
                print(
                    f"error: the tables of {args.readme} differ from results/; run python "
                    "paper_figures/readme_tables.py --write",
                    file=sys.stderr,
                )
                return 1
        else:
            for name, fn in TABLES.items():
                print(f"## {name}\n\n{fn(args.results / name)}")
    except MissingResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
