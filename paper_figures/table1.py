"""The paper's Table 1: Lipschitz bounds of the trained networks per optimizer and data set (Markdown + LaTeX).

Ma, Pan & Farahmand (TMLR 2023), Table 1: networks trained with SGD have much smaller Lipschitz upper
bounds (product of per-layer Lipschitz constants) than the same networks trained with Adam or RMSprop.
Our table has, per data set and optimizer (mean ± std over seeds): the certified upper bound (product of the
layers' true operator norms), the paper's own quantity (product of reshaped-kernel norms) when the
evaluation stores it, and our empirical lower bound.

    python paper_figures/table1.py outputs/multiruns/reproduce_quick [--out DIR]

Reads the ``lipschitz`` evaluation from the runs' ``summary.json``; never computes a bound.  Writes
``table1.md`` and ``table1.tex`` into ``DIR`` (default ``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `paper_figures` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper_figures.common import Stat, Sweep, cli_main, dataset_label, load_sweep, per_optimizer  # noqa: E402
from paper_figures.style import label  # noqa: E402
from robustopt.io import atomic_write_text  # noqa: E402

#: Columns: (title, keys of the lipschitz result tried in order).
COLUMNS = (
    ("upper bound", ("upper_bound",)),
    ("paper's bound (reshaped kernels)", ("reshaped_kernel_product",)),
    ("lower bound", ("lower_bound",)),
)


def _lookup(result: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = result.get(k)
        if isinstance(v, dict):  # e.g. {"value": ...} or {"bound": ...}
            v = v.get("value", v.get("bound"))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def table1_rows(sweep: Sweep) -> list[dict]:
    """One row per (data set, optimizer): ``{dataset, optimizer, seeds, <column title>: Stat | None}``."""
    rows = []
    for ds in sweep.datasets:
        runs = sweep.select(ds)
        stats = {title: per_optimizer(runs, lambda r, keys=keys: _lookup(r.evals.get("lipschitz") or {}, keys)) for title, keys in COLUMNS}
        for opt in sweep.optimizers(ds):
            row = {"dataset": ds, "optimizer": opt, "seeds": len([r for r in runs if r.optimizer == opt])}
            row.update({title: stats[title].get(opt) for title, _ in COLUMNS})
            rows.append(row)
    return rows


def _sci(s: Stat | None, latex: bool = False) -> str:
    """``mean ± std`` with 3 significant digits (scientific notation for large or small numbers)."""
    if s is None:
        return "–" if not latex else "--"
    big = abs(s.mean) >= 1e4 or (0 < abs(s.mean) < 1e-2)
    if big:
        exp = int(math.floor(math.log10(abs(s.mean))))
        m, sd = s.mean / 10**exp, s.std / 10**exp
        if latex:
            return f"${m:.2f}" + (f" \\pm {sd:.2f}" if s.n > 1 else "") + f" \\times 10^{{{exp}}}$"
        return f"{m:.2f}" + (f" ± {sd:.2f}" if s.n > 1 else "") + f" × 10^{exp}"
    if latex:
        return f"${s.mean:.3g}" + (f" \\pm {s.std:.2g}" if s.n > 1 else "") + "$"
    return f"{s.mean:.3g}" + (f" ± {s.std:.2g}" if s.n > 1 else "")


def present_columns(rows: list[dict]) -> list[str]:
    """Column titles with at least one value (the paper's bound is only there when the evaluation stores it)."""
    return [title for title, _ in COLUMNS if any(r[title] is not None for r in rows)]


def markdown(rows: list[dict]) -> str:
    """Table 1 as a Markdown table."""
    cols = present_columns(rows)
    lines = ["| data set | optimizer | seeds | " + " | ".join(cols) + " |", "|---|---|---:|" + "---:|" * len(cols)]
    for r in rows:
        lines.append(f"| {dataset_label(r['dataset'])} | {label(r['optimizer'])} | {r['seeds']} | "
                     + " | ".join(_sci(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def latex(rows: list[dict]) -> str:
    """Table 1 as a LaTeX ``table`` (booktabs)."""
    cols = present_columns(rows)
    esc = lambda t: t.replace("'", "'").replace("&", r"\&")  # noqa: E731
    out = [r"\begin{table}[t]", r"\centering", r"\small",
           r"\begin{tabular}{ll" + "r" * len(cols) + "}", r"\toprule",
           "Data set & Optimizer & " + " & ".join(esc(c[0].upper() + c[1:]) for c in cols) + r" \\", r"\midrule"]
    last = None
    for r in rows:
        if last is not None and r["dataset"] != last:
            out.append(r"\midrule")
        ds = dataset_label(r["dataset"]) if r["dataset"] != last else ""
        out.append(f"{ds} & {label(r['optimizer'])} & " + " & ".join(_sci(r[c], latex=True) for c in cols) + r" \\")
        last = r["dataset"]
    out += [r"\bottomrule", r"\end{tabular}",
            r"\caption{Lipschitz bounds of the trained networks (mean $\pm$ std over seeds). Upper bound: product of the "
            r"layers' operator norms; lower bound: largest input-gradient norm found. Cf.\ Table~1 of Ma, Pan \& Farahmand (2023).}",
            r"\label{tab:lipschitz}", r"\end{table}"]
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
    parser.add_argument("--allow-partial", action="store_true", help="use the runs that have the evaluation, skip the others")
    args = parser.parse_args(argv)

    def run():
        paths = make(args.sweeps, args.out, args.allow_partial)
        print(Path(paths[0]).read_text())
        print("\n".join(map(str, paths)))

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
