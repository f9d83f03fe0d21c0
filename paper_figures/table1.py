"""The paper's Table 1: Lipschitz bounds of the trained networks per optimizer and data set (Markdown + LaTeX).

Ma, Pan & Farahmand (TMLR 2023), Table 1: networks trained with SGD have much smaller Lipschitz upper
bounds (product of per-layer Lipschitz constants) than the same networks trained with Adam or RMSprop.
Our table has, per data set and optimizer (geometric mean [95% interval] over seeds, on the log scale; the value
alone for one seed), one column per quantity, each named in its header:

* the paper's quantity (``paper_bound``: the authors' reshaped-kernel product, exactly their code; not a
  Lipschitz bound, see :func:`robustopt.lipschitz.paper_bound`);
* the product of the layers' exact operator norms (``operator_norm_product``);
* the certified upper bound (``certified_upper_bound``);
* the empirical lower bound (``empirical_lower_bound``).

Summaries written before these names existed are read through their old keys (``norm_product``,
``upper_bound``, ``lower_bound``); their ``reshaped_kernel_product`` is *not* the paper's quantity and is
not shown.

    python paper_figures/table1.py outputs/multiruns/reproduce_quick [--out DIR]

Reads the ``lipschitz`` evaluation from the runs' ``summary.json``; never computes a bound.  Writes
``table1.md`` and ``table1.tex`` into ``DIR`` (default ``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from paper_figures.cli import figure_main
from paper_figures.style import dataset_label, label
from robustopt.io import atomic_write_text
from robustopt.stats import CONFIDENCE, log_interval
from robustopt.tracking.store import Stat, Sweep, load_sweep, per_optimizer


@dataclass(frozen=True)
class Column:
    """One quantity: ``key`` names it in the rows, ``header`` in the table, ``keys`` are the result keys tried in
    order."""

    key: str
    header: str
    keys: tuple[str, ...]


COLUMNS = (
    Column("paper bound", "paper's quantity: reshaped-kernel product (authors' code)", ("paper_bound",)),
    Column("operator norm product", "product of exact layer operator norms", ("operator_norm_product", "norm_product")),
    Column("upper bound", "certified upper bound", ("certified_upper_bound", "upper_bound")),
    Column("lower bound", "empirical lower bound", ("empirical_lower_bound", "lower_bound")),
)
#: Two-sided confidence level of the intervals over seeds (:data:`robustopt.stats.CONFIDENCE`).
LEVEL = CONFIDENCE


def interval(s: Stat) -> float | None:
    """Half-width of the two-sided ``LEVEL`` Student-t interval of the mean over seeds (None for one seed;
    :func:`robustopt.stats.mean_interval`)."""
    if s.n < 2:
        return None
    return s.interval.half_width


def _lookup(result: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = result.get(k)
        if isinstance(v, dict):  # e.g. {"value": ...} or {"bound": ...}
            v = v.get("value", v.get("bound"))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def table1_rows(sweep: Sweep) -> list[dict]:
    """One row per (data set, optimizer): ``{dataset, optimizer, seeds, <Column.key>: Stat | None}``."""
    rows = []
    for ds in sweep.datasets:
        runs = sweep.select(ds)
        stats = {
            c.key: per_optimizer(runs, lambda r, keys=c.keys: _lookup(r.evals.get("lipschitz") or {}, keys))
            for c in COLUMNS
        }
        for opt in sweep.optimizers(ds):
            row = {"dataset": ds, "optimizer": opt, "seeds": len([r for r in runs if r.optimizer == opt])}
            row.update({c.key: stats[c.key].get(opt) for c in COLUMNS})
            rows.append(row)
    return rows


def _sci(s: Stat | None, latex: bool = False) -> str:
    """The geometric mean over seeds and its 95% interval on the log scale, ``gm [low, high]``
    (:func:`robustopt.stats.log_interval`: Lipschitz quantities are positive and skewed, and a symmetric interval
    would reach below zero), 3 significant digits, one power of ten for large or small numbers; the value alone for
    one seed; ``mean ± t half-width`` for values that are not all positive."""
    if s is None:
        return "–" if not latex else "--"
    if any(v <= 0 for v in s.values):
        hw = interval(s)
        return f"{s.mean:.3g}" + (f" ± {hw:.2g}" if hw is not None else "")
    iv = log_interval(s.values, LEVEL)
    exp = int(math.floor(math.log10(iv.mean))) if (iv.mean >= 1e4 or iv.mean < 1e-2) else 0
    f = lambda x: f"{x / 10**exp:.3g}"  # noqa: E731
    text = f(iv.mean) + (f" [{f(iv.low)}, {f(iv.high)}]" if s.n > 1 else "")
    if latex:
        return "$" + text + (f" \\times 10^{{{exp}}}" if exp else "") + "$"
    return text + (f" × 10^{exp}" if exp else "")


def present_columns(rows: list[dict]) -> list[Column]:
    """The columns with at least one value (the paper's quantity only for c2 / preact_resnet18 runs)."""
    return [c for c in COLUMNS if any(r[c.key] is not None for r in rows)]


def markdown(rows: list[dict]) -> str:
    """Table 1 as a Markdown table."""
    cols = present_columns(rows)
    lines = [
        "| data set | optimizer | seeds | " + " | ".join(c.header for c in cols) + " |",
        "|---|---|---:|" + "---:|" * len(cols),
    ]
    for r in rows:
        lines.append(
            f"| {dataset_label(r['dataset'])} | {label(r['optimizer'])} | {r['seeds']} | "
            + " | ".join(_sci(r[c.key]) for c in cols)
            + " |"
        )
    note = (
        f"Geometric mean [{LEVEL:.0%} interval] over seeds, on the log scale (positive, skewed quantities; the value "
        "alone for one seed)."
    )
    if COLUMNS[0] in cols:
        note += (
            " The paper's quantity is not a Lipschitz bound (reshaped kernels, pooling counted as 1); "
            "the certified upper bound is one."
        )
    lines += ["", note]
    return "\n".join(lines)


def latex(rows: list[dict]) -> str:
    """Table 1 as a LaTeX ``table`` (booktabs)."""
    cols = present_columns(rows)
    esc = lambda t: t.replace("'", "'").replace("&", r"\&")  # noqa: E731
    out = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{ll" + "r" * len(cols) + "}",
        r"\toprule",
        "Data set & Optimizer & " + " & ".join(esc(c.header[0].upper() + c.header[1:]) for c in cols) + r" \\",
        r"\midrule",
    ]
    last = None
    for r in rows:
        if last is not None and r["dataset"] != last:
            out.append(r"\midrule")
        ds = dataset_label(r["dataset"]) if r["dataset"] != last else ""
        out.append(f"{ds} & {label(r['optimizer'])} & " + " & ".join(_sci(r[c.key], latex=True) for c in cols) + r" \\")
        last = r["dataset"]
    out += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{Lipschitz quantities of the trained networks (geometric mean [95\% interval] over seeds, on the "
        r"log scale). Paper's quantity: the authors' product of reshaped-kernel singular values (not a Lipschitz "
        r"bound); product of the layers' exact operator norms; certified upper bound; empirical lower bound (largest "
        r"input-gradient norm / difference quotient found). Cf.\ Table~1 of Ma, Pan \& Farahmand (2023).}",
        r"\label{tab:lipschitz}",
        r"\end{table}",
    ]
    return "\n".join(out)


def make(sweeps: list[str], out: str | None = None, allow_partial: bool = False) -> list[Path]:
    """Write ``table1.md`` and ``table1.tex``; returns their paths."""
    sweep = load_sweep(sweeps).require("lipschitz", allow_partial)
    rows = table1_rows(sweep)
    out_dir = Path(out) if out else sweep.roots[0] / "figures"
    md = atomic_write_text(out_dir / "table1.md", markdown(rows) + "\n")
    tex = atomic_write_text(out_dir / "table1.tex", latex(rows) + "\n")
    return [Path(md), Path(tex)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folder(s) of trained and evaluated runs")
    parser.add_argument("--out", help="output folder (default: <first sweep>/figures)")
    parser.add_argument(
        "--allow-partial", action="store_true", help="use the runs that have the evaluation, skip the others"
    )
    args = parser.parse_args(argv)

    return figure_main(
        lambda: make(args.sweeps, args.out, args.allow_partial), show=lambda paths: print(Path(paths[0]).read_text())
    )


if __name__ == "__main__":
    raise SystemExit(main())
