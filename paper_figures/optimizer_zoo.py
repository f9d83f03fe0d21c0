"""Beyond the paper: the optimizer zoo -- robustness, Lipschitz bounds and sharpness of each optimizer's models.

Ma, Pan & Farahmand (TMLR 2023) compare SGD with Adam and RMSprop.  This table asks the same questions of every
optimizer in robustopt's zoo, each trained at the learning rate it chose on a validation split (the fair
protocol: scripts/optimizer_zoo.sh).  Per optimizer, "—" where a result is missing:

* accuracies (standard, Gaussian noise, L2 and L∞ AutoAttack -- the strongest stored attack at the one stored eps)
  and the accuracy lost under noise in the high DCT bands: mean ± half-width of the 95% interval that carries both
  the seeds' spread and the images' own sampling error -- the t-interval over seeds widened, where it is narrower, to
  the per-image one (Wilson's interval on the number of images for an accuracy; :func:`robustopt.stats.image_interval`
  on the per-image outcomes for the band-noise drop), so that "60.00 ± 0.00" on 25 images cannot appear; each header
  says on how many images the column was measured;
* positive, skewed quantities -- the Lipschitz quantities (``paper_bound``, ``certified_upper_bound``) and the
  Hessian's top eigenvalue and trace (the ``sharpness`` evaluation) -- as a geometric mean [95% interval] on the log
  scale (:func:`robustopt.stats.log_interval`), never below zero;

at the final epoch and at matched standard accuracy.

Scatter plots over runs put robust accuracy against sharpness and against the Lipschitz bound, each with its
Spearman rank correlation and a seeded **cluster** bootstrap interval: the optimizers are resampled, each keeping all
its seeds (the runs of one optimizer are not independent), and the correlation with standard accuracy partialled out
is reported beside it (robust accuracy may follow standard accuracy, and so may sharpness; the report also lists
robust accuracy's own rank correlation with standard accuracy).  Each plot names its data set and protocol; a run is a
hollow marker whose shape is its optimizer's family (:data:`FAMILIES`: SGD-like, Adam-like, other adaptive,
sign-based) and whose colour is the optimizer within the family, and markers that would coincide are drawn a few
points apart (the title says so).  The claim "sharper
minima are less robust" (a negative partial rank correlation between the top eigenvalue and L∞ robust accuracy, at
equal standard accuracy) gets a verdict under the rule of the paper's claims: **holds** when the 95% interval
excludes 0 on the predicted (negative) side, **contradicted** when it excludes 0 on the other side,
**inconclusive** otherwise, always with the reason.

    python paper_figures/optimizer_zoo.py outputs/multiruns/optimizer_zoo_final [--out DIR] [--budget TEXT]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata, spearmanr

from paper_figures.claims import TOLERANCES, band_halves, band_names, protocol_text
from paper_figures.cli import cli_main
from paper_figures.figure1_data import common_attack, gaussian_accuracy, robust_accuracy, stored_eps, stored_variances
from paper_figures.style import dataset_label
from robustopt.bits import decode_mask
from robustopt.errors import MissingResultsError
from robustopt.io import atomic_write_text
from robustopt.stats import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    Interval,
    Verdict,
    image_interval,
    log_interval,
    mean_interval,
    proportion_interval,
    widen,
)
from robustopt.tracking.store import Run, Sweep, load_sweep
from robustopt.train.lr_select import edge_of_grid, optimizer_label

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
    kind: str = "plain"  # accuracy (Wilson per-image error) | difference (per-image outcomes) | positive (log scale)
    images: Callable[[Run], int | None] | None = None  # accuracy: on how many images a run's value was measured
    outcomes: Callable[[Run], object] | None = None  # difference: per-image values whose mean is the run's value


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


def high_band_drop_outcomes(run: Run, basis: str = "dct") -> np.ndarray | None:
    """Per image: clean outcome minus the mean noisy outcome over the high bands (its mean is :func:`high_band_drop`);
    None when the per-image outcomes are not stored."""
    res = run.evals.get("band_noise") or {}
    clean, noisy = res.get("clean_correct"), ((res.get(basis) or {}).get("noisy_correct"))
    if not clean or not noisy or not all(noisy):
        return None
    c = decode_mask(clean).astype(float)
    _, high = band_halves(len(noisy))
    m = np.asarray([decode_mask(noisy[i]) for i in high], dtype=float)
    return c - m.mean(axis=0) if m.shape[1] == c.size else None


def _n(run: Run, name: str) -> int | None:
    n = (run.evals.get(name) or {}).get("n")
    return int(n) if n else None


def matched_gap(run: Run) -> float | None:
    """Under the matched protocol: how far above its seed's target accuracy the run was at the epoch it is evaluated
    at, on the split the epoch was chosen on (validation; a record of the older test-chosen rule: test).  With few
    epochs a run may overshoot the target by far: then it is not matched."""
    m = run.summary.get("matched") or {}
    acc = m.get("validation_accuracy_at_epoch", m.get("test_accuracy_at_epoch"))
    if acc is None or m.get("target_accuracy") is None:
        return None
    return float(acc) - float(m["target_accuracy"])


def unmatched(runs: Sequence[Run], tolerance: float | None = None) -> list[Run]:
    """The runs further from their seed's target accuracy than the tolerance of the paper's claims."""
    tol = TOLERANCES["standard_accuracy"] if tolerance is None else tolerance
    return [r for r in runs if (g := matched_gap(r)) is not None and abs(g) > tol]


def gap_cell(runs: Sequence[Run]) -> str:
    """Per seed, the matched run's distance to its target (points), and "not matched" beyond the tolerance."""
    gaps = [matched_gap(r) for r in sorted(runs, key=lambda r: (r.seed is None, r.seed))]
    if not any(g is not None for g in gaps):
        return MISSING
    text = " / ".join(MISSING if g is None else f"{100 * g:+.1f}" for g in gaps)
    return text + (" **not matched**" if unmatched(runs) else "")


