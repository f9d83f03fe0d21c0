"""Beyond the paper: the optimizer zoo -- robustness, Lipschitz bounds and sharpness of each optimizer's models.

Ma, Pan & Farahmand (TMLR 2023) compare SGD with Adam and RMSprop.  This table asks the same questions of every
optimizer in robustopt's zoo, each trained at the learning rate it chose on a validation split (the fair
protocol: scripts/optimizer_zoo.sh).  Per optimizer (mean ± half-width of the 95% t-interval over seeds,
:func:`robustopt.stats.mean_interval`; "—" where a result is missing): standard accuracy, Gaussian-noise
accuracy, L2 and L∞ AutoAttack accuracy (the strongest stored attack at the one stored eps), the accuracy lost
under noise in the upper half of the DCT bands, the Lipschitz quantities (``paper_bound``,
``certified_upper_bound``) and the Hessian's top eigenvalue and trace (the ``sharpness`` evaluation:
``eval.sharpness.top_eigenvalue`` / ``trace``) -- at the final epoch and at matched standard accuracy.

Scatter plots over runs put robust accuracy against sharpness and against the Lipschitz bound, each with its
Spearman rank correlation and a seeded bootstrap interval (runs resampled).  The claim "sharper minima are less
robust" (a negative correlation between the top eigenvalue and L∞ robust accuracy) gets a verdict under the rule of
the paper's claims: **holds** when the 95% interval excludes 0 on the predicted (negative) side, **contradicted**
when it excludes 0 on the other side, **inconclusive** otherwise, always with the reason.

    python paper_figures/optimizer_zoo.py outputs/multiruns/optimizer_zoo_final [--out DIR] [--budget TEXT]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata, spearmanr

from paper_figures.claims import band_halves
from paper_figures.common import (
    MissingResultsError,
    Run,
    Sweep,
    cli_main,
    gaussian_accuracy,
    load_sweep,
    robust_accuracy,
    stored_eps,
    stored_variances,
)
from robustopt.io import atomic_write_text
from robustopt.stats import CONTRADICTED, HOLDS, INCONCLUSIVE, Interval, Verdict, mean_interval
from robustopt.train.lr_select import optimizer_label

MISSING = "—"
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Column:
    """One quantity of the table: its header, how it is read from a run, and how it is shown."""

    key: str
    header: str
    value: Callable[[Run], float | None]
    scale: float = 1.0  # 100: accuracies as percentages
    digits: int = 2


def _eval(run: Run, name: str, key: str) -> float | None:
    value = (run.evals.get(name) or {}).get(key)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def high_band_drop(run: Run, basis: str = "dct") -> float | None:
    """Mean accuracy lost under band-limited noise over the upper half of the bands (:func:`band_halves`)."""
    drops = ((run.evals.get("band_noise") or {}).get(basis) or {}).get("drop")
    if not drops:
        return None
    _, high = band_halves(len(drops))
    return float(np.mean([float(drops[i]) for i in high]))


def columns(sweep: Sweep, dataset: str) -> list[Column]:
    """The table's columns, with the noise variance and attack eps the runs store (the largest of each)."""
    variances = stored_variances(sweep, dataset)
    var = variances[-1] if variances else None
    eps = {norm: (stored_eps(sweep, dataset, norm) or [None])[-1] for norm in ("l2", "linf")}
    cols = [Column("standard", "standard acc. (%)", lambda r: r.test_accuracy, 100)]
    cols.append(Column("gaussian", f"Gaussian noise acc. (%, var {var:g})" if var is not None else "Gaussian noise acc. (%)",
                       lambda r: gaussian_accuracy(r, var) if var is not None else None, 100))
    for norm, shown in (("l2", "L2"), ("linf", "L∞")):
        e = eps[norm]
        eps_text = "" if e is None else f", eps {e:.3g}" if norm == "l2" else f", eps {e * 255:.3g}/255"
        cols.append(Column(f"robust_{norm}", f"{shown} AutoAttack acc. (%{eps_text})",
                           lambda r, norm=norm, e=e: robust_accuracy(r, norm, e) if e is not None else None, 100))
    cols += [
        Column("high_band_drop", "high-band noise drop (points)", high_band_drop, 100),
        Column("paper_bound", "Lipschitz: paper_bound", lambda r: _eval(r, "lipschitz", "paper_bound"), 1, 3),
        Column("certified_upper_bound", "Lipschitz: certified_upper_bound",
               lambda r: _eval(r, "lipschitz", "certified_upper_bound"), 1, 3),
        Column("top_eigenvalue", "Hessian top eigenvalue", lambda r: _eval(r, "sharpness", "top_eigenvalue"), 1, 3),
        Column("trace", "Hessian trace", lambda r: _eval(r, "sharpness", "trace"), 1, 3),
    ]
    return cols


