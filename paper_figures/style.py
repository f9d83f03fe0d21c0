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
OPTIMIZER_MARKERS = {"sgd": "*", "gd": "*", "adam": "o", "rmsprop": "D", "signsgd": "P", "signgd": "P", "adamw": "^", "adagrad": "v"}
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
OPTIMIZER_LINESTYLES = {"sgd": "-", "gd": "-", "adam": "--", "rmsprop": "-.", "signsgd": ":", "signgd": ":", "adamw": (0, (5, 1)), "adagrad": (0, (3, 1, 1, 1, 1, 1))}
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
    """``(width, height)`` in inches: ``columns`` column widths wide (2 = full text width), ``height = aspect * width``."""
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
