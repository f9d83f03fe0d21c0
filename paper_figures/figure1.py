"""The paper's Figure 1: standard accuracy against accuracy under Gaussian noise, an L2 and an L∞ attack.

Ma, Pan & Farahmand (TMLR 2023), Figure 1: models trained with SGD, Adam and RMSprop reach about the same
standard accuracy, but the SGD models keep much more of it under perturbations.  Drawn as the paper draws it:
three panels sharing the y-axis (standard accuracy), x = accuracy under Gaussian noise, under the L2 attack and
under the L∞ attack (the strongest stored: AutoAttack > PGD > FGSM); every data set in the same panels, one colour
per data set, each data set's optimizers joined by a dashed line; SGD a star, Adam a circle, RMSprop a diamond
(the authors' blog post).  Filled markers: our mean over seeds with 95% intervals (Student t, none for one
seed), small dots: single seeds; open markers: the paper's values (``paper_reference.json``; its attack points
only in a panel of the paper's attack, AutoAttack, never beside PGD or FGSM).  Both coordinates
of a point come from the same runs and the same test images: in each panel the standard accuracy (y) is measured
on the images of that panel's perturbation (the noise's, or the attacks';
:func:`paper_figures.figure1_data.figure1_accuracy`, ``standard@<perturbation>``), so y can differ slightly between
panels.

The second figure, ``robustness_curves``, has the whole curves: accuracy against every stored ε of every stored
attack and norm, and against the Gaussian-noise variance, one line per optimizer with 95% bands over seeds (none,
and no mention of them, for one seed); ticks at the stored sizes, each labelled (upright or thinned where they crowd).

    python paper_figures/figure1.py outputs/multiruns/reproduce_quick [--out DIR] [--variance V] \\
        [--eps-l2 E] [--eps-linf E]

Reads ``summary.json`` (evaluations ``clean``, ``gaussian_noise``, ``robust_accuracy``) of every completed run;
never trains.  Writes ``figure1.{png,pdf}`` and ``robustness_curves.{png,pdf}`` into ``DIR`` (default
``<first sweep>/figures``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from paper_figures.cli import figure_main
from paper_figures.figure1_data import (
    ATTACK_PREFERENCE,
    Figure1Setting,
    eps_text,
    figure1_accuracy,
    figure1_setting,
    figure1_values,
)
from paper_figures.style import (
    TEXT_WIDTH,
    color,
    dataset_color,
    dataset_label,
    fit_legend,
    fit_suptitle,
    fit_tick_labels,
    label,
    linestyle,
    marker,
    marker_size,
    savefig,
    use_style,
)
from robustopt.paper import figure1 as paper_figure1
from robustopt.tracking.store import Sweep, load_sweep, order_key, stat

PANELS = ("gaussian_noise", "l2", "linf")
NORM_TEXT = {"l2": "L2", "linf": "L∞"}
ATTACK_TEXT = {"autoattack": "AutoAttack", "pgd": "PGD", "fgsm": "FGSM"}


def attack_text(name: str | None) -> str:
    """Display name of an attack (``autoattack`` -> AutoAttack)."""
    return ATTACK_TEXT.get(str(name).lower(), str(name))


def perturbation_text(quantity: str, setting: Figure1Setting) -> str:
    """The perturbation of one Figure-1 panel, without its size (``L2 AutoAttack``, ``Gaussian noise``)."""
    if quantity == "gaussian_noise":
        return "Gaussian noise"
    attack = setting.attack_l2 if quantity == "l2" else setting.attack_linf
    return f"{NORM_TEXT[quantity]} {attack_text(attack)}"


def size_text(quantity: str, setting: Figure1Setting) -> str:
    """The size of one Figure-1 perturbation (``variance 0.01``, ``ε = 8/255``)."""
    if quantity == "gaussian_noise":
        return f"variance {setting.variance:g}"
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    return f"ε = {eps_text(eps, quantity)}"


def panel_title(quantity: str, settings: dict[str, Figure1Setting]) -> str:
    """Title of one panel: the perturbation and its size, per data set when the data sets differ."""
    texts: dict[str, list[str]] = {}
    for ds, s in settings.items():
        size = s.variance if quantity == "gaussian_noise" else (s.eps_l2 if quantity == "l2" else s.eps_linf)
        if size is None:
            continue
        texts.setdefault(f"{perturbation_text(quantity, s)}, {size_text(quantity, s)}", []).append(ds)
    if not texts:
        return {"gaussian_noise": "Gaussian noise", "l2": "L2 attack", "linf": "L∞ attack"}[quantity]
    if len(texts) == 1:
        return next(iter(texts))
    return "\n".join(f"{t} ({', '.join(dataset_label(d) for d in dss)})" for t, dss in texts.items())


def _axis_text(quantity: str, settings: dict[str, Figure1Setting]) -> str:
    names = {
        perturbation_text(quantity, s)
        for s in settings.values()
        if (s.variance if quantity == "gaussian_noise" else (s.eps_l2 if quantity == "l2" else s.eps_linf)) is not None
    }
    if len(names) == 1:
        return f"accuracy under {names.pop()} (%)"
    return {
        "gaussian_noise": "accuracy under Gaussian noise (%)",
        "l2": "accuracy under the L2 attack (%)",
        "linf": "accuracy under the L∞ attack (%)",
    }[quantity]


#: The attack of the paper's Figure 1 (``paper_reference.json``, figure1_notes): its attack points are drawn only
#: beside ours when ours is the same attack.
PAPER_ATTACK = "autoattack"


def paper_comparable(quantity: str, setting: Figure1Setting) -> bool:
    """Whether the paper's value of ``quantity`` belongs in our panel: always for Gaussian noise, for an attack only
    when ours is the paper's (AutoAttack) -- its AutoAttack points do not go into a panel of PGD or FGSM."""
    if quantity not in ("l2", "linf"):
        return True
    attack = setting.attack_l2 if quantity == "l2" else setting.attack_linf
    return str(attack).lower() == PAPER_ATTACK


