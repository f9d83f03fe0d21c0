"""The paper's band-limited-noise figure and the Fourier heat maps, one optimizer beside the other.

Ma, Pan & Farahmand (TMLR 2023), Section 3: white Gaussian noise projected onto one radial frequency band
at a time; the adaptive models lose much more accuracy than SGD when the noise sits in the high
(irrelevant) bands.  ``band_noise``: accuracy drop (percentage points) per band, lowest to highest, one
line per optimizer (mean ± std over seeds), DCT and FFT bases side by side, one row per data set.
``fourier_heatmaps``: error rate under a Fourier-basis perturbation (Yin et al., NeurIPS 2019), one map
per optimizer (mean over seeds) on a shared colour scale.

    python paper_figures/band_noise.py outputs/multiruns/reproduce_quick [--out DIR]

Reads the ``band_noise`` and ``fourier_heatmap`` evaluations from the runs' ``summary.json``; never trains.
Writes ``band_noise.{png,pdf}`` and ``fourier_heatmaps.{png,pdf}`` into ``DIR`` (default ``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `paper_figures` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib.pyplot as plt  # noqa: E402

from paper_figures.common import (  # noqa: E402
    MissingResultsError,
    Sweep,
    cli_main,
    dataset_label,
    load_sweep,
    log_images_to_wandb,
    per_optimizer,
)
from paper_figures.style import HEATMAP_CMAP, color, figsize, label, linestyle, savefig, use_style  # noqa: E402

BASIS_TEXT = {"dct": "DCT basis", "fft": "FFT basis"}
MARKERS = {"sgd": "o", "adam": "s", "rmsprop": "D", "adamw": "^", "adagrad": "v", "signsgd": "P"}


def bases_of(sweep: Sweep, dataset: str) -> list[str]:
    """The bases every run of ``dataset`` stores band-noise results for (DCT first)."""
    sets = [{b for b in ("dct", "fft") if b in (r.evals.get("band_noise") or {})} for r in sweep.select(dataset)]
    common = set.intersection(*sets) if sets else set()
    return [b for b in ("dct", "fft") if b in common]


def band_drops(sweep: Sweep, dataset: str, basis: str) -> dict:
    """``{optimizer: [Stat per band]}`` of the accuracy drop (clean minus noisy, in [0, 1])."""
    runs = sweep.select(dataset)
    n_bands = min(len(r.evals["band_noise"][basis]["drop"]) for r in runs)
    out: dict = {}
    for k in range(n_bands):
        for opt, st in per_optimizer(runs, lambda r, k=k: r.evals["band_noise"][basis]["drop"][k]).items():
            out.setdefault(opt, []).append(st)
    return out


def band_noise_figure(sweep: Sweep):
    """Rows: data sets; columns: bases.  Accuracy drop (percentage points) per band, one line per optimizer."""
    datasets = sweep.datasets
    bases = sorted({b for ds in datasets for b in bases_of(sweep, ds)}, key=["dct", "fft"].index)
    if not bases:
        raise MissingResultsError("the band_noise results hold neither a 'dct' nor an 'fft' basis; re-run the evaluation with eval.band_noise.bases=[dct,fft]")
    fig, axes = plt.subplots(len(datasets), len(bases), figsize=(figsize(2)[0] if len(bases) > 1 else figsize(1)[0], 2.3 * len(datasets) + 0.3),
                             squeeze=False, layout="constrained", sharey="row")
    handles = {}
    for i, ds in enumerate(datasets):
        variance = next(r.evals["band_noise"].get("variance") for r in sweep.select(ds))
        for j, basis in enumerate(bases):
            ax = axes[i, j]
            if basis not in bases_of(sweep, ds):
                ax.text(0.5, 0.5, f"no {basis.upper()} results", ha="center", va="center", transform=ax.transAxes)
                continue
            for opt, stats in band_drops(sweep, ds, basis).items():
                x = np.arange(len(stats))
                y = np.array([100 * s.mean for s in stats])
                e = np.array([100 * s.std for s in stats])
                (h,) = ax.plot(x, y, color=color(opt), ls=linestyle(opt), marker=MARKERS.get(opt, "o"), ms=3.5, label=label(opt))
                if stats[0].n > 1:
                    ax.fill_between(x, y - e, y + e, color=color(opt), alpha=0.15, lw=0)
                handles.setdefault(label(opt), h)
            n_bands = len(stats)
            ax.set_xticks(range(n_bands), [str(k + 1) for k in range(n_bands)])
            ax.set_xlabel("frequency band (1 = lowest, equal-size bands)")
            ax.set_ylabel("accuracy drop (percentage points)" if j == 0 else "")
            ax.set_title(f"{dataset_label(ds)}, {BASIS_TEXT.get(basis, basis)}, noise variance {variance:g}")
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
    fig.suptitle("Accuracy drop under band-limited Gaussian noise (Ma et al. 2023, Sec. 3); mean ± std over seeds\n"
                 "bands: equal numbers of coefficients by radius (DCT: from the DC corner; FFT: from the centre of the spectrum)", fontsize=8)
    return fig


def heatmaps(sweep: Sweep, dataset: str) -> dict:
    """``{optimizer: (mean error map (rows, cols), rows, cols, n_seeds)}`` of the Fourier heat maps."""
    out = {}
    runs = sweep.select(dataset)
    for opt in sweep.optimizers(dataset):
        maps = [r.evals["fourier_heatmap"] for r in runs if r.optimizer == opt]
        shape = {np.asarray(m["error"]).shape for m in maps}
        if len(shape) != 1:
            raise MissingResultsError(f"the {opt} runs of {dataset} store Fourier heat maps of different grids {sorted(shape)}; re-run "
                                      "the fourier_heatmap evaluation with one stride for all of them")
        out[opt] = (np.mean([np.asarray(m["error"], dtype=float) for m in maps], axis=0), maps[0]["rows"], maps[0]["cols"], len(maps))
    return out


def fourier_heatmap_figure(sweep: Sweep):
    """Rows: data sets; columns: optimizers.  Error rate (%) per Fourier direction, shared colour scale per row."""
    datasets = sweep.datasets
    ncols = max(len(sweep.optimizers(ds)) for ds in datasets)
    width = figsize(2)[0] if ncols > 2 else figsize(1)[0]
    panel = (width - 0.6) / ncols
    fig, axes = plt.subplots(len(datasets), ncols, figsize=(width, panel * len(datasets) + 0.75), squeeze=False, layout="constrained")
    for i, ds in enumerate(datasets):
        maps = heatmaps(sweep, ds)
        eps = next(r.evals["fourier_heatmap"].get("eps") for r in sweep.select(ds))
        vmax = max(100 * m.max() for m, *_ in maps.values())
        im = None
        for j, (opt, (err, rows, cols, n)) in enumerate(maps.items()):
            ax = axes[i, j]
            dc = (cols[1] - cols[0]) / 2 if len(cols) > 1 else 0.5
            dr = (rows[1] - rows[0]) / 2 if len(rows) > 1 else 0.5
            extent = (cols[0] - dc, cols[-1] + dc, rows[-1] + dr, rows[0] - dr)
            im = ax.imshow(100 * err, cmap=HEATMAP_CMAP, vmin=0, vmax=vmax, extent=extent, interpolation="nearest")
            ax.grid(False)
            ax.set_title(f"{label(opt)} (mean of {n} seed{'s' if n > 1 else ''})", color=color(opt))
            ax.set_xlabel("horizontal frequency")
            ax.set_ylabel(f"{dataset_label(ds)}\nvertical frequency" if j == 0 else "")
        for ax in axes[i, len(maps):]:
            ax.remove()
        cbar = fig.colorbar(im, ax=list(axes[i, : len(maps)]), shrink=0.9, pad=0.02)
        cbar.set_label(f"error rate (%), L2 ε = {eps:g}")
    fig.suptitle("Fourier heat maps (Yin et al. 2019): error under a perturbation along each Fourier basis image", fontsize=8)
    return fig


def make(sweeps: list[str], out: str | None = None, allow_partial: bool = False) -> list[Path]:
    """Draw the band-noise figure and the Fourier heat maps; returns the written PNG and PDF paths."""
    use_style()
    sweep = load_sweep(sweeps)
    band, heat = sweep.require("band_noise", allow_partial), sweep.require("fourier_heatmap", allow_partial)
    out_dir = Path(out) if out else sweep.roots[0] / "figures"
    return savefig(band_noise_figure(band), out_dir / "band_noise") + savefig(fourier_heatmap_figure(heat), out_dir / "fourier_heatmaps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folder(s) of trained and evaluated runs")
    parser.add_argument("--out", help="output folder (default: <first sweep>/figures)")
    parser.add_argument("--allow-partial", action="store_true", help="draw the runs that have the evaluations, skip the others")
    parser.add_argument("--wandb", action="store_true", help="also log the PNGs to W&B (offline) as images")
    args = parser.parse_args(argv)

    def run():
        paths = make(args.sweeps, args.out, args.allow_partial)
        if args.wandb:
            log_images_to_wandb(paths, name="band_noise", dir=Path(paths[0]).parent)
        print("\n".join(map(str, paths)))

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