def load_chosen_lr(roots: Sequence[str | Path], path: str | Path | None = None) -> dict:
    """``chosen_lr.json`` of the zoo's learning-rate sweep (``python -m robustopt.cli.zoo select``): ``path``, or the
    first found in a root or beside it; {} when there is none."""
    candidates = (
        [Path(path)]
        if path
        else [p for r in roots for p in (Path(r) / "chosen_lr.json", Path(r).parent / "chosen_lr.json")]
    )
    for c in candidates:
        if c.is_file():
            return json.loads(c.read_text())
    if path:
        raise MissingResultsError(
            f"{path} does not exist; it is written by `python -m robustopt.cli.zoo select SWEEP_DIR`"
        )
    return {}


def selection_seeds(chosen_lr: dict) -> str:
    """Which seed's runs the learning rates were chosen on, in words."""
    seeds = sorted({str(c.get("seed")) for c in chosen_lr.values() if c.get("seed") is not None})
    return f"seed {'/'.join(seeds)}'s runs" if seeds else "the learning-rate sweep's runs"


def lr_cell(choice: dict | None) -> str:
    """The chosen learning rate, its grid, and "edge of grid" when it is the smallest or largest lr tried."""
    if not choice:
        return MISSING
    scores = {float(k): float(v) for k, v in (choice.get("scores") or {}).items()}
    lr = float(choice["lr"])
    edge = choice.get("edge", edge_of_grid(scores, lr) if scores else None)
    text = f"{lr:g}" + (f" of {{{', '.join(f'{x:g}' for x in sorted(scores))}}}" if scores else "")
    if edge:
        text += f" **edge of grid ({'smallest' if edge == 'low' else 'largest'} tried)**"
    return text