def images_text(setting: Figure1Setting) -> str:
    """Which test images the numbers of one data set come from: each panel's two coordinates on the same images."""
    noise, attacks = setting.n_noise if setting.variance is not None else None, setting.n_images
    has_attack = setting.eps_l2 is not None or setting.eps_linf is not None
    if setting.variance is not None and has_attack and noise and attacks and noise == attacks:
        return f"every number on the first {attacks} test images"
    parts = []
    if setting.variance is not None and noise:
        parts.append(f"noise and its standard accuracy on the first {noise} test images")
    if has_attack and attacks:
        parts.append(f"attacks and theirs on the first {attacks}")
    if not parts:
        return "each evaluation on its own test images (per-image outcomes not stored: stored accuracies)"
    if len(parts) < int(setting.variance is not None) + int(has_attack):
        parts.append("the other panel on its evaluation's own images (per-image outcomes not stored)")
    return "; ".join(parts)


def figure1(sweep: Sweep, settings: dict | None = None, reference: dict | None = None):
    """The paper's Figure 1 from ``sweep``: standard accuracy (y, %) against the accuracy under each perturbation
    (x, %).

    ``settings``: ``{dataset: Figure1Setting}`` (default :func:`figure1_setting`); ``reference``: the paper's values
    ``{dataset: {quantity: {optimizer: percent}}}`` (default :func:`paper_figure1`; ``{}`` draws none).  Each
    marker of our means carries the gid ``ours:<dataset>:<quantity>:<optimizer>``.
    """
    datasets = sweep.datasets
    settings = settings or {ds: figure1_setting(sweep, ds) for ds in datasets}
    reference = paper_figure1() if reference is None else reference
    fig, axes = plt.subplots(1, len(PANELS), figsize=(TEXT_WIDTH, 2.75), sharey=True, layout="constrained")
    values = {ds: figure1_values(sweep, ds, settings[ds]) for ds in datasets}
    optimizers_drawn: list[str] = []
    labels: dict = {}
    ys: list[float] = []
    paper_drawn = False
    omitted: dict = {}  # panel -> data sets whose paper points are left out (another attack than the paper's)
    for ax, q in zip(axes, PANELS):
        drawn = False
        for ds in datasets:
            setting, v = settings[ds], values[ds]
            per, std = v.get(q) or {}, v.get(f"standard@{q}") or {}
            c = dataset_color(ds)
            # single seeds: both coordinates of a run on the same images
            for r in sweep.select(ds):
                x = figure1_accuracy(r, q, setting) if q in v else None
                y = figure1_accuracy(r, f"standard@{q}", setting) if q in v else None
                if x is not None and y is not None:
                    ax.plot(
                        100 * x,
                        100 * y,
                        ls="none",
                        marker=marker(r.optimizer),
                        ms=marker_size(r.optimizer, 2.2),
                        color=c,
                        alpha=0.35,
                        mew=0,
                        zorder=2,
                    )
            means = []
            for opt, sx in per.items():
                sy = std.get(opt)
                if sy is None:
                    continue
                cont = ax.errorbar(
                    100 * sx.mean,
                    100 * sy.mean,
                    xerr=100 * sx.ci if sx.n > 1 else None,
                    yerr=100 * sy.ci if sy.n > 1 else None,
                    ls="none",
                    marker=marker(opt),
                    ms=marker_size(opt, 6.0),
                    color=c,
                    mec="white",
                    mew=0.5,
                    ecolor=c,
                    elinewidth=0.9,
                    capsize=1.8,
                    zorder=4,
                )
                cont.lines[0].set_gid(f"ours:{ds}:{q}:{opt}")
                means.append((100 * sx.mean, 100 * sy.mean))
                ys.append(100 * sy.mean)
                if opt not in optimizers_drawn:
                    optimizers_drawn.append(opt)
            if len(means) > 1:
                mx, my = zip(*sorted(means))
                ax.plot(mx, my, ls=(0, (4, 2)), color=c, lw=1.1, zorder=3)
            ref = reference.get(ds) or {}
            paper = [
                (opt, (ref.get(q) or {}).get(opt), (ref.get("standard") or {}).get(opt)) for opt in sweep.optimizers(ds)
            ]
            paper = [(o, x, y) for o, x, y in paper if x is not None and y is not None]
            if paper and not paper_comparable(
                q, setting
            ):  # the paper attacked with AutoAttack: not beside another attack
                paper = []
                omitted.setdefault(ax, []).append(ds)
            for opt, x, y in paper:
                ax.plot(
                    x,
                    y,
                    ls="none",
                    marker=marker(opt),
                    ms=marker_size(opt, 6.0),
                    mfc="none",
                    mec=c,
                    mew=1.0,
                    zorder=4,
                    gid=f"paper:{ds}:{q}:{opt}",
                )
                ys.append(y)
                paper_drawn = True
            if len(paper) > 1:
                px, py_ = zip(*sorted((x, y) for _, x, y in paper))
                ax.plot(px, py_, ls=(0, (1, 2)), color=c, lw=0.8, alpha=0.7, zorder=3)
            if means:
                labels.setdefault(ax, []).append((ds, means))
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not stored", ha="center", va="center", transform=ax.transAxes)
        title = panel_title(q, settings)
        if ax in omitted:
            names = "" if len(datasets) == 1 else f" for {', '.join(dataset_label(d) for d in omitted[ax])}"
            title += f"\n(paper{names}: {attack_text(PAPER_ATTACK)}, not drawn)"
        ax.set_title(title)
        ax.set_xlabel(_axis_text(q, settings))
        ax.margins(x=0.08)
        lo, hi = ax.get_xlim()
        ax.set_xlim(max(lo, -1.0), min(hi, 101.0))
    axes[0].set_ylabel("standard accuracy (%)")
    if (
        ys
    ):  # room below every marker and above them for the data-set names (ours and the paper's), none cut by the frame
        span = max(max(ys) - min(ys), 1.0)
        axes[0].set_ylim(max(min(ys) - 0.15 * span, -1.0), min(max(ys) + 0.35 * span, 101.0))
    handles = [
        Line2D([], [], ls="none", marker=marker(o), ms=marker_size(o, 6.0), color="0.25", label=label(o))
        for o in sorted(optimizers_drawn, key=order_key)
    ]
    several = any(st.n > 1 for v in values.values() for per in v.values() for st in per.values())
    handles.append(
        Line2D(
            [],
            [],
            ls=(0, (4, 2)),
            color="0.25",
            marker="o",
            ms=4,
            label="ours: mean, 95% interval over seeds" if several else "ours: one seed (no interval)",
        )
    )
    if several:  # single seeds are drawn apart from their mean only when there are several
        handles.append(
            Line2D([], [], ls="none", marker="o", ms=2.5, alpha=0.5, color="0.25", label="ours: single seeds")
        )
    if paper_drawn:
        handles.append(
            Line2D(
                [],
                [],
                ls=(0, (1, 2)),
                color="0.25",
                marker="o",
                mfc="none",
                ms=4,
                label=f"the paper (Fig. 1; attacks: {attack_text(PAPER_ATTACK)})",
            )
        )
    fit_legend(fig, handles, loc="outside lower center")
    fit_suptitle(
        fig, "Standard vs perturbed accuracy (Ma et al. 2023, Fig. 1)\n" + _images_note(settings), fontsize=7.5
    )
    fig.canvas.draw()  # the final layout first: the names are placed in the panels' final pixels
    for ax, groups in labels.items():
        _label_groups(ax, groups)
    return fig


