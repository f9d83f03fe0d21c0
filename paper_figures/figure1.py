"""The paper's Figure 1: standard accuracy against accuracy under Gaussian noise, an L2 and an L-inf attack.

Ma, Pan & Farahmand (TMLR 2023), Figure 1: models trained with SGD, Adam and RMSprop reach about the same
standard accuracy, but the SGD models keep much more of it under perturbations.  One row per data set, one
panel per perturbation; one small marker per (optimizer, seed), a large marker with error bars for the mean
± std over seeds, and the paper's values (open stars) where ``paper_reference.json`` has them.

    python paper_figures/figure1.py outputs/multiruns/reproduce_quick [--out DIR] [--variance V] [--eps-l2 E] [--eps-linf E]

Reads ``summary.json`` (evaluations ``clean``, ``gaussian_noise``, ``robust_accuracy``) of every completed run;
never trains.  Writes ``figure1.png`` and ``figure1.pdf`` into ``DIR`` (default ``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `paper_figures` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.pyplot as plt  # noqa: E402

from paper_figures.common import (  # noqa: E402
    Sweep,
    cli_main,
    dataset_label,
    eps_text,
    figure1_setting,
    figure1_values,
    gaussian_accuracy,
    load_sweep,
    log_images_to_wandb,
    paper_figure1,
    robust_accuracy,
)
from paper_figures.style import color, figsize, label, savefig, use_style  # noqa: E402

PANELS = ("gaussian_noise", "l2", "linf")
MARKERS = {"sgd": "o", "adam": "s", "rmsprop": "D", "adamw": "^", "adagrad": "v", "signsgd": "P"}


def panel_title(quantity: str, setting) -> str:
    """Title of one panel, naming the perturbation and its size."""
    if quantity == "gaussian_noise":
        return f"Gaussian noise, variance {setting.variance:g}"
    norm, eps, attack = ("L2", setting.eps_l2, setting.attack_l2) if quantity == "l2" else ("L∞", setting.eps_linf, setting.attack_linf)
    name = {"pgd": "PGD", "fgsm": "FGSM", "autoattack": "AutoAttack"}.get(str(attack).lower(), str(attack))
    return f"{norm} {name}, ε = {eps_text(eps, 'l2' if quantity == 'l2' else 'linf')}"


def _value(run, quantity, setting):
    if quantity == "gaussian_noise":
        return gaussian_accuracy(run, setting.variance)
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    return robust_accuracy(run, quantity, eps)


def figure1(sweep: Sweep, settings: dict | None = None, reference: dict | None = None):
    """The figure (rows: data sets; columns: Gaussian noise, L2 attack, L-inf attack); accuracies in percent."""
    datasets = sweep.datasets
    settings = settings or {ds: figure1_setting(sweep, ds) for ds in datasets}
    reference = paper_figure1() if reference is None else reference
    width = figsize(2)[0]
    fig, axes = plt.subplots(len(datasets), len(PANELS), figsize=(width, 2.35 * len(datasets) + 0.35), squeeze=False,
                             layout="constrained")
    handles = {}
    for i, ds in enumerate(datasets):
        setting = settings[ds]
        values = figure1_values(sweep, ds, setting)
        ref = reference.get(ds) or {}
        for j, quantity in enumerate(PANELS):
            ax = axes[i, j]
            if quantity not in values or not values[quantity]:
                ax.text(0.5, 0.5, "not stored", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            xs, ys = [], []
            for run in sweep.select(ds):
                x, y = run.test_accuracy, _value(run, quantity, setting)
                if x is None or y is None:
                    continue
                ax.plot(100 * x, 100 * y, ls="none", marker=MARKERS.get(run.optimizer, "o"), ms=3.5, alpha=0.45,
                        color=color(run.optimizer), mew=0)
                xs.append(100 * x)
                ys.append(100 * y)
            for opt, st in values[quantity].items():
                sx = values["standard"].get(opt)
                if sx is None:
                    continue
                h = ax.errorbar(100 * sx.mean, 100 * st.mean, xerr=100 * sx.std, yerr=100 * st.std, ls="none",
                                marker=MARKERS.get(opt, "o"), ms=6.5, color=color(opt), mec="k", mew=0.6, capsize=2,
                                elinewidth=1, label=f"{label(opt)} (ours)")
                handles.setdefault(f"{label(opt)} (ours)", h)
                px, py_ = (ref.get("standard") or {}).get(opt), (ref.get(quantity) or {}).get(opt)
                if px is not None and py_ is not None:
                    hp = ax.plot(px, py_, ls="none", marker="*", ms=9, mfc="none", mec=color(opt), mew=1.1,
                                 label=f"{label(opt)} (paper)")[0]
                    handles.setdefault(f"{label(opt)} (paper)", hp)
                    xs.append(px)
                    ys.append(py_)
            ylo, yhi = min(ys), max(ys)
            ypad = max(1.5, 0.12 * (yhi - ylo))
            xlo, xhi = min(xs), max(xs)
            xpad = max(1.0, 0.12 * (xhi - xlo))
            ax.set_xlim(xlo - xpad, min(100.5, xhi + xpad))
            ax.set_ylim(max(0.0, ylo - ypad), min(100.5, yhi + ypad))
            diag = [max(xlo - xpad, ylo - ypad), min(xhi + xpad, yhi + ypad)]
            if diag[0] < diag[1]:  # where perturbed = standard accuracy (no loss at all)
                (hd,) = ax.plot(diag, diag, color="0.6", lw=0.8, ls=(0, (3, 2)), zorder=0, label="no accuracy lost")
                handles.setdefault("no accuracy lost", hd)
            ax.set_title(panel_title(quantity, setting))
            ax.set_xlabel("standard accuracy (%)")
            if j == 0:
                ax.set_ylabel(f"{dataset_label(ds)}\naccuracy under perturbation (%)")
            else:
                ax.set_ylabel("accuracy under perturbation (%)")
    order = sorted(handles, key=lambda k: ("(paper)" in k, k == "no accuracy lost", list(handles).index(k)))
    fig.legend([handles[k] for k in order], order, loc="outside lower center", ncol=min(len(order), 6))
    fig.suptitle("Standard vs perturbed accuracy (Ma et al. 2023, Fig. 1); small markers: single seeds, "
                 "large: mean ± std", fontsize=8)
    return fig


def make(sweeps: list[str], out: str | None = None, variance: float | None = None, eps_l2: float | None = None,
         eps_linf: float | None = None, allow_partial: bool = False) -> list[Path]:
    """Draw Figure 1 from the sweep folders; returns the written PNG and PDF paths."""
    use_style()
    sweep = load_sweep(sweeps)
    for name in ("gaussian_noise", "robust_accuracy"):
        sweep = sweep.require(name, allow_partial)
    settings = {ds: figure1_setting(sweep, ds, variance, eps_l2, eps_linf) for ds in sweep.datasets}
    out_dir = Path(out) if out else sweep.roots[0] / "figures"
    return savefig(figure1(sweep, settings), out_dir / "figure1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folder(s) of trained and evaluated runs")
    parser.add_argument("--out", help="output folder (default: <first sweep>/figures)")
    parser.add_argument("--variance", type=float, help="Gaussian-noise variance to show (default: the largest stored)")
    parser.add_argument("--eps-l2", type=float, help="L2 eps to show (default: the middle stored one)")
    parser.add_argument("--eps-linf", type=float, help="L-inf eps to show (default: the middle stored one)")
    parser.add_argument("--allow-partial", action="store_true", help="draw the runs that have the evaluations, skip the others")
    parser.add_argument("--wandb", action="store_true", help="also log the PNG to W&B (offline) as an image")
    args = parser.parse_args(argv)

    def run():
        paths = make(args.sweeps, args.out, args.variance, args.eps_l2, args.eps_linf, args.allow_partial)
        if args.wandb:
            log_images_to_wandb(paths, name="figure1", dir=Path(paths[0]).parent)
        print("\n".join(map(str, paths)))

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
