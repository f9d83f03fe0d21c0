"""The paper's Figure 2: test accuracy against the percentage of training-data frequencies removed.

Ma, Pan & Farahmand (TMLR 2023), Figure 2: a model trained (with SGD) on data whose high-frequency or
low-energy DCT content is removed keeps almost its full test accuracy on the untouched test set until
most coefficients are gone -- natural data sets hold *irrelevant frequencies*.  One panel per data set;
the unfiltered baseline is the dashed line (and the point at 0 %); mean ± std over seeds.

    python paper_figures/figure2.py outputs/multiruns/irrelevant_freq [--out DIR]

Reads the runs of the irrelevant-frequency sweep (``experiments/irrelevant_freq.py``); never trains.
Writes ``figure2.png`` and ``figure2.pdf`` into ``DIR`` (default ``<sweep>/figures``).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `paper_figures` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.pyplot as plt  # noqa: E402

from paper_figures.common import (  # noqa: E402
    DATASET_ORDER,
    cli_main,
    dataset_label,
    load_irrelevant_freq,
    log_images_to_wandb,
    order_key,
    stat,
)
from paper_figures.style import FILTER_STYLES, figsize, savefig, use_style  # noqa: E402


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


def figure2(rows: list[dict]):
    """One panel per data set: accuracy (%) against % of frequencies removed, per filter, with the baseline."""
    data = curves(rows)
    n = len(data)
    width = figsize(1)[0] if n == 1 else figsize(2)[0]
    fig, axes = plt.subplots(1, n, figsize=(width, 2.5 if n == 1 else 2.4), squeeze=False, layout="constrained")
    for ax, (ds, entry) in zip(axes[0], data.items()):
        base = entry["baseline"]
        if base is not None:
            ax.axhline(100 * base.mean, color="0.35", ls=(0, (4, 2)), lw=1.0, label=f"unfiltered ({100 * base.mean:.1f} %)")
            if base.n > 1:
                ax.axhspan(100 * (base.mean - base.std), 100 * (base.mean + base.std), color="0.5", alpha=0.12, lw=0)
        for filt, style in FILTER_STYLES.items():
            points = entry.get(filt)
            if not points:
                continue
            if base is not None:
                points = [(0, base)] + points
            xs = [p for p, _ in points]
            ys = [100 * s.mean for _, s in points]
            err = [100 * s.std for _, s in points]
            ax.errorbar(xs, ys, yerr=err if any(err) else None, capsize=2, **style)
        ax.set_xlabel("training-data frequencies removed (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_xlim(-3, 100)
        ax.set_title(f"{dataset_label(ds)}: training on filtered data")
        ax.legend(loc="lower left")
    return fig


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

    def run():
        paths = make(args.sweep, args.out)
        if args.wandb:
            log_images_to_wandb(paths, name="figure2", dir=Path(paths[0]).parent)
        print("\n".join(map(str, paths)))

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