def _images_note(settings: dict[str, Figure1Setting]) -> str:
    """Which images the numbers come from, data sets with the same answer grouped."""
    groups: dict[str, list[str]] = {}
    for ds, s in settings.items():
        groups.setdefault(images_text(s), []).append(ds)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{text}: {', '.join(dataset_label(d) for d in dss)}" for text, dss in groups.items())


def _label_groups(ax, groups: list[tuple[str, list[tuple[float, float]]]]) -> None:
    """Name each data set's group of points in its colour, as the paper does: above the group, below, right or left
    of it -- the first place where the name stays inside the axes and covers the fewest names and mean markers."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    obstacles = []  # every marker of the panel (our means and the paper's points) at its drawn size, with 2 px to spare
    for line in ax.lines:
        if str(line.get_gid() or "").startswith(("ours:", "paper:")):
            x, y = ax.transData.transform((line.get_xdata()[0], line.get_ydata()[0]))
            r = (line.get_markersize() + line.get_markeredgewidth()) * ax.figure.dpi / 72 / 2 + 2
            obstacles.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    style = {
        "textcoords": "offset points",
        "fontsize": 7.5,
        "zorder": 5,
        "bbox": {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75},
    }
    for ds, means in groups:
        xs, ys = [m[0] for m in means], [m[1] for m in means]
        cx, cy = float(np.mean(xs)), float(np.mean(ys))
        candidates = [
            ((cx, max(ys)), (0, 7), "center", "bottom"),
            ((cx, min(ys)), (0, -7), "center", "top"),
            ((max(xs), cy), (7, 0), "left", "center"),
            ((min(xs), cy), (-7, 0), "right", "center"),
        ]
        best = None
        for k, (xy, offset, ha, va) in enumerate(candidates):
            text = ax.annotate(
                dataset_label(ds), xy, xytext=offset, ha=ha, va=va, color=dataset_color(ds), gid=f"label:{ds}", **style
            )
            box = text.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            cost = (not inside, sum(box.overlaps(b) for b in obstacles), k)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost[:2] == (False, 0):
                break
        obstacles.append(best[2])


# -- the whole robustness curves --------------------------------------------------------------------


def _attack_names(sweep: Sweep, ds: str, norm: str) -> list[str]:
    names = {
        str(c.get("name", "")).lower()
        for r in sweep.select(ds)
        for c in ((r.evals.get("robust_accuracy") or {}).get("attacks") or {}).values()
        if c.get("norm") == norm
    }
    return sorted(
        names, key=lambda n: (ATTACK_PREFERENCE.index(n) if n in ATTACK_PREFERENCE else len(ATTACK_PREFERENCE), n)
    )


def _curve(run, panel: tuple[str, str | None]) -> tuple[list[float], list[float], int | None] | None:
    """(sizes, accuracies, n images) of one run for one panel, starting at size 0 with the clean accuracy of the
    same images when stored."""
    kind, attack = panel
    if kind == "gaussian_noise":
        res = run.evals.get("gaussian_noise") or {}
        xs, ys = list(res.get("variances") or []), list(res.get("accuracy") or [])
    else:
        res = run.evals.get("robust_accuracy") or {}
        curve = next(
            (
                c
                for c in (res.get("attacks") or {}).values()
                if c.get("norm") == kind and str(c.get("name", "")).lower() == attack
            ),
            None,
        )
        if curve is None:
            return None
        xs, ys = list(curve.get("eps") or []), list(curve.get("robust_accuracy") or [])
    if not xs:
        return None
    if res.get("clean_accuracy") is not None and not any(float(x) == 0 for x in xs):
        xs, ys = [0.0] + xs, [res["clean_accuracy"]] + ys
    n = res.get("n")
    return [float(x) for x in xs], [float(y) for y in ys], int(n) if n else None


def curve_stats(sweep: Sweep, ds: str, panel: tuple[str, str | None]) -> dict[str, list[tuple[float, object]]]:
    """``{optimizer: [(size, Stat over seeds), ...]}`` of one panel of the robustness curves (sizes ascending)."""
    out: dict[str, list] = {}
    for opt in sweep.optimizers(ds):
        per_size: dict[float, list[float]] = {}
        for r in sweep.select(ds, opt):
            c = _curve(r, panel)
            if c is None:
                continue
            for x, y in zip(c[0], c[1]):
                per_size.setdefault(round(x, 12), []).append(y)
        points = [(x, stat(v)) for x, v in sorted(per_size.items())]
        points = [(x, s) for x, s in points if s is not None]
        if points:
            out[opt] = points
    return out


def curve_panels(sweep: Sweep, ds: str) -> list[tuple[str, str | None]]:
    """The panels of one data set: ``("gaussian_noise", None)`` and ``(norm, attack)`` for every stored attack."""
    panels: list[tuple[str, str | None]] = []
    if any(r.evals.get("gaussian_noise") for r in sweep.select(ds)):
        panels.append(("gaussian_noise", None))
    for norm in ("l2", "linf"):
        panels += [(norm, a) for a in _attack_names(sweep, ds, norm)]
    return panels


def _panel_text(panel: tuple[str, str | None]) -> str:
    kind, attack = panel
    return "Gaussian noise" if kind == "gaussian_noise" else f"{NORM_TEXT.get(kind, kind)} {attack_text(attack)}"


def curves_figure(sweep: Sweep, max_cols: int = 5):
    """Accuracy (%) against every stored perturbation size: per data set, Gaussian noise and every stored attack and
    norm, one line per optimizer (mean over seeds) with its 95% band over seeds; size 0 is the clean accuracy of the
    same images."""
    rows = []  # (data set, panels of one row): one row per data set, or, when too many, Gaussian + L2 and then L∞
    for ds in sweep.datasets:
        panels = curve_panels(sweep, ds)
        if len(panels) <= max_cols:
            rows.append((ds, panels))
            continue
        for part in ([p for p in panels if p[0] != "linf"], [p for p in panels if p[0] == "linf"]):
            rows += [(ds, part[i : i + max_cols]) for i in range(0, len(part), max_cols)]
    rows = [(ds, p) for ds, p in rows if p]
    ncols = max((len(p) for _, p in rows), default=1)
    fig, axes = plt.subplots(
        max(1, len(rows)),
        ncols,
        figsize=(TEXT_WIDTH, 2.05 * max(1, len(rows)) + 0.45),
        squeeze=False,
        layout="constrained",
    )
    handles: dict[str, object] = {}
    intervals = False
    for i, (ds, panels) in enumerate(rows):
        for j, ax in enumerate(axes[i]):
            if j >= len(panels):
                ax.remove()
                continue
            panel = panels[j]
            for opt, points in curve_stats(sweep, ds, panel).items():
                x = np.array([p for p, _ in points])
                y = np.array([100 * s.mean for _, s in points])
                ci = np.array([100 * s.ci if s.n > 1 else 0.0 for _, s in points])
                (h,) = ax.plot(
                    x,
                    y,
                    color=color(opt),
                    ls=linestyle(opt),
                    marker=marker(opt),
                    ms=marker_size(opt, 3.2),
                    label=label(opt),
                    gid=f"curve:{ds}:{panel[0]}:{panel[1]}:{opt}",
                )
                if ci.any():
                    ax.fill_between(
                        x,
                        np.clip(y - ci, 0, 100),
                        np.clip(y + ci, 0, 100),
                        color=color(opt),
                        alpha=0.15,
                        lw=0,
                        gid=f"curve-interval:{ds}:{panel[0]}:{panel[1]}:{opt}",
                    )
                    intervals = True
                handles.setdefault(label(opt), h)
            kind = panel[0]
            ax.set_xlabel("noise variance" if kind == "gaussian_noise" else f"ε ({NORM_TEXT.get(kind, kind)})")
            sizes = sorted({float(x) for line in ax.lines for x in line.get_xdata()})
            if 1 < len(sizes) <= 6:  # ticks at the stored sizes (L∞ as k/255); fit_tick_labels keeps each one readable
                ax.set_xticks(
                    sizes,
                    ["0" if x == 0 else eps_text(x, kind) if kind != "gaussian_noise" else f"{x:g}" for x in sizes],
                )
            ax.set_ylabel(f"{dataset_label(ds)}\naccuracy (%)" if j == 0 else "")
            ax.set_ylim(-2, 102)
            ax.set_title(_panel_text(panel))
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles))
    if intervals:
        what = "mean over seeds, bands: 95% intervals"
    else:
        what = (
            "one seed, no interval" if all(len(sweep.groups(ds)) == 1 for ds in sweep.datasets) else "mean over seeds"
        )
    fit_suptitle(
        fig, f"Accuracy against perturbation size ({what}); size 0: clean accuracy of the same images", fontsize=8
    )
    fit_tick_labels(fig, [ax for ax in fig.axes if ax.get_xticks().size])
    return fig


def _grid_text(values: list[float], kind: str) -> str:
    shown = [eps_text(v, kind) if kind in ("l2", "linf") else f"{v:g}" for v in values]
    return ", ".join(shown)


def curves_caption(sweep: Sweep) -> str:
    """The caption of :func:`curves_figure`, computed from the store: seeds, images, sizes, and at how many sizes
    SGD's mean accuracy is the highest."""
    parts = []
    for ds in sweep.datasets:
        seeds = len(sweep.groups(ds))
        panels = curve_panels(sweep, ds)
        if not panels:
            continue
        by_images: dict[str, list[str]] = {}
        wins, total = 0, 0
        for panel in panels:
            stats = curve_stats(sweep, ds, panel)
            sizes = sorted({x for pts in stats.values() for x, _ in pts if x > 0})
            ns = {c[2] for r in sweep.select(ds) if (c := _curve(r, panel)) is not None}
            images = (
                f"on the first {ns.pop()} test images" if len(ns) == 1 and None not in ns else "on the stored images"
            )
            what = "variance" if panel[0] == "gaussian_noise" else "ε"
            by_images.setdefault(images, []).append(f"{_panel_text(panel)} ({what} {_grid_text(sizes, panel[0])})")
            if "sgd" in stats and len(stats) > 1:
                for x in sizes:
                    means = {o: s.mean for o, pts in stats.items() for xx, s in pts if xx == x}
                    if "sgd" in means and len(means) > 1:
                        total += 1
                        wins += int(means["sgd"] >= max(means.values()))
        per_opt = ", ".join(f"{label(o)} {len(sweep.select(ds, o))}" for o in sweep.optimizers(ds))
        lead = f"; SGD's mean accuracy is the highest at {wins} of {total} perturbation sizes" if total else ""
        descr = "; ".join(f"{images}: {', '.join(items)}" for images, items in by_images.items())
        parts.append(f"{dataset_label(ds)} ({seeds} seed{'s' if seeds != 1 else ''}; runs: {per_opt}), {descr}{lead}")
    bands = (
        "95% intervals over seeds (Student t)"
        if any(len(sweep.groups(ds)) > 1 for ds in sweep.datasets)
        else "none (one seed: no interval)"
    )
    return (
        "Accuracy against every stored perturbation size, one line per optimizer (mean over seeds); bands: "
        f"{bands}; size 0 is the clean accuracy of the same images. " + ". ".join(parts) + "."
    )


