"""The paper's band-limited-noise figure and the Fourier heat maps, one optimizer beside the other.

Ma, Pan & Farahmand (TMLR 2023), Section 3: white Gaussian noise projected onto one radial frequency band
at a time; the adaptive models lose much more accuracy than SGD when the noise sits in the high
(irrelevant) bands.  ``band_noise``: accuracy drop (percentage points) per band, lowest to highest, one
line per optimizer (mean over seeds, band: 95% interval over seeds), DCT and FFT bases side by side, one row
per data set.  ``fourier_heatmaps``: the *increase* in error under a Fourier-basis perturbation (Yin et al.,
NeurIPS 2019) over the model's own clean error on the same images, one map per optimizer (mean over seeds) on
a shared colour scale -- so a model that is simply less accurate does not look less robust.

    python paper_figures/band_noise.py outputs/multiruns/reproduce_quick [--out DIR]

Reads the ``band_noise`` and ``fourier_heatmap`` evaluations from the runs' ``summary.json``; never trains.
Writes ``band_noise.{png,pdf}`` and ``fourier_heatmaps.{png,pdf}`` into ``DIR`` (default ``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from paper_figures.claims import band_halves
from paper_figures.cli import figure_main
from paper_figures.style import (
    DIVERGING_CMAP,
    HEATMAP_CMAP,
    TEXT_WIDTH,
    color,
    dataset_label,
    figsize,
    fit_suptitle,
    label,
    linestyle,
    marker,
    marker_size,
    savefig,
    use_style,
)
from robustopt.errors import MissingResultsError
from robustopt.tracking.store import Sweep, load_sweep, per_optimizer, stat

BASIS_TEXT = {"dct": "DCT basis", "fft": "FFT basis"}


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


def _variance(sweep: Sweep, dataset: str) -> float | None:
    return next(
        (r.evals["band_noise"].get("variance") for r in sweep.select(dataset) if r.evals.get("band_noise")), None
    )


def band_definition(sweep: Sweep) -> str:
    """How the stored results cut the spectrum into bands (their ``edges`` option)."""
    edges = {str(r.evals["band_noise"].get("edges")) for r in sweep.runs if r.evals.get("band_noise")}
    if edges == {"paper"}:
        return "the authors' 10 bands by radius (their r_list)"
    if edges <= {"None"}:
        return "bands of equal numbers of coefficients by radius"
    return "bands by radius (" + ", ".join(sorted(edges)) + ")"


def band_noise_figure(sweep: Sweep):
    """Rows: data sets; columns: bases.  Accuracy drop (percentage points) per band, one line per optimizer (mean over
    seeds) with its 95% band over seeds."""
    datasets = sweep.datasets
    bases = sorted({b for ds in datasets for b in bases_of(sweep, ds)}, key=["dct", "fft"].index)
    if not bases:
        raise MissingResultsError(
            "the band_noise results hold neither a 'dct' nor an 'fft' basis; re-run the evaluation with "
            "eval.band_noise.bases=[dct,fft]"
        )
    fig, axes = plt.subplots(
        len(datasets),
        len(bases),
        figsize=(figsize(2)[0] if len(bases) > 1 else 1.3 * figsize(1)[0], 2.3 * len(datasets) + 0.6),
        squeeze=False,
        layout="constrained",
        sharey="row",
    )
    handles = {}
    intervals = False
    for i, ds in enumerate(datasets):
        variance = _variance(sweep, ds)
        for j, basis in enumerate(bases):
            ax = axes[i, j]
            if basis not in bases_of(sweep, ds):
                ax.text(0.5, 0.5, f"no {basis.upper()} results", ha="center", va="center", transform=ax.transAxes)
                continue
            n_bands = 0
            for opt, stats in band_drops(sweep, ds, basis).items():
                x = np.arange(1, len(stats) + 1)
                y = np.array([100 * s.mean for s in stats])
                e = np.array([100 * s.ci if s.n > 1 else 0.0 for s in stats])
                (h,) = ax.plot(
                    x,
                    y,
                    color=color(opt),
                    ls=linestyle(opt),
                    marker=marker(opt),
                    ms=marker_size(opt, 3.5),
                    label=label(opt),
                    gid=f"band:{ds}:{basis}:{opt}",
                )
                if e.any():
                    ax.fill_between(
                        x, y - e, y + e, color=color(opt), alpha=0.15, lw=0, gid=f"band-interval:{ds}:{basis}:{opt}"
                    )
                    intervals = True
                handles.setdefault(label(opt), h)
                n_bands = max(n_bands, len(stats))
            ax.axhline(0, color="0.5", lw=0.6, zorder=0)
            ax.set_xticks(range(1, n_bands + 1))
            ax.set_xlabel("frequency band (1 = lowest)")
            ax.set_ylabel(f"{dataset_label(ds)}\naccuracy drop (points)" if j == 0 else "")
            ax.set_title(
                f"{BASIS_TEXT.get(basis, basis)}, noise variance {variance:g}"
                if variance is not None
                else BASIS_TEXT.get(basis, basis)
            )
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=max(1, len(handles)))
    fit_suptitle(fig, band_noise_title(sweep, bases, intervals), fontsize=8)
    return fig


#: Where the bands of each basis start (the radius is measured from there).
BASIS_ORIGIN = {"dct": "DCT: from the DC corner", "fft": "FFT: from the centre of the spectrum"}


def band_noise_title(sweep: Sweep, bases: list[str], intervals: bool) -> str:
    """The suptitle of :func:`band_noise_figure`: what the lines are, the 95% bands only when some are drawn, and how
    the spectrum is cut, for the drawn bases only."""
    what = (
        "mean over seeds, bands: 95% intervals over seeds"
        if intervals
        else "one seed, no interval"
        if all(len(sweep.groups(ds)) == 1 for ds in sweep.datasets)
        else "mean over seeds"
    )
    origin = "; ".join(BASIS_ORIGIN[b] for b in bases if b in BASIS_ORIGIN)
    nbsp = "\u00a0"  # no line break inside the reference
    return (
        f"Accuracy drop under band-limited Gaussian noise (Ma{nbsp}et{nbsp}al.{nbsp}2023, Sec.{nbsp}3)\n{what}; "
        f"{band_definition(sweep)}" + (f" ({origin})" if origin else "")
    )


def band_noise_caption(sweep: Sweep) -> str:
    """The caption of :func:`band_noise_figure`, computed from the store: the setting, the seeds, and each optimizer's
    mean drop over the upper half and the lowest fifth of the bands (the parts the claim is judged on)."""
    parts = []
    for ds in sweep.datasets:
        runs = sweep.select(ds)
        n_images = {(r.evals.get("band_noise") or {}).get("n") for r in runs}
        images = (
            f"the first {n_images.pop()} test images"
            if len(n_images) == 1 and None not in n_images
            else "the stored test images"
        )
        seeds = len(sweep.groups(ds))
        variance = _variance(sweep, ds)
        bits = []
        for basis in bases_of(sweep, ds):
            drops = band_drops(sweep, ds, basis)
            n = min(len(v) for v in drops.values())
            low, high = band_halves(n)
            per = []
            for opt in drops:
                hi = stat(
                    [
                        sum(r.evals["band_noise"][basis]["drop"][k] for k in high) / len(high)
                        for r in sweep.select(ds, opt)
                    ]
                )
                lo = stat(
                    [
                        sum(r.evals["band_noise"][basis]["drop"][k] for k in low) / len(low)
                        for r in sweep.select(ds, opt)
                    ]
                )
                per.append(f"{label(opt)} {hi.fmt()} vs {lo.fmt()}")
            bits.append(
                f"{basis.upper()} basis, {n} bands: mean drop (points) in the upper half (bands "
                f"{high.start + 1}-{high.stop}) vs the lowest fifth "
                f"({'band 1' if len(low) == 1 else f'bands 1-{low.stop}'}): " + ", ".join(per)
            )
        var = f"noise variance {variance:g}, " if variance is not None else ""
        parts.append(
            f"{dataset_label(ds)} ({var}{images}, {seeds} seed{'s' if seeds != 1 else ''}): " + "; ".join(bits)
        )
    interval = (
        "95% intervals over seeds (Student t)"
        if any(len(sweep.groups(ds)) > 1 for ds in sweep.datasets)
        else "none (one seed: no interval)"
    )
    return (
        "Accuracy lost (clean minus noisy accuracy, percentage points) when white Gaussian noise projected onto one "
        "frequency band is added to the test "
        "images, per band, lowest first; lines: "
        f"mean over seeds, bands: {interval}. " + ". ".join(parts) + " (mean ± half-width of the 95% interval)."
    )


def _clean_error(run) -> tuple[float | None, str]:
    """(clean error, where it comes from) of a run's Fourier heat map: the heat map's own clean error on its images,
    else 1 - the clean accuracy of the clean evaluation (other images)."""
    res = run.evals.get("fourier_heatmap") or {}
    if res.get("clean_error") is not None:
        return float(res["clean_error"]), "heatmap"
    acc = run.test_accuracy
    return (1.0 - acc, "clean") if acc is not None else (None, "none")


def heatmaps(sweep: Sweep, dataset: str) -> dict:
    """``{optimizer: (mean increase in error over clean error (rows, cols), rows, cols, n_seeds, mean clean error)}``
    of the Fourier heat maps; each run's map minus its own clean error, then the mean over seeds."""
    out = {}
    runs = sweep.select(dataset)
    for opt in sweep.optimizers(dataset):
        mine = [r for r in runs if r.optimizer == opt]
        maps = [r.evals["fourier_heatmap"] for r in mine]
        shape = {np.asarray(m["error"]).shape for m in maps}
        if len(shape) != 1:
            raise MissingResultsError(
                f"the {opt} runs of {dataset} store Fourier heat maps of different grids {sorted(shape)}; re-run "
                "the fourier_heatmap evaluation with one stride for all of them"
            )
        clean = [_clean_error(r)[0] for r in mine]
        if any(c is None for c in clean):
            raise MissingResultsError(
                f"a Fourier heat map of {dataset} ({opt}) has no clean error and its run no clean accuracy; re-run "
                "the fourier_heatmap evaluation"
            )
        increase = [np.asarray(m["error"], dtype=float) - c for m, c in zip(maps, clean)]
        out[opt] = (np.mean(increase, axis=0), maps[0]["rows"], maps[0]["cols"], len(maps), float(np.mean(clean)))
    return out