def relabel(sweep: Sweep) -> Sweep:
    """The runs named by their optimizer config (``lookahead(adam)``), not just its ``name``."""
    for run in sweep.runs:
        run.optimizer = optimizer_label(run.config.get("optimizer") or {"name": run.optimizer})
    return sweep


def cell(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± half-width`` of the 95% t-interval; the mean alone for one value; "—" for none."""
    if not values:
        return MISSING
    iv = mean_interval(values)
    m = f"{iv.mean * scale:.{digits}g}" if abs(iv.mean * scale) >= 1e4 else f"{iv.mean * scale:.{digits}f}"
    if not iv.defined:
        return f"{m} (n=1)"
    return f"{m} ± {(iv.high - iv.mean) * scale:.{digits}f}"


def table(sweep: Sweep, dataset: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per optimizer) of the zoo table of ``dataset``."""
    cols = columns(sweep, dataset)
    rows = []
    for opt in _optimizers(sweep, dataset):
        runs = sweep.select(dataset, opt)
        row = [opt, str(len(runs))]
        for c in cols:
            vals = [v for v in (c.value(r) for r in runs) if v is not None]
            row.append(cell(vals, c.scale, c.digits))
        rows.append(row)
    return ["optimizer", "seeds", *[c.header for c in cols]], rows


def _optimizers(sweep: Sweep, dataset: str) -> list[str]:
    return sorted({r.optimizer for r in sweep.select(dataset)})


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- correlations ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correlation:
    """Spearman's rank correlation of two quantities over runs, with a bootstrap interval (runs resampled)."""

    x: str
    y: str
    rho: float
    low: float
    high: float
    n: int
    points: tuple  # (x, y, optimizer) per run


def correlation(runs: Sequence[Run], x: Column, y: Column, *, samples: int = BOOTSTRAP_SAMPLES,
                seed: int = BOOTSTRAP_SEED, confidence: float = 0.95) -> Correlation | None:
    """Spearman's rho of ``y`` against ``x`` over the runs that have both, and its percentile bootstrap interval
    (``samples`` resamples of the runs with replacement, ``numpy.random.default_rng(seed)``; resamples whose
    values are all tied are skipped).  None with fewer than 3 runs."""
    pts = [(x.value(r), y.value(r), r.optimizer) for r in runs]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if len(pts) < 3:
        return None
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    rho = float(spearmanr(xs, ys).statistic)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(samples):
        idx = rng.integers(0, len(pts), len(pts))
        if np.ptp(xs[idx]) == 0 or np.ptp(ys[idx]) == 0:
            continue
        boot.append(float(np.corrcoef(rankdata(xs[idx]), rankdata(ys[idx]))[0, 1]))  # Spearman: Pearson of ranks
    alpha = (1 - confidence) / 2
    low, high = (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha))) if boot else (math.nan, math.nan)
    return Correlation(x.key, y.key, rho, low, high, len(pts), tuple(pts))


def verdict_sharper_less_robust(corr: Correlation | None) -> Verdict:
    """"Sharper minima are less robust": the rank correlation of top eigenvalue and robust accuracy is negative."""
    if corr is None:
        return Verdict(INCONCLUSIVE, "fewer than 3 runs hold both the sharpness and the robust accuracy "
                                     "(run the sharpness evaluation: evaluations=[sharpness])")
    shown = f"Spearman rho {corr.rho:+.2f}, 95% bootstrap interval [{corr.low:+.2f}, {corr.high:+.2f}] over {corr.n} runs"
    iv = Interval(corr.rho, corr.low, corr.high, corr.n, math.nan)
    if not (math.isfinite(corr.low) and math.isfinite(corr.high)):
        return Verdict(INCONCLUSIVE, f"no bootstrap interval ({shown})", iv)
    if corr.high < 0:
        return Verdict(HOLDS, shown, iv)
    if corr.low > 0:
        return Verdict(CONTRADICTED, shown, iv)
    return Verdict(INCONCLUSIVE, f"the interval contains 0 ({shown})", iv)