def make(
    sweeps: list[str],
    out: str | None = None,
    variance: float | None = None,
    eps_l2: float | None = None,
    eps_linf: float | None = None,
    allow_partial: bool = False,
) -> list[Path]:
    """Draw Figure 1 and the robustness curves from the sweep folders; returns the written PNG and PDF paths."""
    use_style()
    sweep = load_sweep(sweeps)
    for name in ("gaussian_noise", "robust_accuracy"):
        sweep = sweep.require(name, allow_partial)
    settings = {ds: figure1_setting(sweep, ds, variance, eps_l2, eps_linf) for ds in sweep.datasets}
    out_dir = Path(out) if out else sweep.roots[0] / "figures"
    return savefig(figure1(sweep, settings), out_dir / "figure1") + savefig(
        curves_figure(sweep), out_dir / "robustness_curves"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folder(s) of trained and evaluated runs")
    parser.add_argument("--out", help="output folder (default: <first sweep>/figures)")
    parser.add_argument("--variance", type=float, help="Gaussian-noise variance to show (default: the largest stored)")
    parser.add_argument("--eps-l2", type=float, help="L2 eps to show (default: the smallest stored)")
    parser.add_argument("--eps-linf", type=float, help="L-inf eps to show (default: the smallest stored)")
    parser.add_argument(
        "--allow-partial", action="store_true", help="draw the runs that have the evaluations, skip the others"
    )
    parser.add_argument("--wandb", action="store_true", help="also log the PNGs to W&B (offline) as images")
    args = parser.parse_args(argv)

    return figure_main(
        lambda: make(args.sweeps, args.out, args.variance, args.eps_l2, args.eps_linf, args.allow_partial),
        wandb=args.wandb,
        name="figure1",
    )


if __name__ == "__main__":
    raise SystemExit(main())