def fourier_heatmap_figure(sweep: Sweep):
    """Rows: data sets; columns: optimizers, and the colour bar in a column of its own.  Increase in error (percentage
    points) over each model's clean error per Fourier direction, mean over seeds, on one colour scale per row (diverging
    around 0 when some increase is negative)."""
    datasets = sweep.datasets
    ncols = max(len(sweep.optimizers(ds)) for ds in datasets)
    panel = min(2.3, (TEXT_WIDTH - 1.1) / ncols)  # inches per map; the rest: the colour bar, its labels and the y-label
    fig = plt.figure(figsize=(ncols * panel + 1.1, len(datasets) * (panel + 0.42) + 0.35), layout="constrained")
    grid = fig.add_gridspec(len(datasets), ncols + 1, width_ratios=[1.0] * ncols + [0.06])
    for i, ds in enumerate(datasets):
        maps = heatmaps(sweep, ds)
        eps = next(r.evals["fourier_heatmap"].get("eps") for r in sweep.select(ds))
        vmax = max(100 * m.max() for m, *_ in maps.values())
        vmin = min(100 * m.min() for m, *_ in maps.values())
        if vmin < 0:  # some directions lower the error: a diverging scale centred on 0
            bound = max(abs(vmin), abs(vmax), 1e-6)
            kw = {"cmap": DIVERGING_CMAP, "norm": TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound)}
        else:
            kw = {"cmap": HEATMAP_CMAP, "vmin": 0.0, "vmax": max(vmax, 1e-6)}
        im = None
        for j, (opt, (inc, rows, cols, n, clean)) in enumerate(maps.items()):
            ax = fig.add_subplot(grid[i, j])
            dc = (cols[1] - cols[0]) / 2 if len(cols) > 1 else 0.5
            dr = (rows[1] - rows[0]) / 2 if len(rows) > 1 else 0.5
            extent = (cols[0] - dc, cols[-1] + dc, rows[-1] + dr, rows[0] - dr)
            # aspect "auto": the map fills its cell (about square), so the colour bar beside it is exactly as tall
            im = ax.imshow(100 * inc, extent=extent, interpolation="nearest", aspect="auto", **kw)
            im.set_gid(f"heatmap:{ds}:{opt}")
            ax.grid(False)
            ax.set_title(
                f"{label(opt)}\nclean error {100 * clean:.1f}% ({n} seed{'s' if n > 1 else ''})", color=color(opt)
            )
            ax.set_xlabel("horizontal frequency")
            ax.set_ylabel(f"{dataset_label(ds)}\nvertical frequency" if j == 0 else "")
        cbar = fig.colorbar(im, cax=fig.add_subplot(grid[i, ncols]))  # its own column, as tall as the maps
        cbar.set_label(f"error − clean error (points)\nunder L2 ε = {eps:g}")
    fit_suptitle(
        fig,
        "Fourier heat maps (Yin et al. 2019): increase in error over the model's clean error\n"
        "under a perturbation along each Fourier basis image",
        fontsize=8,
    )
    return fig