def scatter(corr: Correlation, xlabel: str, ylabel: str, path: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, ax = plt.subplots(figsize=(7, 4))
    names = sorted({p[2] for p in corr.points})
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        xs = [p[0] for p in corr.points if p[2] == name]
        ys = [p[1] * 100 for p in corr.points if p[2] == name]
        ax.scatter(xs, ys, label=name, color=cmap(i % 20), s=22)
    if min(p[0] for p in corr.points) > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor-tick labels of a short log range overlap
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"Spearman ρ {corr.rho:+.2f} [{corr.low:+.2f}, {corr.high:+.2f}], n={corr.n}", fontsize=9)
    ax.legend(fontsize=6, ncol=1, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    out = []
    for ext in ("png", "pdf"):
        target = path.with_suffix(f".{ext}")
        fig.savefig(target, dpi=150)
        out.append(target)
    plt.close(fig)
    return out


def report(roots: Sequence[str | Path], out: Path, budget: str = "", plots: bool = True) -> str:
    """Write ``optimizer_zoo.md`` (tables under both protocols, correlations, the verdict) and the scatter plots."""
    out.mkdir(parents=True, exist_ok=True)
    final = relabel(load_sweep(roots))
    parts = ["# The optimizer zoo", ""]
    if budget:
        parts += [f"Budget: {budget}", ""]
    parts += ["Each optimizer at the learning rate it chose on a validation split (same grid around its default, "
              "same budget); mean ± half-width of the 95% t-interval over seeds; — where a result is missing.", ""]
    for protocol in ("final", "matched"):
        try:
            sweep = final if protocol == "final" else relabel(final.as_protocol("matched"))
        except MissingResultsError as exc:
            parts += [f"## {protocol} protocol", "", f"not available: {exc}", ""]
            continue
        for ds in sweep.datasets:
            header, rows = table(sweep, ds)
            title = "final epoch" if protocol == "final" else "matched standard accuracy"
            parts += [f"## {ds}, {title}", "", markdown(header, rows), ""]
            cols = {c.key: c for c in columns(sweep, ds)}
            runs = sweep.select(ds)
            for xkey, xlabel in (("top_eigenvalue", "Hessian top eigenvalue"), ("paper_bound", "Lipschitz paper_bound")):
                for ykey in ("robust_linf", "robust_l2"):
                    corr = correlation(runs, cols[xkey], cols[ykey])
                    if corr is None:
                        parts.append(f"- {cols[ykey].header} vs {xlabel}: {MISSING} (fewer than 3 runs with both)")
                        continue
                    parts.append(f"- {cols[ykey].header} vs {xlabel}: Spearman rho {corr.rho:+.2f} "
                                 f"[{corr.low:+.2f}, {corr.high:+.2f}] (n={corr.n}, {BOOTSTRAP_SAMPLES} bootstrap "
                                 f"resamples of runs, seed {BOOTSTRAP_SEED})")
                    if plots:
                        scatter(corr, xlabel, cols[ykey].header, out / f"zoo_{protocol}_{ds}_{ykey}_vs_{xkey}")
            verdict = verdict_sharper_less_robust(correlation(runs, cols["top_eigenvalue"], cols["robust_linf"]))
            parts += ["", f"**Claim: sharper minima are less robust** ({ds}, {protocol}): **{verdict.label}** -- "
                          f"{verdict.reason}", ""]
    text = "\n".join(parts) + "\n"
    atomic_write_text(out / "optimizer_zoo.md", text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="sweep folder(s) of the final zoo runs")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first root>/figures)")
    parser.add_argument("--budget", default="", help="a line describing the budget (written into the report)")
    args = parser.parse_args(argv)
    text = report(args.roots, args.out or Path(args.roots[0]) / "figures", args.budget)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_main(main))
