"""The one figure style of the project: a fixed colour per optimizer, column-width sizes, atomic saving.

Every script in ``paper_figures/`` draws with these so the same optimizer has the same colour
and name in every figure::

    from paper_figures.style import color, figsize, label, savefig, use_style

    use_style()
    fig, ax = plt.subplots(figsize=figsize())
    ax.plot(t, risk, color=color("adam"), label=label("adam"))
    savefig(fig, out_dir / "risk")          # writes risk.png (dpi 200) and risk.pdf
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from robustopt.io import atomic_write_bytes  # noqa: E402

#: Width of one column of a two-column paper, in inches (TMLR / NeurIPS-like layouts).
COLUMN_WIDTH = 3.4
#: Width of a figure spanning the whole text, in inches.
TEXT_WIDTH = 7.0

#: Display names of the data sets.
DATASET_LABELS = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "svhn": "SVHN",
    "caltech101": "Caltech-101",
    "imagenette": "Imagenette",
    "synthetic": "synthetic",
}


def dataset_label(name: str) -> str:
    """Display name of a data set."""
    return DATASET_LABELS.get(name, name)


#: Fixed colour per optimizer (tab10 colours; GD/SGD blue and signGD red as in the paper's Fig. 5).
OPTIMIZER_COLORS = {
    "sgd": "#1f77b4",
    "gd": "#1f77b4",
    "adam": "#ff7f0e",
    "rmsprop": "#2ca02c",
    "signsgd": "#d62728",
    "signgd": "#d62728",
    "adamw": "#9467bd",
    "adagrad": "#8c564b",
}
#: Display names.
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "gd": "GD",
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "signsgd": "signSGD",
    "signgd": "signGD",
    "adamw": "AdamW",
    "adagrad": "AdaGrad",
}
#: Marker per optimizer: SGD a star, Adam a circle, RMSprop a diamond (the authors' blog post on the paper; the
#: paper's own Figure-1 legend swaps Adam and RMSprop, see ``paper_reference.json`` "figure1_notes").
OPTIMIZER_MARKERS = {
    "sgd": "*",
    "gd": "*",
    "adam": "o",
    "rmsprop": "D",
    "signsgd": "P",
    "signgd": "P",
    "adamw": "^",
    "adagrad": "v",
}
#: Marker sizes that look equally large (a star needs more points than a circle).
MARKER_SIZES = {"*": 1.45, "D": 0.85}
#: Fixed colour per data set: the colours of the paper's Figure 1 (matplotlib's tab10 in the paper's order).
DATASET_COLORS = {
    "mnist": "#1f77b4",
    "fashion_mnist": "#ff7f0e",
    "cifar10": "#2ca02c",
    "cifar100": "#d62728",
    "svhn": "#9467bd",
    "caltech101": "#8c564b",
    "imagenette": "#e377c2",
    "synthetic": "#7f7f7f",
}
#: Line style per optimizer, so figures stay readable in grey scale.
OPTIMIZER_LINESTYLES = {
    "sgd": "-",
    "gd": "-",
    "adam": "--",
    "rmsprop": "-.",
    "signsgd": ":",
    "signgd": ":",
    "adamw": (0, (5, 1)),
    "adagrad": (0, (3, 1, 1, 1, 1, 1)),
}
_FALLBACK = ["#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

RC_PARAMS = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # embed TrueType fonts (editable text, accepted by publishers)
}


def _key(name: str) -> str:
    return str(name).lower().replace("-", "").replace("_", "")


def color(name: str) -> str:
    """The fixed colour of optimizer ``name`` (case and ``-``/``_`` insensitive)."""
    key = _key(name)
    if key in OPTIMIZER_COLORS:
        return OPTIMIZER_COLORS[key]
    return _FALLBACK[sum(map(ord, key)) % len(_FALLBACK)]  # stable for unknown names


def label(name: str) -> str:
    """The display name of optimizer ``name``."""
    return OPTIMIZER_LABELS.get(_key(name), str(name))


def marker(name: str) -> str:
    """The fixed marker of optimizer ``name`` (SGD ★, Adam ●, RMSprop ◆)."""
    return OPTIMIZER_MARKERS.get(_key(name), "s")


def marker_size(name: str, size: float) -> float:
    """``size`` scaled so that optimizer ``name``'s marker looks as large as a circle of ``size``."""
    return size * MARKER_SIZES.get(marker(name), 1.0)


def dataset_color(name: str) -> str:
    """The fixed colour of data set ``name`` (the paper's Figure-1 colours)."""
    key = str(name).lower().replace("-", "_")
    if key in DATASET_COLORS:
        return DATASET_COLORS[key]
    return _FALLBACK[sum(map(ord, key)) % len(_FALLBACK)]