def columns(sweep: Sweep, dataset: str) -> list[Column]:
    """The table's columns, with the noise variance and attack eps the runs store (the largest of each)."""
    variances = stored_variances(sweep, dataset)
    var = variances[-1] if variances else None
    eps = {norm: (stored_eps(sweep, dataset, norm) or [None])[-1] for norm in ("l2", "linf")}
    runs = sweep.select(dataset)

    def images(name: str, key: str = "n") -> str:
        ns = sorted({int(n) for n in ((r.evals.get(name) or {}).get(key) for r in runs) if n})
        return f", {'/'.join(str(n) for n in ns)} images" if ns else ""

    cols = [
        Column(
            "standard",
            f"standard acc. (%{images('clean')})",
            lambda r: r.test_accuracy,
            100,
            kind="accuracy",
            images=lambda r: _n(r, "clean"),
        )
    ]
    cols.append(
        Column(
            "gaussian",
            (f"Gaussian noise acc. (%, var {var:g}" if var is not None else "Gaussian noise acc. (%")
            + images("gaussian_noise")
            + ")",
            lambda r: gaussian_accuracy(r, var) if var is not None else None,
            100,
            kind="accuracy",
            images=lambda r: _n(r, "gaussian_noise"),
        )
    )
    for norm, shown in (("l2", "L2"), ("linf", "L∞")):
        e = eps[norm]
        eps_text = "" if e is None else f", eps {e:.3g}" if norm == "l2" else f", eps {e * 255:.3g}/255"
        cols.append(
            Column(
                f"robust_{norm}",
                f"{shown} AutoAttack acc. (%{eps_text}{images('robust_accuracy')})",
                lambda r, norm=norm, e=e, a=common_attack(runs, norm): (
                    robust_accuracy(r, norm, e, a) if e is not None else None
                ),
                100,
                kind="accuracy",
                images=lambda r: _n(r, "robust_accuracy"),
            )
        )
    nbands = sorted(
        {len(d) for d in (((r.evals.get("band_noise") or {}).get("dct") or {}).get("drop") for r in runs) if d}
    )
    bands = f", bands {band_names(nbands[0])[1]} of {nbands[0]}" if len(nbands) == 1 else ""
    cols += [
        Column(
            "high_band_drop",
            f"high-band noise drop (points{bands}{images('band_noise')})",
            high_band_drop,
            100,
            kind="difference",
            outcomes=high_band_drop_outcomes,
        ),
        Column(
            "paper_bound",
            "Lipschitz: paper_bound (geometric mean)",
            lambda r: _eval(r, "lipschitz", "paper_bound"),
            1,
            3,
            kind="positive",
        ),
        Column(
            "certified_upper_bound",
            "Lipschitz: certified_upper_bound (geometric mean)",
            lambda r: _eval(r, "lipschitz", "certified_upper_bound"),
            1,
            3,
            kind="positive",
        ),
        Column(
            "top_eigenvalue",
            f"Hessian top eigenvalue (geometric mean{images('sharpness', 'n_samples')})",
            lambda r: _eval(r, "sharpness", "top_eigenvalue"),
            1,
            3,
            kind="positive",
        ),
        Column(
            "trace",
            f"Hessian trace (geometric mean{images('sharpness', 'n_samples')})",
            lambda r: _eval(r, "sharpness", "trace"),
            1,
            3,
            kind="positive",
        ),
    ]
    return cols


def relabel(sweep: Sweep) -> Sweep:
    """The runs named by their optimizer config (``lookahead(adam)``), not just its ``name``."""
    for run in sweep.runs:
        run.optimizer = optimizer_label(run.config.get("optimizer") or {"name": run.optimizer})
    return sweep


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}g}" if abs(x) >= 1e4 else f"{x:.{digits}f}"


def cell(
    values: Sequence[float],
    scale: float = 1.0,
    digits: int = 2,
    *,
    images: int | None = None,
    outcomes: Sequence | None = None,
    log: bool = False,
) -> str:
    """One table cell from per-seed ``values``; "—" for none, the value and "(n=1)" for one.

    ``log``: positive skewed values, ``geometric mean [low, high]`` (:func:`robustopt.stats.log_interval`), to
    ``digits`` significant digits.
    Else ``mean ± half-width`` of the 95% t-interval over seeds, widened where it is narrower than the images' own
    error: ``images`` (accuracies measured on that many images: Wilson's interval) or ``outcomes`` (per seed, the
    per-image values behind each value, the same images: :func:`robustopt.stats.image_interval`).
    """
    if not values:
        return MISSING
    if log:  # ``digits`` significant digits
        iv = log_interval(values)

        def g(x: float) -> str:
            v = float(f"{x * scale:.{digits}g}")
            return f"{v:.0f}" if 10**digits <= abs(v) < 1e6 else f"{v:.{digits}g}"

        return f"{g(iv.mean)} (n=1)" if not iv.defined else f"{g(iv.mean)} [{g(iv.low)}, {g(iv.high)}]"
    iv = mean_interval(values)
    m = _num(iv.mean * scale, digits)
    if not iv.defined:
        return f"{m} (n=1)"
    if outcomes is not None:
        im = image_interval(outcomes)
        half = im.high - im.mean
        iv = widen(iv, iv.mean - half, iv.mean + half, im.n_images)
    elif images:
        low, high = proportion_interval(iv.mean * images, images)
        iv = widen(iv, low, high, images)
    return f"{m} ± {iv.half_width * scale:.{digits}f}"


def column_cell(c: Column, runs: Sequence[Run]) -> str:
    """The cell of column ``c`` over ``runs`` (one optimizer's seeds)."""
    vals, ns, outs = [], set(), []
    for r in runs:
        v = c.value(r)
        if v is None:
            continue
        vals.append(v)
        if c.images is not None:
            ns.add(c.images(r))
        if c.outcomes is not None:
            outs.append(c.outcomes(r))
    images = ns.pop() if c.kind == "accuracy" and len(ns) == 1 else None
    ok = [o for o in outs if o is not None]
    same = c.kind == "difference" and ok and len(ok) == len(vals) and len({o.size for o in ok}) == 1 and ok[0].size >= 2
    if c.kind == "positive" and any(v <= 0 for v in vals):
        return cell(vals, c.scale, c.digits)  # not positive after all: the plain interval
    return cell(vals, c.scale, c.digits, images=images, outcomes=ok if same else None, log=c.kind == "positive")


