"""Every figure of the shipped reports, checked as a reader would see it, with matplotlib's own geometry.

The Fashion-MNIST report (``results/fashion_mnist/runs`` and ``linear_theory``), its bf16 tracking figure
(``paper_figures/precision.py``) and the optimizer-zoo report (``results/optimizer_zoo/runs``) are drawn from the
shipped results into ``tmp_path``, and so is a report of the hand-made store of ``test_paper_figures`` (several seeds,
every part, Figure 2 included); every figure is laid out (``fig.canvas.draw()``) and then, from the window extents of
its artists:

* no text (title, axis label, tick label, annotation, suptitle) overlaps another text, a legend or a colour bar, and
  no legend overlaps another legend or a colour bar;
* no text, legend or panel lies over another panel (a colour bar is a panel), and no two panels overlap (an inset
  and its parent excepted);
* nothing lies outside the figure;
* every major tick that is drawn with a visible label slot has a label (no unlabelled ticks);
* figure-specific: Figure 1 keeps every marker inside its frame, the data-set names off every marker, the paper's
  AutoAttack points out of the panels of other attacks and its legend to what is drawn; titles mention intervals
  and bases only when they are drawn; the linear theory has no 3-D axes and its weight-norm axis starts at 0; the zoo's
  scatter plots name their protocol, label several ticks of a log axis, mark optimizer families by shape and keep
  coinciding points of different optimizers visible.

``Figure.savefig`` is replaced by the check (nothing is written but ``report.md``), so the test follows whatever
figures the report scripts draw, and the zoo's bootstrap is cut to a few resamples (the geometry does not depend on it).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FMNIST = REPO / "results" / "fashion_mnist"
ZOO = REPO / "results" / "optimizer_zoo"
TOL = 1.0  # pixels (at the figure's dpi): touching within this is not an overlap


# -- the geometry ---------------------------------------------------------------------------------------------------


def _text_items(text, name: str) -> list[tuple[str, Bbox]]:
    if text is None or not text.get_visible() or not text.get_text().strip():
        return []
    return [(name, text.get_window_extent())]


def _drawn_ticks(axis) -> list:
    return list(axis._update_ticks())  # the ticks matplotlib draws: inside the view interval


def _is_colorbar(ax) -> bool:
    return hasattr(ax, "_colorbar")


def _label(ax, k: int) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel() or ax.get_xlabel()
    kind = "colour bar" if _is_colorbar(ax) else "panel"
    return f"{kind} {k} ({title.splitlines()[0][:40]!r})" if title else f"{kind} {k}"


def layout(fig) -> dict:
    """The extents of everything a reader sees: ``texts`` [(owner, what, bbox)], ``legends`` [(owner, bbox)],
    ``panels`` [(owner, bbox, axes)] and ``unlabelled`` tick descriptions; owner: the axes (or None: the figure)."""
    fig.canvas.draw()
    texts, legends, panels, unlabelled = [], [], [], []
    for name, t in (("suptitle", fig._suptitle), ("supxlabel", fig._supxlabel), ("supylabel", fig._supylabel)):
        texts += [(None, n, b) for n, b in _text_items(t, name)]
    for t in fig.texts:
        if t in (fig._suptitle, fig._supxlabel, fig._supylabel):
            continue
        texts += [(None, n, b) for n, b in _text_items(t, f"figure text {t.get_text()[:30]!r}")]
    for leg in fig.legends:
        if leg.get_visible():
            legends.append((None, leg.get_window_extent()))
    for k, ax in enumerate(_all_axes(fig)):
        if not ax.get_visible():
            continue
        who = _label(ax, k)
        if ax.name == "3d":
            panels.append((ax, ax.get_window_extent(), ax))
            continue
        panels.append((ax, ax.get_window_extent(), ax))
        for loc in ("center", "left", "right"):
            title = {"center": ax.title, "left": ax._left_title, "right": ax._right_title}[loc]
            texts += [(ax, f"{who} title", b) for _, b in _text_items(title, "title")]
        for axis, letter in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            texts += [(ax, f"{who} {letter}-label", b) for _, b in _text_items(axis.label, "label")]
            if not axis.get_visible():
                continue
            majors = set(map(id, axis.get_major_ticks()))
            for tick in _drawn_ticks(axis):
                for lab, line in ((tick.label1, tick.tick1line), (tick.label2, tick.tick2line)):
                    if not lab.get_visible():
                        continue
                    if lab.get_text().strip():
                        texts.append((ax, f"{who} {letter}-tick {lab.get_text()!r}", lab.get_window_extent()))
                    elif id(tick) in majors and line.get_visible():
                        unlabelled.append(f"{who}: {letter}-tick at {tick.get_loc():g} has no label")
        for t in ax.texts:
            texts += [(ax, f"{who} text {t.get_text()[:30]!r}", b) for _, b in _text_items(t, "text")]
        leg = ax.get_legend()
        if leg is not None and leg.get_visible():
            legends.append((ax, leg.get_window_extent()))
    return {"texts": texts, "legends": legends, "panels": panels, "unlabelled": unlabelled}


def _all_axes(fig) -> list:
    """Every axes of the figure, insets (child axes, e.g. ``ax.inset_axes``) included."""
    out = []

    def add(ax):
        out.append(ax)
        for child in ax.child_axes:
            add(child)

    for ax in fig.axes:
        add(ax)
    return out


def _overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > TOL and min(a.y1, b.y1) - max(a.y0, b.y0) > TOL


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (
        inner.x0 >= outer.x0 - TOL
        and inner.y0 >= outer.y0 - TOL
        and inner.x1 <= outer.x1 + TOL
        and inner.y1 <= outer.y1 + TOL
    )


def _within(owner, ax) -> bool:
    """Texts of ``owner`` may lie on ``ax``: its own, or an inset's on its parent (not the parent's on an inset)."""
    return owner is ax or owner in _descendants(ax)


def _descendants(ax) -> list:
    out = []
    for child in ax.child_axes:
        out += [child] + _descendants(child)
    return out


def _related(a, b) -> bool:
    """Two axes that may share area: the same, or one an inset of the other."""
    return a is b or (a is not None and b is not None and (b in a.child_axes or a in b.child_axes))


def geometry_problems(fig) -> list[str]:
    """Every overlap and every piece outside the figure, in words (empty: the figure is clean)."""
    g = layout(fig)
    problems = list(g["unlabelled"])
    frame = fig.bbox
    for _, what, box in g["texts"]:
        if not _inside(box, frame):
            problems.append(f"{what} lies outside the figure ({_fmt(box)} not in {_fmt(frame)})")
    for k, (_, box) in enumerate(g["legends"]):
        if not _inside(box, frame):
            problems.append(f"legend {k} lies outside the figure")
    for (_, what_a, a), (_, what_b, b) in itertools.combinations(g["texts"], 2):
        if _overlap(a, b):
            problems.append(f"{what_a} overlaps {what_b}")
    for k, (lo, lbox) in enumerate(g["legends"]):
        for owner, what, box in g["texts"]:
            if _overlap(lbox, box) and not (owner is not None and owner is lo and _inside(box, lbox)):
                problems.append(f"legend {k} overlaps {what}")
        for j, (_, other) in enumerate(g["legends"][k + 1 :], k + 1):
            if _overlap(lbox, other):
                problems.append(f"legend {k} overlaps legend {j}")
    for ax, pbox, _ in g["panels"]:
        who = _label(ax, _all_axes(fig).index(ax))
        for owner, what, box in g["texts"]:
            if owner is not None and _within(owner, ax):
                continue
            if _overlap(box, pbox):
                problems.append(f"{what} lies over {who}")
        for k, (lo, lbox) in enumerate(g["legends"]):
            if not (lo is not None and _within(lo, ax)) and _overlap(lbox, pbox):
                problems.append(f"legend {k} lies over {who}")
        if not _inside(pbox, frame):
            problems.append(f"{who} lies outside the figure")
    for (a, abox, _), (b, bbox, _) in itertools.combinations(g["panels"], 2):
        if not _related(a, b) and _overlap(abox, bbox):
            problems.append(f"{_label(a, _all_axes(fig).index(a))} overlaps {_label(b, _all_axes(fig).index(b))}")
    return problems


def _fmt(b: Bbox) -> str:
    return f"[{b.x0:.0f}, {b.y0:.0f}, {b.x1:.0f}, {b.y1:.0f}]"


# -- figure-specific checks -----------------------------------------------------------------------------------------


def _gids(fig, prefix: str) -> list:
    return [
        a for ax in fig.axes for a in list(ax.lines) + list(ax.collections) if str(a.get_gid() or "").startswith(prefix)
    ]


def _marker_box(line: Line2D, i: int = 0) -> Bbox:
    x, y = line.get_xdata()[i], line.get_ydata()[i]
    px, py = line.axes.transData.transform((x, y))
    r = line.get_markersize() * line.figure.dpi / 72 / 2 + line.get_markeredgewidth() * line.figure.dpi / 72 / 2
    return Bbox.from_extents(px - r, py - r, px + r, py + r)


def figure1_problems(fig) -> list[str]:
    problems = []
    markers = _gids(fig, "ours:") + _gids(fig, "paper:")
    for line in markers:
        frame = line.axes.get_window_extent()
        if not _inside(_marker_box(line), frame):
            problems.append(f"Figure 1: marker {line.get_gid()} is cut by the frame of its panel")
    for ax in fig.axes:
        for t in ax.texts:
            if str(t.get_gid() or "").startswith("label:"):
                box = t.get_window_extent()
                for line in markers:
                    if line.axes is ax and _overlap(box, _marker_box(line)):
                        problems.append(f"Figure 1: the data-set name {t.get_text()!r} touches marker {line.get_gid()}")
        title = ax.get_title()
        if ("PGD" in title or "FGSM" in title) and any(str(ln.get_gid() or "").startswith("paper:") for ln in ax.lines):
            problems.append(f"Figure 1: the paper's (AutoAttack) points are drawn in the panel {title!r}")
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    if any("paper" in t for t in labels) != bool(_gids(fig, "paper:")):
        problems.append(f"Figure 1: the legend's paper entry does not match what is drawn ({labels})")
    bars = [c for ax in fig.axes for c in ax.containers if any(c.lines[2])]
    if any(re.search(r"(?<!no )interval", t) for t in labels) and not bars:
        problems.append(f"Figure 1: the legend names an interval, none is drawn ({labels})")
    return problems


def _suptitle(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def interval_words_problems(fig, band_prefix: str) -> list[str]:
    """A title that speaks of bands or intervals must have them drawn."""
    drawn = [
        c
        for ax in fig.axes
        for c in ax.collections
        if isinstance(c, PolyCollection) and str(c.get_gid() or "").startswith(band_prefix)
    ]
    titles = [_suptitle(fig)] + [ax.get_title() for ax in fig.axes]
    said = [t for t in titles if re.search(r"(?<!no )interval|bands:", t)]
    if not drawn and said:
        return [f"a title speaks of intervals, none is drawn: {said}"]
    return []


def band_noise_problems(fig) -> list[str]:
    problems = interval_words_problems(fig, "band-interval:")
    bases = {b for ax in fig.axes for b in ("DCT", "FFT") if b in ax.get_title()}
    for b in ("DCT", "FFT"):
        if b in _suptitle(fig) and b not in bases:
            problems.append(f"band noise: the suptitle explains the {b} basis, which is not drawn")
    return problems


def linear_theory_problems(fig) -> list[str]:
    problems = [
        f"3-D axes {ax.get_title()!r}: the risk ratio over categorical variances is not a surface"
        for ax in fig.axes
        if ax.name == "3d"
    ]
    for ax in fig.axes:
        if "weight norm" in ax.get_xlabel() and ax.get_xlim()[0] > 0:
            problems.append(f"weight norms: the axis starts at {ax.get_xlim()[0]:g}, not at 0")
    return problems


def zoo_problems(fig) -> list[str]:
    problems = []
    ax = fig.axes[0]
    title = ax.get_title() + _suptitle(fig)
    if "final epoch" not in title and "matched standard accuracy" not in title:
        problems.append(f"zoo scatter: the title does not name the protocol ({title!r})")
    if ax.get_xscale() == "log":
        labelled = [t for t in _drawn_ticks(ax.xaxis) if t.label1.get_visible() and t.label1.get_text().strip()]
        if len(labelled) < 3:
            problems.append(f"zoo scatter: the log axis has {len(labelled)} labelled tick(s)")
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    shapes = {str(c.get_gid() or "").split(":")[1] for c in points if str(c.get_gid() or "").startswith("zoo:")}
    if len(shapes) < 3:
        problems.append(f"zoo scatter: {len(shapes)} marker shape(s): families not told apart by shape")
    style, drawn = {}, []
    for c in points:
        gid = str(c.get_gid() or "")
        if not gid.startswith("zoo:"):
            problems.append(f"zoo scatter: a point set without its optimizer gid ({gid!r})")
            continue
        _, shape, name = gid.split(":", 2)
        hollow = not len(c.get_facecolor()) or c.get_facecolor()[0][3] == 0
        style[name] = (shape, tuple(c.get_edgecolor()[0].round(3)))
        for xy in c.get_offset_transform().transform(c.get_offsets()):
            drawn.append((name, shape, float(c.get_sizes()[0]), hollow, xy))
    for (n1, s1, z1, h1, p1), (n2, s2, z2, h2, p2) in itertools.combinations(drawn, 2):
        if n1 != n2 and abs(p1[0] - p2[0]) <= 1.5 and abs(p1[1] - p2[1]) <= 1.5:
            if (s1 == s2 and math.isclose(z1, z2)) or not (h1 and h2):
                problems.append(f"zoo scatter: {n1} and {n2} are drawn on the same spot and one hides the other")
    if len(set(style.values())) != len(style):
        problems.append("zoo scatter: two optimizers share shape and colour")
    return sorted(set(problems))


# -- drawing the shipped reports, every figure checked -----------------------------------------------------------------


class Checked:
    """Replaces ``Figure.savefig``: each figure is checked once, under the name of the file it would be saved as."""

    def __init__(self):
        self.problems: dict[str, list[str]] = {}
        self.names: list[str] = []
        self.current = None
        self._seen: set[int] = set()

    def savefig(self, fig, target, *args, **kwargs):
        if id(fig) in self._seen:
            return
        self._seen.add(id(fig))
        name = Path(target).stem if isinstance(target, (str, Path)) else (self.current or f"figure {len(self.names)}")
        self.names.append(name)
        found = geometry_problems(fig)
        gids = {
            str(a.get_gid() or "").split(":")[0]
            for ax in fig.axes
            for a in list(ax.lines) + list(ax.collections) + list(ax.images)
        }
        if "ours" in gids or "paper" in gids:
            found += figure1_problems(fig)
        if "curve" in gids:
            found += interval_words_problems(fig, "curve-interval:")
        if "band" in gids:
            found += band_noise_problems(fig)
        if name.startswith(("weight_", "risk")):
            found += linear_theory_problems(fig)
        if name.startswith("zoo_"):
            found += zoo_problems(fig)
        if found:
            self.problems[name] = found

    def named(self, save):
        @functools.wraps(save)
        def wrapper(fig, path_stem, *args, **kwargs):
            self.current = Path(path_stem).name
            try:
                return save(fig, path_stem, *args, **kwargs)
            finally:
                self.current = None

        return wrapper


@pytest.fixture
def checked(monkeypatch):
    check = Checked()
    monkeypatch.setattr(Figure, "savefig", lambda fig, target, *a, **k: check.savefig(fig, target, *a, **k))
    from paper_figures import linear_theory, precision, report

    for module in (report, linear_theory, precision):
        monkeypatch.setattr(module, "savefig", check.named(module.savefig))
    return check


def _report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}:\n  " + "\n  ".join(found) for name, found in problems.items())


def test_every_figure_of_the_fashion_mnist_report_is_clean(checked, tmp_path):
    from paper_figures import report

    if not (FMNIST / "runs").is_dir():
        pytest.skip("no shipped Fashion-MNIST results")
    path, _missing, written, _claims = report.build_report(
        [str(FMNIST / "runs")], tmp_path / "report", linear_theory=str(FMNIST / "linear_theory"), allow_partial=True
    )
    for name in (
        "figure1",
        "robustness_curves",
        "band_noise",
        "fourier_heatmaps",
        "risk_ratio_heatmap",
        "weight_norms",
    ):
        assert name in checked.names, f"{name} was not drawn (drawn: {checked.names})"
    assert not checked.problems, "\n" + _report(checked.problems)
    assert not any("surface" in n for n in checked.names), "the 3-D risk-ratio surface is drawn"
    # every figure the report shows is one that was drawn
    text = path.read_text()
    for p in written:
        if p.suffix == ".png":
            assert p.relative_to(tmp_path / "report").as_posix() in text


def test_every_scatter_plot_of_the_zoo_report_is_clean(checked, monkeypatch, tmp_path):
    from paper_figures import optimizer_zoo as zoo

    if not (ZOO / "runs").is_dir():
        pytest.skip("no shipped optimizer-zoo results")
    monkeypatch.setattr(zoo, "correlation", functools.partial(zoo.correlation, samples=40))
    zoo.report([ZOO / "runs"], tmp_path / "zoo", budget="shipped runs (geometry test)")
    assert len([n for n in checked.names if n.startswith("zoo_")]) == 8, checked.names
    assert not checked.problems, "\n" + _report(checked.problems)


def test_the_shipped_bf16_tracking_figure_is_clean(checked, tmp_path):
    from paper_figures import precision

    if not (FMNIST / "fp32_reference").is_dir():
        pytest.skip("no shipped fp32 reference runs")
    precision.tracking_figure(precision.tracking(FMNIST / "runs", FMNIST / "fp32_reference"), tmp_path)
    assert checked.names == ["tracking"]
    assert not checked.problems, "\n" + _report(checked.problems)


def test_every_figure_of_a_report_with_several_seeds_and_every_part_is_clean(checked, tmp_path):
    """The hand-made store of test_paper_figures: three optimizers and seeds (intervals, single seeds, longer legends),
    AutoAttack and PGD, both bases, Figure 2 with its inset -- what the shipped results do not have yet."""
    from paper_figures import report
    from tests.test_paper_figures import write_irrelevant_freq, write_linear_theory, write_sweep

    sweep, irr = write_sweep(tmp_path / "sweep"), write_irrelevant_freq(tmp_path / "irr")
    lt = write_linear_theory(tmp_path / "lt")
    report.build_report([str(sweep)], tmp_path / "report", irrelevant_freq=str(irr), linear_theory=str(lt))
    assert {"figure1", "robustness_curves", "band_noise", "fourier_heatmaps", "figure2", "weight_norms"} <= set(
        checked.names
    )
    assert not checked.problems, "\n" + _report(checked.problems)


def test_the_checks_see_an_overlap_an_escape_and_an_unlabelled_tick():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(3, 2))
    a.set_title("a title much too long for its narrow panel")
    b.set_title("and its neighbour's")
    fig.suptitle("a suptitle far wider than the figure that holds it, by a long way")
    b.set_xticks([0, 0.5, 1], ["0", "", "1"])
    found = "\n".join(geometry_problems(fig))
    assert "overlaps" in found and "outside the figure" in found and "has no label" in found
    plt.close(fig)
    # a colour bar over a panel, a legend over the neighbour, an inset on its parent (allowed)
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3))
    a.set_title("left")
    b.set_title("the right panel's title")
    fig.colorbar(a.imshow([[0, 1], [1, 0]]), cax=fig.add_axes([0.4, 0.3, 0.03, 0.6]))
    a.plot([0, 1], label="a legend entry")
    a.legend(loc="upper left", bbox_to_anchor=(1.3, 1.12))
    b.inset_axes([0.3, 0.95, 0.4, 0.2])
    found = "\n".join(geometry_problems(fig))
    assert "panel 0 ('left') overlaps colour bar 3" in found and "colour bar 3 y-tick '0.0' lies over panel 0" in found
    assert "legend 0 lies over panel 1" in found
    assert 'panel 1 ("the right panel\'s title") overlaps panel 2' not in found.splitlines()  # an inset on its parent
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.set_title("fits")
    assert geometry_problems(fig) == []
    plt.close(fig)