def linestyle(name: str):
    """The fixed line style of optimizer ``name``."""
    return OPTIMIZER_LINESTYLES.get(_key(name), "-")


def figsize(columns: float = 1.0, aspect: float = 0.75) -> tuple[float, float]:
    """``(width, height)`` in inches: ``columns`` column widths wide (2 = full text width),
    ``height = aspect * width``."""
    width = TEXT_WIDTH if columns >= 2 else COLUMN_WIDTH * columns
    return (width, width * aspect)


def use_style() -> None:
    """Apply the project's matplotlib rc parameters."""
    plt.rcParams.update(RC_PARAMS)


def savefig(fig, path_stem: str | Path, close: bool = True) -> list[Path]:
    """Write ``fig`` to ``<path_stem>.png`` (dpi 200) and ``<path_stem>.pdf``, each atomically.

    Returns the two paths; closes the figure unless ``close=False``.
    """
    stem = Path(path_stem)
    paths = []
    for ext, kwargs in (("png", {"dpi": 200}), ("pdf", {})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, **kwargs)
        paths.append(atomic_write_bytes(stem.with_name(stem.name + "." + ext), buf.getvalue()))
    if close:
        plt.close(fig)
    return paths


#: Line styles of the data filters of the irrelevant-frequency experiment (the paper's Figure 2).
FILTER_STYLES = {
    "high_frequency": {"color": "#17becf", "marker": "o", "ls": "-", "label": "high frequencies removed"},
    "low_energy": {"color": "#7f7f7f", "marker": "s", "ls": "--", "label": "low-energy frequencies removed"},
}
#: Colour map of error-rate heat maps (sequential, readable in grey scale).
HEATMAP_CMAP = "magma"
#: Colour map of heat maps of a change that can have either sign (centred on 0).
DIVERGING_CMAP = "RdBu_r"


# -- layout helpers: every text inside the figure, every tick labelled ---------------------------------------------


def fit_suptitle(fig, text: str, fontsize: float = 8.0, width: float = 0.97):
    """Set ``text`` as the suptitle of ``fig``, each of its lines wrapped at word boundaries so that it is at most
    ``width`` times the figure's width (measured with the figure's renderer, not guessed from the number of letters)."""
    import textwrap

    renderer = fig.canvas.get_renderer()
    limit = width * fig.bbox.width
    chars = max(len(line) for line in text.splitlines() or [""])
    title = fig.suptitle(text, fontsize=fontsize)
    while chars > 10 and title.get_window_extent(renderer).width > limit:
        chars = int(chars * 0.92)
        title.set_text("\n".join(textwrap.fill(line, chars) for line in text.splitlines()))
    return title


def _collide(boxes: list, pad: float = 1.5) -> bool:
    boxes = sorted(boxes, key=lambda b: b.x0)
    return any(a.x1 + pad > b.x0 for a, b in zip(boxes, boxes[1:]))


def fit_tick_labels(fig, axes=None) -> None:
    """Every x tick of ``axes`` (default: all of ``fig``'s) keeps a readable label: where neighbouring labels of a
    panel collide, the labels of every panel turn upright (90°); where they still collide, the colliding ticks are
    dropped (tick and label together, the first and last kept), so no tick is left without its label."""
    axes = list(fig.axes if axes is None else axes)

    def labelled(ax):
        return [t for t in ax.get_xticklabels() if t.get_text().strip()]

    fig.canvas.draw()
    if not any(_collide([t.get_window_extent() for t in labelled(ax)]) for ax in axes):
        return
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=90)
    fig.canvas.draw()
    for ax in axes:
        labels = labelled(ax)
        if not _collide([t.get_window_extent() for t in labels]):
            continue
        ticks = [
            (float(x), t.get_text(), t.get_window_extent())
            for x, t in zip(ax.get_xticks(), ax.get_xticklabels())
            if t.get_text().strip()
        ]
        kept = [ticks[0]]
        for tick in ticks[1:-1]:
            if not _collide([kept[-1][2], tick[2]]) and not _collide([tick[2], ticks[-1][2]]):
                kept.append(tick)
        kept.append(ticks[-1])
        ax.set_xticks([x for x, _, _ in kept], [s for _, s, _ in kept])


def fit_legend(fig, handles: list, loc: str = "outside lower center", width: float = 0.98, **kwargs):
    """A figure legend of ``handles`` in as many columns as fit in ``width`` times the figure's width (one row when
    they all fit, else fewer columns and more rows)."""
    renderer = fig.canvas.get_renderer()
    for ncol in range(len(handles), 0, -1):
        legend = fig.legend(handles=handles, loc=loc, ncol=ncol, **kwargs)
        if ncol == 1 or legend.get_window_extent(renderer).width <= width * fig.bbox.width:
            return legend
        legend.remove()
    return None