def table(sweep: Sweep, dataset: str, chosen_lr: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per optimizer) of the zoo table of ``dataset``; with ``chosen_lr`` (the learning-rate
    sweep's choices) a learning-rate column that marks a choice at an edge of its grid; under the matched protocol,
    a column of each seed's distance to its target accuracy, "not matched" beyond the tolerance."""
    cols = columns(sweep, dataset)
    matched = sweep.protocol == "matched"
    rows = []
    for opt in _optimizers(sweep, dataset):
        runs = sweep.select(dataset, opt)
        row = [opt, str(len(runs))]
        if chosen_lr:
            row.append(lr_cell(chosen_lr.get(opt)))
        if matched:
            row.append(gap_cell(runs))
        rows.append(row + [column_cell(c, runs) for c in cols])
    header = ["optimizer", "seeds"]
    if chosen_lr:
        header.append(f"learning rate (chosen on {selection_seeds(chosen_lr)} validation accuracy, of the grid tried)")
    if matched:
        tol = 100 * TOLERANCES["standard_accuracy"]
        header.append(f"accuracy above the seed's target at the matched epoch (points, per seed; tolerance {tol:g})")
    return header + [c.header for c in cols], rows


def _optimizers(sweep: Sweep, dataset: str) -> list[str]:
    return sorted({r.optimizer for r in sweep.select(dataset)})


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- correlations ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correlation:
    """Spearman's rank correlation of two quantities over runs, with a cluster-bootstrap interval (optimizers
    resampled, each with all its seeds); with ``z`` given, also the partial rank correlation with ``z`` held fixed
    and the rank correlation of ``y`` with ``z`` (nan where not computed)."""

    x: str
    y: str
    rho: float
    low: float
    high: float
    n: int
    points: tuple  # (x, y, optimizer) per run
    clusters: int = 0  # optimizers (the bootstrap's units)
    z: str = ""
    partial: float = math.nan
    partial_low: float = math.nan
    partial_high: float = math.nan
    rho_yz: float = math.nan
    rho_yz_low: float = math.nan
    rho_yz_high: float = math.nan


def _rank_corr(rx: np.ndarray, ry: np.ndarray) -> float:
    """Spearman's rho from ranks: Pearson's correlation of the ranks (nan when either is constant)."""
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def partial_spearman(xs, ys, zs) -> float:
    """Spearman's partial correlation of x and y given z: the partial correlation of the ranks,
    ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))`` (equal to the correlation of the residuals of the ranks
    of x and of y regressed on the ranks of z); nan when undefined."""
    rx, ry, rz = rankdata(xs), rankdata(ys), rankdata(zs)
    rxy, rxz, ryz = _rank_corr(rx, ry), _rank_corr(rx, rz), _rank_corr(ry, rz)
    den = (1 - rxz**2) * (1 - ryz**2)
    if not all(math.isfinite(v) for v in (rxy, rxz, ryz)) or den <= 1e-12:
        return math.nan
    return float((rxy - rxz * ryz) / math.sqrt(den))


def _quantiles(values: list[float], confidence: float) -> tuple[float, float]:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    return float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha))