def fourier_heatmap_caption(sweep: Sweep) -> str:
    """The caption of :func:`fourier_heatmap_figure`, computed from the store: the setting, each optimizer's clean
    error, and the mean and largest increase in error over it."""
    parts = []
    sources = set()
    for ds in sweep.datasets:
        runs = sweep.select(ds)
        res = [r.evals["fourier_heatmap"] for r in runs]
        sources |= {_clean_error(r)[1] for r in runs}
        eps = {m.get("eps") for m in res}
        stride = {m.get("stride") for m in res}
        n_images = {m.get("n") for m in res}
        setting = ", ".join(
            filter(
                None,
                [
                    f"L2 ε = {eps.pop():g}" if len(eps) == 1 and None not in eps else "",
                    f"frequency stride {stride.pop()}" if len(stride) == 1 and None not in stride else "",
                    f"the first {n_images.pop()} test images" if len(n_images) == 1 and None not in n_images else "",
                ],
            )
        )
        per = []
        for opt, (inc, *_rest, n, clean) in heatmaps(sweep, ds).items():
            per.append(
                f"{label(opt)}: clean error {100 * clean:.1f}%, increase {100 * inc.mean():.1f} on average and "
                f"{100 * inc.max():.1f} at most ({n} seed{'s' if n != 1 else ''})"
            )
        parts.append(f"{dataset_label(ds)} ({setting}): " + "; ".join(per))
    where = {
        "heatmap": "the clean error of the heat map's own images",
        "clean": "1 − the clean evaluation's accuracy (other images: the heat map stores no clean error)",
    }
    src = " and ".join(where[s] for s in sorted(sources) if s in where)
    return (
        "Fourier heat maps (Yin et al. 2019): per Fourier basis direction, the error under a perturbation of L2 norm ε "
        "along it minus the model's clean error (" + src + "), in percentage points, mean over seeds; one colour scale "
        "per data set. " + ". ".join(parts) + "."
    )


def make(sweeps: list[str], out: str | None = None, allow_partial: bool = False) -> list[Path]:
    """Draw the band-noise figure and the Fourier heat maps; returns the written PNG and PDF paths."""
    use_style()
    sweep = load_sweep(sweeps)
    band, heat = sweep.require("band_noise", allow_partial), sweep.require("fourier_heatmap", allow_partial)
    out_dir = Path(out) if out else sweep.roots[0] / "figures"
    return savefig(band_noise_figure(band), out_dir / "band_noise") + savefig(
        fourier_heatmap_figure(heat), out_dir / "fourier_heatmaps"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folder(s) of trained and evaluated runs")
    parser.add_argument("--out", help="output folder (default: <first sweep>/figures)")
    parser.add_argument(
        "--allow-partial", action="store_true", help="draw the runs that have the evaluations, skip the others"
    )
    parser.add_argument("--wandb", action="store_true", help="also log the PNGs to W&B (offline) as images")
    args = parser.parse_args(argv)

    return figure_main(lambda: make(args.sweeps, args.out, args.allow_partial), wandb=args.wandb, name="band_noise")


if __name__ == "__main__":
    raise SystemExit(main())
