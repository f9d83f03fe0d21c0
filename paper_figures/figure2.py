"""The paper's Figure 2: test accuracy against the percentage of training-data frequencies removed.

Ma, Pan & Farahmand (TMLR 2023), Figure 2: a model trained (with SGD) on data whose high-frequency or
low-energy DCT content is removed keeps almost its full test accuracy on the untouched test set until
most coefficients are gone -- natural data sets hold *irrelevant frequencies*.  One panel per data set, the
y-axis from chance level (100 / number of classes) to 100%; the unfiltered baseline is the dashed line (and
the point at 0%); mean over seeds with 95% intervals (none for one seed).  An inset zooms on the levels the
claim is judged at (up to :data:`paper_figures.claims.IRRELEVANT_LEVELS_MAX` %), shading the claim's margin
around the baseline.

    python paper_figures/figure2.py outputs/multiruns/irrelevant_freq [--out DIR]

Reads the runs of the irrelevant-frequency sweep (``experiments/irrelevant_freq.py``); never trains.
Writes ``figure2.png`` and ``figure2.pdf`` into ``DIR`` (default ``<sweep>/figures``).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt

from paper_figures.claims import IRRELEVANT_LEVELS_MAX, TOLERANCES
from paper_figures.cli import figure_main
from paper_figures.style import FILTER_STYLES, dataset_label, figsize, label, savefig, use_style
from robustopt.data import get_spec
from robustopt.tracking.store import DATASET_ORDER, load_irrelevant_freq, order_key, stat


def num_classes(dataset: str) -> int | None:
    """The number of classes of a registered data set (None for an unknown name)."""
    try:
        return int(get_spec(dataset).num_classes)
    except Exception:  # noqa: BLE001 - an unknown or unregistered name: no chance level
        return None


def chance_level(dataset: str) -> float:
    """Accuracy (%) of guessing: 100 / number of classes (0 when the number of classes is unknown)."""
    n = num_classes(dataset)
    return 100.0 / n if n else 0.0


def curves(rows: list[dict]) -> dict[str, dict]:
    """``{dataset: {"baseline": Stat, filter: [(percent removed, Stat), ...]}}`` (accuracies in [0, 1])."""
    groups: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[r["dataset"]][(r["filter"], r["removed_percent"])].append(r["test_accuracy"])
    out = {}
    for ds in sorted(groups, key=lambda d: order_key(d, DATASET_ORDER)):
        g = groups[ds]
        entry = {"baseline": stat(g.get(("none", 0), []))}
        for (filt, pct), accs in sorted(g.items()):
            if filt != "none":
                entry.setdefault(filt, []).append((pct, stat(accs)))
        out[ds] = entry
    return out


def _ci(s) -> float:
    return 100 * s.ci if s is not None and s.n > 1 else 0.0


def _draw(ax, entry: dict, max_level: float | None = None, ms: float = 4.0) -> list[tuple[float, float]]:
    """The curves of one data set on ``ax`` (levels up to ``max_level``); returns the drawn (x, y) points."""
    base = entry["baseline"]
    drawn = []
    if base is not None:
        ax.axhline(100 * base.mean, color="0.35", ls=(0, (4, 2)), lw=1.0, label=f"unfiltered ({100 * base.mean:.1f}%)")
        if base.n > 1:
            ax.axhspan(100 * base.mean - _ci(base), 100 * base.mean + _ci(base), color="0.5", alpha=0.12, lw=0)
    for filt, style in FILTER_STYLES.items():
        points = entry.get(filt)
        if not points:
            continue
        if base is not None:
            points = [(0, base)] + points
        points = [(p, s) for p, s in points if max_level is None or p <= max_level]
        xs = [p for p, _ in points]
        ys = [100 * s.mean for _, s in points]
        err = [_ci(s) for _, s in points]
        style = {**style, "ms": ms}
        ax.errorbar(xs, ys, yerr=err if any(err) else None, capsize=2, **style)
        drawn += list(zip(xs, ys))
    return drawn


def figure2(rows: list[dict]):
    """One panel per data set: accuracy (%) against % of training-data frequencies removed, per filter, with the
    baseline; y from chance level to 100; an inset zooming on the levels up to IRRELEVANT_LEVELS_MAX."""
    data = curves(rows)
    n = len(data)
    width = figsize(1)[0] * 1.25 if n == 1 else figsize(2)[0]
    fig, axes = plt.subplots(1, n, figsize=(width, 3.3), squeeze=False, layout="constrained")
    margin = 100 * TOLERANCES["irrelevant_margin"]
    for ax, (ds, entry) in zip(axes[0], data.items()):
        chance = chance_level(ds)
        points = _draw(ax, entry)
        ax.axhline(chance, color="0.6", ls=":", lw=0.9, label=f"chance ({chance:.3g}%)" if chance else None)
        ax.set_ylim(max(0.0, chance - 0.04 * (100 - chance)), 100.5)
        ax.set_xlim(-3, 100)
        ax.set_xlabel("training-data frequencies removed (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{dataset_label(ds)}: training on filtered data")
        base = entry["baseline"]
        judged = [(x, y) for x, y in points if x <= IRRELEVANT_LEVELS_MAX]
        if base is not None and len({x for x, _ in judged}) > 1:
            ys = [y for _, y in judged] + [100 * base.mean - margin, 100 * base.mean + margin]
            lo, hi = min(ys), max(ys)
            pad = 0.15 * (hi - lo) + 0.2
            # the inset goes where no point is: lower left, else lower right
            y0, y1 = ax.get_ylim()
            lower = y0 + 0.5 * (y1 - y0)
            box = (
                [0.1, 0.08, 0.46, 0.36]
                if not any(x <= 55 and y < lower for x, y in points)
                else [0.5, 0.08, 0.46, 0.36]
            )
            ins = ax.inset_axes(box)
            _draw(ins, entry, IRRELEVANT_LEVELS_MAX, ms=2.5)
            ins.axhspan(100 * base.mean - margin, 100 * base.mean + margin, color="#2ca02c", alpha=0.08, lw=0)
            ins.set_xlim(-2, IRRELEVANT_LEVELS_MAX + 2)
            ins.set_ylim(lo - pad, hi + pad)
            ins.tick_params(labelsize=5.5)
            ins.set_title(f"zoom: ≤ {IRRELEVANT_LEVELS_MAX}% removed, shaded ±{margin:g} points", fontsize=5.5, pad=2)
            ins.set_gid(f"inset:{ds}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6)
    return fig


def caption(rows: list[dict]) -> str:
    """The caption of :func:`figure2`, computed from the rows: the trained optimizer, seeds, the baseline's accuracy and
    each filter's accuracy per removal level (mean ± half-width of the 95% interval over seeds)."""
    data = curves(rows)
    parts = []
    for ds, entry in data.items():
        base = entry["baseline"]
        opts = sorted({label(r["optimizer"]) for r in rows if r["dataset"] == ds and r.get("optimizer")})
        trained = f"trained with {', '.join(opts)}; " if opts else ""
        seeds = sorted({r["seed"] for r in rows if r["dataset"] == ds}, key=str)
        head = (
            f"{dataset_label(ds)} ({trained}{len(seeds)} seed{'s' if len(seeds) != 1 else ''}; chance level "
            f"{chance_level(ds):.3g}%): unfiltered {base.fmt()}%"
            if base is not None
            else f"{dataset_label(ds)}: no unfiltered baseline"
        )
        bits = []
        for filt, style in FILTER_STYLES.items():
            points = entry.get(filt)
            if not points:
                continue
            levels = ", ".join(
                f"{p}% removed {s.fmt()}" + (f" ({100 * (s.mean - base.mean):+.1f})" if base is not None else "")
                for p, s in points
            )
            bits.append(f"{style['label']}: {levels}")
        parts.append(head + "; " + "; ".join(bits))
    several = any(s.n > 1 for e in data.values() for k, v in e.items() if k != "baseline" for _, s in v)
    interval = "95% intervals over seeds (Student t)" if several else "none (one seed per level: no interval)"
    return (
        "Test accuracy (%) of models trained on data with a share of their DCT frequencies removed (highest "
        "frequencies, or the lowest-energy ones), on the untouched test set; y-axis from chance level to 100; error "
        f"bars: {interval}; in brackets: the change from the unfiltered model in points. "
        + ". ".join(parts)
        + f". Inset: the levels up to {IRRELEVANT_LEVELS_MAX}% at which the claim is judged, shaded ±"
        f"{100 * TOLERANCES['irrelevant_margin']:g} points around the unfiltered accuracy (the claim's margin)."
    )


def make(sweep: str, out: str | None = None) -> list[Path]:
    """Draw Figure 2 from the irrelevant-frequency sweep folder; returns the written PNG and PDF paths."""
    use_style()
    rows = load_irrelevant_freq(sweep)
    out_dir = Path(out) if out else Path(sweep) / "figures"
    return savefig(figure2(rows), out_dir / "figure2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="the irrelevant-frequency sweep folder (experiments/irrelevant_freq.py)")
    parser.add_argument("--out", help="output folder (default: <sweep>/figures)")
    parser.add_argument("--wandb", action="store_true", help="also log the PNG to W&B (offline) as an image")
    args = parser.parse_args(argv)

    return figure_main(lambda: make(args.sweep, args.out), wandb=args.wandb, name="figure2")


if __name__ == "__main__":
    raise SystemExit(main())