def correlation(
    runs: Sequence[Run],
    x: Column,
    y: Column,
    *,
    z: Column | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> Correlation | None:
    """Spearman's rho of ``y`` against ``x`` over the runs that have both (and ``z``, when given), and its
    percentile **cluster** bootstrap interval: ``samples`` resamples of the optimizers with replacement, each drawn
    optimizer bringing all its runs (its seeds share the optimizer, so they are not independent draws);
    ``numpy.random.default_rng(seed)``; resamples whose values are all tied are skipped.  With ``z`` (standard
    accuracy): the partial rank correlation of x and y given z and the rank correlation of y and z, each with the
    same cluster bootstrap.  None with fewer than 3 runs."""
    pts = [(x.value(r), y.value(r), r.optimizer, z.value(r) if z is not None else 0.0) for r in runs]
    pts = [p for p in pts if p[0] is not None and p[1] is not None and p[3] is not None]
    if len(pts) < 3:
        return None
    xs, ys, zs = (np.array([p[i] for p in pts], dtype=float) for i in (0, 1, 3))
    names = sorted({p[2] for p in pts})
    members = [np.array([i for i, p in enumerate(pts) if p[2] == name]) for name in names]
    rho = float(spearmanr(xs, ys).statistic)
    rng = np.random.default_rng(seed)
    boot, boot_partial, boot_yz = [], [], []
    for _ in range(samples):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        rx, ry = rankdata(xs[idx]), rankdata(ys[idx])
        r = _rank_corr(rx, ry)
        if not math.isfinite(r):
            continue
        boot.append(r)
        if z is not None:
            boot_partial.append(partial_spearman(xs[idx], ys[idx], zs[idx]))
            boot_yz.append(_rank_corr(ry, rankdata(zs[idx])))
    low, high = _quantiles(boot, confidence)
    extra = {}
    if z is not None:
        extra = dict(z=z.key, partial=partial_spearman(xs, ys, zs), rho_yz=float(spearmanr(ys, zs).statistic))
        extra["partial_low"], extra["partial_high"] = _quantiles(boot_partial, confidence)
        extra["rho_yz_low"], extra["rho_yz_high"] = _quantiles(boot_yz, confidence)
    return Correlation(x.key, y.key, rho, low, high, len(pts), tuple(p[:3] for p in pts), len(names), **extra)


def verdict_sharper_less_robust(corr: Correlation | None, not_matched: Sequence[Run] = (), runs: int = 0) -> Verdict:
    """ "Sharper minima are less robust": the rank correlation of top eigenvalue and robust accuracy is negative --
    judged on the partial correlation with standard accuracy held fixed when it was computed (so that sharpness is
    not credited with what standard accuracy explains), else on the plain one; both with their cluster-bootstrap
    intervals."""
    if corr is None:
        return Verdict(
            INCONCLUSIVE,
            "fewer than 3 runs hold both the sharpness and the robust accuracy "
            "(run the sharpness evaluation: evaluations=[sharpness])",
        )
    units = f"{corr.n} runs of {corr.clusters} optimizers, optimizers resampled"
    plain = f"Spearman rho {corr.rho:+.2f}, 95% cluster-bootstrap interval [{corr.low:+.2f}, {corr.high:+.2f}]"
    if corr.z:
        rho, low, high = corr.partial, corr.partial_low, corr.partial_high
        shown = (
            f"partial Spearman rho at equal {corr.z} accuracy {rho:+.2f}, 95% cluster-bootstrap interval "
            f"[{low:+.2f}, {high:+.2f}]; plain {plain}; over {units}"
        )
    else:
        rho, low, high = corr.rho, corr.low, corr.high
        shown = f"{plain} over {units}"
    iv = Interval(rho, low, high, corr.n, math.nan)
    if not_matched:
        worst = max(abs(matched_gap(r)) for r in not_matched)
        tol = TOLERANCES["standard_accuracy"]
        return Verdict(
            INCONCLUSIVE,
            f"not matched: {len(not_matched)} of {runs or corr.n} runs are further than "
            f"{100 * tol:g} points from their seed's target accuracy at the epoch evaluated "
            f"(up to {100 * worst:.1f}) ({shown})",
            iv,
        )
    if not (math.isfinite(low) and math.isfinite(high)):
        return Verdict(INCONCLUSIVE, f"no bootstrap interval ({shown})", iv)
    if high < 0:
        return Verdict(HOLDS, shown, iv)
    if low > 0:
        return Verdict(CONTRADICTED, shown, iv)
    return Verdict(INCONCLUSIVE, f"the interval contains 0 ({shown})", iv)


#: Optimizer families of the zoo's scatter plots, each with its marker shape (a wrapper -- ``lookahead(adam)``,
#: ``sam(sgd)`` -- belongs to the family of the optimizer it wraps).
FAMILIES = {
    "SGD-like": ("o", ("sgd", "momentum", "nesterov")),
    "Adam-like": ("s", ("adam", "adamw", "nadam", "adamax", "radam", "amsgrad", "lamb")),
    "other adaptive": ("^", ("adagrad", "adadelta", "rmsprop", "scalable_shampoo", "shampoo")),
    "sign-based": ("D", ("signsgd", "signgd", "lion")),
}
OTHER_FAMILY = ("other", ("v", ()))
#: Colours within a family (tab10 without grey): distinct inside a family; across families the shape tells them apart.
FAMILY_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
#: Markers whose centres would lie closer than CLOSE points in both directions are drawn side by side, NUDGE points
#: apart.
MARKER_AREA = 34.0
CLOSE = 3.5
NUDGE = 5.0


def family_base(name: str) -> str:
    """The optimizer a label names, wrappers unwrapped (``lookahead(adam)`` -> ``adam``)."""
    inner = name
    while "(" in inner and inner.endswith(")"):
        inner = inner[inner.index("(") + 1 : -1]
    return inner.lower()


def family(name: str) -> str:
    """The family of optimizer ``name`` (a wrapper's: its base's); "other" when unknown."""
    key = family_base(name)
    return next((f for f, (_, members) in FAMILIES.items() if key in members), OTHER_FAMILY[0])


def marker_styles(names: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """``{optimizer: (family, marker, colour)}``: the family's shape, the colours in order within the family (so no two
    optimizers share shape and colour)."""
    out = {}
    shapes = {**{f: m for f, (m, _) in FAMILIES.items()}, OTHER_FAMILY[0]: OTHER_FAMILY[1][0]}
    families = [*FAMILIES, OTHER_FAMILY[0]]
    for fam in families:
        members = [n for n in names if family(n) == fam]
        order = {m: i for i, m in enumerate((FAMILIES.get(fam) or ("", ()))[1])}
        members.sort(key=lambda n: (order.get(family_base(n), len(order)), "(" in n, n))  # a wrapper after its base
        for i, n in enumerate(members):
            out[n] = (fam, shapes[fam], FAMILY_COLORS[i % len(FAMILY_COLORS)])
    return out


def nudges(positions: np.ndarray, close: float, step: float) -> list[float]:
    """Per marker (display positions, in order), a horizontal offset: 0, or -- where it would lie within ``close`` of a
    marker placed before it in both directions -- the first of ``step``, ``-step``, ``2 step``, ... that keeps it
    clear."""
    placed: list[tuple[float, float]] = []
    out = []
    for x, y in positions:
        k = 0
        while True:
            dx = step * ((k + 1) // 2) * (1 if k % 2 else -1) if k else 0.0
            if all(abs(x + dx - px) >= close or abs(y - py) >= close for px, py in placed):
                break
            k += 1
        placed.append((x + dx, y))
        out.append(dx)
    return out


def _log_ticks(ax, values: Sequence[float]) -> None:
    """Labelled ticks on a log axis: 1, 2, 5 per decade over up to 2.5 decades, 1 and 3 up to 4, else the decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = math.log10(max(values) / min(values)) if min(values) > 0 else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0, 3.0) if decades <= 4 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def scatter_figure(corr: Correlation, xlabel: str, ylabel: str, title: str = ""):
    """Robust accuracy (y, %) against a sharpness or Lipschitz quantity (x, log scale when positive), one hollow
    marker per run: the shape is the optimizer's family, the colour the optimizer within it; points of different
    optimizers that would coincide are drawn side by side.  Each point set carries the gid
    ``zoo:<marker>:<optimizer>``."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    from paper_figures.style import RC_PARAMS, fit_suptitle

    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(7.0, 4.2), layout="constrained")
        names = sorted({p[2] for p in corr.points})
        styles = marker_styles(names)
        log_x = min(p[0] for p in corr.points) > 0
        order = sorted(range(len(corr.points)), key=lambda i: (list(styles).index(corr.points[i][2]), i))
        points = [corr.points[i] for i in order]
        # first the frame (limits, labels, legend, titles) and its layout, then the markers in its final pixels
        frame = ax.scatter([p[0] for p in points], [100 * p[1] for p in points], s=MARKER_AREA, alpha=0)
        if log_x:
            ax.set_xscale("log")
            _log_ticks(ax, [p[0] for p in corr.points])
        ax.margins(x=0.06, y=0.08)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        handles = []
        for fam in [*FAMILIES, OTHER_FAMILY[0]]:
            members = [n for n in styles if styles[n][0] == fam]
            if not members:
                continue
            handles.append(Line2D([], [], ls="none", marker=None, label=f"{fam}:"))
            handles += [
                Line2D(
                    [], [], ls="none", marker=styles[n][1], mfc="none", mec=styles[n][2], mew=1.3, ms=6, label=f"  {n}"
                )
                for n in members
            ]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=6.5,
            handlelength=1.0,
            handletextpad=0.4,
            labelspacing=0.35,
            borderaxespad=0.0,
        )
        head = (
            f"{title or 'Zoo scatter'}\nSpearman ρ {corr.rho:+.2f} [{corr.low:+.2f}, {corr.high:+.2f}] over {corr.n} "
            f"runs of {corr.clusters or len(names)} optimizers (95% cluster-bootstrap interval)"
            + (
                f"; partial ρ at equal standard accuracy {corr.partial:+.2f} [{corr.partial_low:+.2f}, "
                f"{corr.partial_high:+.2f}]"
                if math.isfinite(corr.partial)
                else ""
            )
        )
        fit_suptitle(fig, head + f". Markers that would coincide are drawn {NUDGE:g} pt apart.", fontsize=8)
        fig.canvas.draw()
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())
        frame.remove()
        to_points = 72.0 / fig.dpi
        shifts = nudges(ax.transData.transform([(p[0], 100 * p[1]) for p in points]) * to_points, CLOSE, NUDGE)
        if not any(shifts):  # nothing moved: the title need not say so (the panel keeps its size: the limits are fixed)
            fit_suptitle(fig, head, fontsize=8)
        for name in styles:
            fam, shape, colour = styles[name]
            mine = [(p, dx) for p, dx in zip(points, shifts) if p[2] == name]
            for dx in sorted({dx for _, dx in mine}):
                pts = [p for p, d in mine if d == dx]
                ax.scatter(
                    [p[0] for p in pts],
                    [100 * p[1] for p in pts],
                    marker=shape,
                    s=MARKER_AREA,
                    facecolors="none",
                    edgecolors=colour,
                    linewidths=1.3,
                    gid=f"zoo:{shape}:{name}",
                    zorder=3,
                    transform=offset_copy(ax.transData, fig=fig, x=dx, units="points") if dx else ax.transData,
                )
    return fig


def scatter(corr: Correlation, xlabel: str, ylabel: str, path: Path, title: str = "") -> list[Path]:
    """Draw :func:`scatter_figure` into ``path`` (.png and .pdf); returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from paper_figures.style import RC_PARAMS

    fig = scatter_figure(corr, xlabel, ylabel, title)
    out = []
    with plt.rc_context(RC_PARAMS):
        for ext in ("png", "pdf"):
            target = path.with_suffix(f".{ext}")
            fig.savefig(target, dpi=150)
            out.append(target)
    plt.close(fig)
    return out


#: the budget below which the zoo is a demonstration of the pipeline, not a finding (issue 20): every optimizer's
#: mean standard accuracy at least this, and attacks on at least this many images
FINDING_ACCURACY = 0.85
FINDING_ATTACK_IMAGES = 500


def heading(sweep: Sweep) -> str:
    """The zoo's budget in words, and whether it can be read as a finding (:data:`FINDING_ACCURACY`,
    :data:`FINDING_ATTACK_IMAGES`) or is a demonstration of the pipeline."""
    cfg = sweep.runs[0].config if sweep.runs else {}
    means = []
    for opt in sweep.optimizers():
        accs = [r.test_accuracy for r in sweep.select(None, opt) if r.test_accuracy is not None]
        if accs:
            means.append(sum(accs) / len(accs))
    attack = sorted({int(n) for r in sweep.runs if (n := (r.evals.get("robust_accuracy") or {}).get("n"))})
    clean = sorted({int(n) for r in sweep.runs if (n := (r.evals.get("clean") or {}).get("n"))})
    budget = (
        f"{cfg.get('epochs')} epochs"
        + (f" of {int(cfg['epoch_size']):,} images" if cfg.get("epoch_size") else "")
        + (
            f", standard accuracy {100 * min(means):.1f}-{100 * max(means):.1f} % (optimizer means"
            + (f" on {'/'.join(f'{n:,}' for n in clean)} test images)" if clean else ")")
            if means
            else ""
        )
        + (f", attacks on {'/'.join(map(str, attack))} images" if attack else ", no attack")
    )
    finding = bool(means) and min(means) >= FINDING_ACCURACY and bool(attack) and min(attack) >= FINDING_ATTACK_IMAGES
    return (
        budget
        if finding
        else (
            f"a demonstration of the pipeline, not a finding ({budget}; a finding needs every "
            f"optimizer at ≥ {100 * FINDING_ACCURACY:.0f} % and attacks on ≥ "
            f"{FINDING_ATTACK_IMAGES} images)"
        )
    )


def report(
    roots: Sequence[str | Path], out: Path, budget: str = "", plots: bool = True, chosen_lr: str | Path | None = None
) -> str:
    """Write ``optimizer_zoo.md`` (tables under both protocols, correlations, the verdict) and the scatter plots.
    ``chosen_lr``: the learning-rate sweep's ``chosen_lr.json`` (default: one in or beside a root)."""
    out.mkdir(parents=True, exist_ok=True)
    final = relabel(load_sweep(roots))
    choices = load_chosen_lr(roots, chosen_lr)
    parts = [f"# The optimizer zoo: {heading(final)}", ""]
    if budget:
        parts += [f"Budget: {budget}", ""]
    parts += [
        "Each optimizer at the learning rate it chose on a validation split (same grid around its default, "
        "same budget); — where a result is missing. Accuracies and the band-noise drop: mean ± half-width of the "
        "95% interval, the t-interval over seeds widened where it is narrower than the images' own sampling error "
        "(Wilson's interval on the number of images in the header; per-image outcomes for the drop). Lipschitz "
        "quantities and the Hessian (positive and skewed): geometric mean [95% interval] over seeds, on the log "
        "scale. Rank correlations: Spearman's rho over runs with a 95% cluster-bootstrap interval (the "
        f"optimizers resampled with all their seeds, {BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}), and "
        "the partial rho with standard accuracy held fixed (robust accuracy may simply follow standard accuracy; "
        "its own rank correlation with standard accuracy comes first).",
        "",
    ]
    if choices:
        parts += [
            f"Learning rates: each optimizer's was chosen on {selection_seeds(choices)} validation accuracy "
            "(images held out of training; no test image was used to choose). The seed of that sweep is also "
            "one of the seeds evaluated below, so its rows are not independent of the choice. The learning-rate "
            "column marks a choice at an edge of the grid tried.",
            "",
        ]
    for protocol in ("final", "matched"):
        try:
            sweep = final if protocol == "final" else relabel(final.as_protocol("matched"))
        except MissingResultsError as exc:
            parts += [f"## {protocol} protocol", "", f"not available: {exc}", ""]
            continue
        for ds in sweep.datasets:
            header, rows = table(sweep, ds, choices)
            title = "final epoch" if protocol == "final" else "matched standard accuracy"
            runs = sweep.select(ds)
            parts += [f"## {ds}, {title}", "", f"Protocol: {protocol_text(sweep, protocol)}.", ""]
            off = unmatched(runs) if protocol == "matched" else []
            if off:
                parts += [
                    f"**Not matched:** {len(off)} of {len(runs)} runs are further than "
                    f"{100 * TOLERANCES['standard_accuracy']:g} points from their seed's target accuracy at the "
                    "epoch evaluated (too few epochs to stop near the target), so this table does not compare "
                    "optimizers at equal standard accuracy and every verdict under it is inconclusive.",
                    "",
                ]
            edges = [o for o, c in choices.items() if lr_cell(c).endswith("**")]
            if edges and protocol == "final":
                parts += [
                    f"**Edge of grid:** {len(edges)} of {len(choices)} optimizers chose the smallest or largest "
                    "learning rate tried ({}); a better one may lie outside the grid, so their rows may understate "
                    "them.".format(", ".join(edges)),
                    "",
                ]
            parts += [markdown(header, rows), ""]
            cols = {c.key: c for c in columns(sweep, ds)}
            for ykey in ("robust_linf", "robust_l2"):
                corr = correlation(runs, cols["standard"], cols[ykey])
                if corr is not None:
                    parts.append(
                        f"- {cols[ykey].header} vs standard accuracy: Spearman rho {corr.rho:+.2f} "
                        f"[{corr.low:+.2f}, {corr.high:+.2f}] (n={corr.n} runs of {corr.clusters} optimizers)"
                    )
            for xkey, xlabel in (
                ("top_eigenvalue", "Hessian top eigenvalue"),
                ("paper_bound", "Lipschitz paper_bound"),
            ):
                for ykey in ("robust_linf", "robust_l2"):
                    corr = correlation(runs, cols[xkey], cols[ykey], z=cols["standard"])
                    if corr is None:
                        parts.append(f"- {cols[ykey].header} vs {xlabel}: {MISSING} (fewer than 3 runs with both)")
                        continue
                    parts.append(
                        f"- {cols[ykey].header} vs {xlabel}: Spearman rho {corr.rho:+.2f} "
                        f"[{corr.low:+.2f}, {corr.high:+.2f}]; at equal standard accuracy (partial) "
                        f"{corr.partial:+.2f} [{corr.partial_low:+.2f}, {corr.partial_high:+.2f}] "
                        f"(n={corr.n} runs of {corr.clusters} optimizers)"
                    )
                    if plots:
                        scatter(
                            corr,
                            xlabel,
                            cols[ykey].header,
                            out / f"zoo_{protocol}_{ds}_{ykey}_vs_{xkey}",
                            title=f"{dataset_label(ds)}, {title}: {cols[ykey].header.split(' (')[0]} vs {xlabel}",
                        )
            verdict = verdict_sharper_less_robust(
                correlation(runs, cols["top_eigenvalue"], cols["robust_linf"], z=cols["standard"]), off, len(runs)
            )
            parts += [
                "",
                f"**Claim: sharper minima are less robust** ({ds}, {protocol}): **{verdict.label}** -- "
                f"{verdict.reason}",
                "",
            ]
    text = "\n".join(parts) + "\n"
    atomic_write_text(out / "optimizer_zoo.md", text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="sweep folder(s) of the final zoo runs")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first root>/figures)")
    parser.add_argument("--budget", default="", help="a line describing the budget (written into the report)")
    parser.add_argument(
        "--chosen-lr", default=None, help="chosen_lr.json of the learning-rate sweep (default: one in or beside a root)"
    )
    args = parser.parse_args(argv)
    text = report(args.roots, args.out or Path(args.roots[0]) / "figures", args.budget, chosen_lr=args.chosen_lr)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_main(main))
