"""The reproduction report: every figure, our numbers beside the paper's, and the paper's claims decided by statistics.

Ma, Pan & Farahmand (TMLR 2023).  Draws every figure and table from the results store into ``OUT/figures`` and
writes ``OUT/report.md``:

* the verdict on each of the paper's claims (:mod:`paper_figures.claims`): **holds** only when the 95% interval
  of the per-seed effect excludes zero in the paper's direction, **contradicted** when it excludes zero in the
  other, **inconclusive** otherwise, with the reason in words -- for every protocol the store holds: the
  paper's (final epoch) and, when evaluated, matched standard accuracy (``evaluate.py protocol=matched``);
* Figure 1 with our numbers beside the paper's (:func:`robustopt.paper.figure1`), every number on the same test
  images, and the robustness curves over every stored perturbation size;
* the band-limited-noise figure, the Fourier heat maps, Table 1 (Lipschitz), Figure 2 (irrelevant
  frequencies) and the linear-theory figures.

    python paper_figures/report.py --sweep outputs/multiruns/reproduce_quick \\
        --irrelevant-freq outputs/multiruns/reproduce_quick_irrelevant_freq \\
        --linear-theory outputs/runs/linear_theory_quick/default --out outputs/reproduce/quick

The report is the list :data:`SECTIONS`: each names the evaluations it needs, how it is drawn and which claims it
adds, and is drawn once per protocol; the tables come from :mod:`paper_figures.tables`.

Never trains.  When a part is missing it says which and how to produce it, and exits with status 2 without
writing anything; ``--allow-partial`` writes the parts it has, marked PARTIAL at the top.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from paper_figures import band_noise as band_noise_fig
from paper_figures import figure1 as figure1_fig
from paper_figures import figure2 as figure2_fig
from paper_figures import linear_theory as linear_theory_fig
from paper_figures import table1 as table1_mod
from paper_figures.claims import (
    IRRELEVANT_LEVELS_MAX,
    TOLERANCES,
    Claim,
    claim_band_noise,
    claim_irrelevant_frequencies,
    claim_linear_theory,
    claim_lipschitz,
    claim_main,
    protocol_text,
)
from paper_figures.cli import cli_main
from paper_figures.figure1_data import eps_text, figure1_setting
from paper_figures.style import dataset_label, savefig, use_style
from paper_figures.tables import (
    all_sizes_table,
    evidence_list,
    md_cell,
    setting_table,
    side_by_side_table,
    verdict_table,
)
from paper_figures.wandb_log import log_images_to_wandb
from robustopt import paper
from robustopt.errors import MissingResultsError, RobustOptError
from robustopt.io import atomic_write_bytes, atomic_write_text
from robustopt.tracking.store import Sweep, load_irrelevant_freq, load_linear_theory, load_sweep

RULE_TEXT = (
    "**How the verdicts are reached.** Runs of one seed start from the same initial weights and see the same "
    "batches, so optimizers are compared seed by seed: the effect is one number per seed (e.g. SGD's accuracy minus "
    "Adam's on the same test images). *holds*: the 95% Student-t interval of the effect over seeds excludes 0 in the "
    "paper's direction; *contradicted*: it excludes 0 in the other direction; *inconclusive*: otherwise, with the "
    "reason. Where the per-image outcomes are stored, the interval also carries the images' own sampling error (the "
    "union with a conservative McNemar-type per-image interval), so identical effects on a few images never decide; "
    "where they are not stored, "
    'identical effects over seeds (sd = 0, a zero-width interval) never decide. "About the same" '
    f"holds when the interval lies within ±{100 * TOLERANCES['irrelevant_margin']:g} points. A claim of several "
    "parts holds when all of them hold, and is contradicted when one of its k parts is contradicted at the "
    "Bonferroni-corrected level (a 1 − 5%/k interval), so a false *holds* and a false *contradicted* each come at "
    "most 2.5% of the time, as for one part. The band-noise claim is the interaction (adaptive − SGD extra drop in "
    "the high bands) − (the same in the low bands) > 0, with the bands named in its scope. A gap of more than "
    f"{100 * TOLERANCES['standard_accuracy']:g} points (mean over seeds) in standard accuracy between compared "
    "models makes a verdict inconclusive (the paper compares models of equal standard accuracy). McNemar's exact "
    "test over the same images gives one p-value per seed, reported as evidence. The rule: "
    "`robustopt.stats.decide`; the tolerances: `paper_figures.claims.TOLERANCES`."
)


# -- captions computed from the numbers ---------------------------------------------------------------------


def figure1_caption(sweep: Sweep, settings: dict) -> str:
    parts, omitted = [], []
    for ds in sweep.datasets:
        s = settings[ds]
        seeds = len(sweep.groups(ds))
        omitted += [
            f"{dataset_label(ds)} {'L2' if q == 'l2' else 'L∞'}"
            for q in ("l2", "linf")
            if not figure1_fig.paper_comparable(q, s)
        ]
        images = (
            figure1_fig.images_text(s)
            + " (each perturbed accuracy beside the standard accuracy on its images, from the same runs)"
        )
        sizes = []
        if s.variance is not None:
            sizes.append(f"Gaussian noise of variance {s.variance:g}")
        if s.eps_l2 is not None:
            sizes.append(f"{s.attack_l2} L2 ε = {eps_text(s.eps_l2, 'l2')}")
        if s.eps_linf is not None:
            sizes.append(f"{s.attack_linf} L∞ ε = {eps_text(s.eps_linf, 'linf')}")
        parts.append(f"{dataset_label(ds)}: {', '.join(sizes)}; {images}; {seeds} seed{'s' if seeds != 1 else ''}")
    return (
        "Standard accuracy (y) against accuracy under perturbation (x), "
        + "; ".join(parts)
        + ". Markers: SGD ★, Adam ●, RMSprop ◆ (the authors' blog post); error bars: 95% intervals over seeds (none "
        "for one seed); open markers: the paper's values (read off its Figure 1, ±1 point)"
        + (
            "; the paper attacked with AutoAttack, so its attack points are not drawn beside our other attack "
            f"({', '.join(omitted)}: they are in the table below)"
            if omitted
            else ""
        )
        + ". The smallest ε and the largest variance are where the authors' released CIFAR-10 log matches their "
        "Figure 1."
    )


# -- the report -----------------------------------------------------------------------------------------------


def _paper_baselines(reference: dict) -> dict[str, float]:
    """The paper's unfiltered accuracy per data set (Figure 2 when recorded, else SGD's standard accuracy
    in Figure 1)."""
    out = {}
    fig2 = reference.get("figure2") or {}
    for ds, entry in (reference.get("figure1") or {}).items():
        value = (fig2.get(ds) or {}).get("baseline")
        if value is None:
            value = (entry.get("standard") or {}).get("sgd")
        if value is not None:
            out[ds] = float(value) / 100
    return out


def build_report(
    sweeps: list[str],
    out: str | Path,
    irrelevant_freq: str | None = None,
    linear_theory: str | None = None,
    allow_partial: bool = False,
) -> tuple[Path, list[str], list[Path], list[Claim]]:
    """Draw every figure into ``out/figures`` and write ``out/report.md``.

    Returns ``(report path, missing pieces, written figure paths, the checked claims)``.  A missing piece raises
    :class:`MissingResultsError` (nothing written) unless ``allow_partial``, which writes the report marked PARTIAL.
    Everything is drawn into a temporary folder first and copied into ``out`` only when the report is complete
    (report.md last).
    """
    sweep = load_sweep(sweeps, require_completed=False)
    stage = Path(tempfile.mkdtemp(prefix="robustopt-report-"))
    try:
        path, missing, written, claims = _build_report(sweep, stage, irrelevant_freq, linear_theory, allow_partial)
        out = Path(out)
        for p in sorted(stage.rglob("*")):
            if p.is_file() and p != path:
                atomic_write_bytes(out / p.relative_to(stage), p.read_bytes())
        report_path = Path(atomic_write_bytes(out / "report.md", path.read_bytes()))
        return report_path, missing, [out / Path(p).relative_to(stage) for p in written], claims
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@dataclass
class Context:
    """What every section draws from: the store's runs under each protocol, the other inputs, the paper's numbers, and
    the folder the figures go to."""

    sweep: Sweep
    matched: Sweep | None
    figs: Path
    irrelevant_freq: str | None
    linear_theory: str | None
    allow_partial: bool
    reference: dict = field(default_factory=paper.reference)
    fig1_ref: dict = field(default_factory=paper.figure1)

    def protocols(self, evaluation: str) -> list[tuple[str, Sweep]]:
        """(protocol, the runs holding ``evaluation``) for every protocol whose runs hold it; raises
        :class:`MissingResultsError` (the final protocol's, which names the command) when no protocol does."""
        found, first_error = [], None
        for proto, sw in (("final", self.sweep), ("matched", self.matched)):
            if sw is None:
                continue
            try:
                found.append((proto, sw.require(evaluation, self.allow_partial)))
            except MissingResultsError as exc:
                first_error = first_error or exc
        if not found:
            raise first_error
        return found


@dataclass
class Drawn:
    """What a section adds to the report: its Markdown lines, the files it wrote and the claims it checked."""

    lines: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    """One section of the report.

    ``evaluations``: what the runs must hold; the section is then drawn once per protocol whose runs hold the first
    (the others must be held too), by ``draw(ctx, protocol, sweep, suffix)``, and adds ``claims(sweep, dataset)`` for
    each data set.  Without ``evaluations`` the section is not about the training runs: ``draw(ctx)`` once.
    ``footer(ctx)``: lines after every protocol's part.  A :class:`~robustopt.errors.RobustOptError` marks the
    section missing, with its one-line reason."""

    title: str
    draw: Callable[..., Drawn]
    evaluations: tuple[str, ...] = ()
    claims: Callable[[Sweep, str], list[Claim]] | None = None
    footer: Callable[[Context], list[str]] | None = None

    def render(self, ctx: Context) -> Drawn:
        if not self.evaluations:
            return self.draw(ctx)
        out = Drawn()
        for proto, sw in ctx.protocols(self.evaluations[0]):
            for name in self.evaluations[1:]:
                sw = sw.require(name, ctx.allow_partial)
            part = self.draw(ctx, proto, sw, "" if proto == "final" else "_matched")
            out.lines += [f"### Protocol: {protocol_text(sw, proto)}", "", *part.lines]
            out.written += part.written
            out.claims += part.claims
            if self.claims is not None:
                for ds in sw.datasets:
                    out.claims += self.claims(sw, ds)
        if self.footer is not None:
            out.lines += self.footer(ctx)
        return out


def _figure1(ctx: Context, proto: str, sw: Sweep, suffix: str) -> Drawn:
    settings = {ds: figure1_setting(sw, ds) for ds in sw.datasets}
    written = savefig(figure1_fig.figure1(sw, settings, ctx.fig1_ref), ctx.figs / f"figure1{suffix}")
    lines = [
        f"![Figure 1](figures/figure1{suffix}.png)",
        "",
        figure1_caption(sw, settings),
        "",
        "Our numbers beside the paper's (accuracy in %, mean ± half-width of the 95% interval over seeds):",
        "",
        side_by_side_table(sw, settings, ctx.fig1_ref),
        "",
    ]
    written += savefig(figure1_fig.curves_figure(sw), ctx.figs / f"robustness_curves{suffix}")
    lines += [f"![robustness curves](figures/robustness_curves{suffix}.png)", "", figure1_fig.curves_caption(sw), ""]
    for ds in sw.datasets:
        lines += [
            f"Every stored perturbation size, {dataset_label(ds)} ({protocol_text(sw, proto)}; each evaluation on "
            "its own images; mean ± 95% interval):",
            "",
            all_sizes_table(sw, ds),
            "",
        ]
    return Drawn(lines, written)


def _figure1_sources(ctx: Context) -> list[str]:
    return [
        f"Paper ({dataset_label(ds)}): {ref.get('source', '')}"
        for ds, ref in ctx.fig1_ref.items()
        if ds in ctx.sweep.datasets
    ] + [""]


def _band_noise(ctx: Context, proto: str, sw: Sweep, suffix: str) -> Drawn:
    written = savefig(band_noise_fig.band_noise_figure(sw), ctx.figs / f"band_noise{suffix}")
    return Drawn(
        [f"![band-limited noise](figures/band_noise{suffix}.png)", "", band_noise_fig.band_noise_caption(sw), ""],
        written,
    )


def _heatmaps(ctx: Context, proto: str, sw: Sweep, suffix: str) -> Drawn:
    written = savefig(band_noise_fig.fourier_heatmap_figure(sw), ctx.figs / f"fourier_heatmaps{suffix}")
    return Drawn(
        [
            f"![Fourier heat maps](figures/fourier_heatmaps{suffix}.png)",
            "",
            band_noise_fig.fourier_heatmap_caption(sw),
            "",
        ],
        written,
    )


def _table1(ctx: Context, proto: str, sw: Sweep, suffix: str) -> Drawn:
    rows = table1_mod.table1_rows(sw)
    atomic_write_text(ctx.figs / f"table1{suffix}.md", table1_mod.markdown(rows) + "\n")
    atomic_write_text(ctx.figs / f"table1{suffix}.tex", table1_mod.latex(rows) + "\n")
    return Drawn([table1_mod.markdown(rows), "", f"Also as LaTeX: `figures/table1{suffix}.tex`.", ""])


def _figure2(ctx: Context) -> Drawn:
    if not ctx.irrelevant_freq:
        raise MissingResultsError(
            "no irrelevant-frequency sweep given; produce one with `python experiments/irrelevant_freq.py` "
            "and pass it with --irrelevant-freq"
        )
    rows = load_irrelevant_freq(ctx.irrelevant_freq)
    written = savefig(figure2_fig.figure2(rows), ctx.figs / "figure2")
    return Drawn(
        ["![Figure 2](figures/figure2.png)", "", figure2_fig.caption(rows), ""],
        written,
        claim_irrelevant_frequencies(rows, _paper_baselines(ctx.reference)),
    )


def _linear_theory(ctx: Context) -> Drawn:
    if not ctx.linear_theory:
        raise MissingResultsError(
            "no linear-theory run given; produce one with `python experiments/linear_theory.py theory=quick "
            "logger=none` and pass its run directory with --linear-theory"
        )
    summary = load_linear_theory(ctx.linear_theory)
    paths = linear_theory_fig.make_figures(ctx.linear_theory, ctx.figs / "linear_theory")
    captions = linear_theory_fig.captions(ctx.linear_theory)
    lines = []
    for p in paths:
        if p.suffix == ".png":
            lines += [f"![{p.stem}](figures/linear_theory/{p.name})", "", captions.get(p.stem, ""), ""]
    return Drawn(lines, list(paths), claim_linear_theory(summary))


#: The report's sections, in order.
SECTIONS: tuple[Section, ...] = (
    Section(
        "Figure 1: standard vs perturbed accuracy",
        _figure1,
        ("robust_accuracy", "gaussian_noise"),
        claims=lambda sw, ds: claim_main(sw, ds, figure1_setting(sw, ds)),
        footer=_figure1_sources,
    ),
    Section("Band-limited noise", _band_noise, ("band_noise",), claims=claim_band_noise),
    Section("Fourier heat maps", _heatmaps, ("fourier_heatmap",)),
    Section("Table 1: Lipschitz bounds", _table1, ("lipschitz",), claims=claim_lipschitz),
    Section("Figure 2: irrelevant frequencies", _figure2),
    Section("Linear theory", _linear_theory),
)


def _build_report(
    sweep: Sweep, out: Path, irrelevant_freq: str | None, linear_theory: str | None, allow_partial: bool
) -> tuple[Path, list[str], list[Path], list[Claim]]:
    use_style()
    protocols = ["final"] if any(r.evals for r in sweep.runs) else []
    try:
        matched = sweep.as_protocol("matched")
        protocols.append("matched")
    except MissingResultsError:
        matched = None
    ctx = Context(sweep, matched, out / "figures", irrelevant_freq, linear_theory, allow_partial)
    missing: list[str] = []
    missing_titles: list[str] = []
    written: list[Path] = []
    claims: list[Claim] = []
    body: list[str] = []
    for section in SECTIONS:
        body += ["", f"## {section.title}", ""]
        try:
            drawn = section.render(ctx)
        except RobustOptError as exc:
            line = str(exc).splitlines()[0]
            missing.append(f"{section.title}: {line}")
            missing_titles.append(section.title)
            body += [f"*Missing:* {md_cell(line)}", ""]
            continue
        body += drawn.lines
        written += drawn.written
        claims += drawn.claims

    if missing and not allow_partial:
        exc = MissingResultsError(
            f"{len(missing)} part(s) of the report are missing ({'; '.join(missing_titles)}); what each needs: the "
            "'missing:' lines; pass --allow-partial to write the parts that exist, marked PARTIAL"
        )
        exc.missing = list(missing)  # every part, each with the command that produces it (main prints them)
        raise exc

    md = ["# Reproduction report: Ma, Pan & Farahmand (TMLR 2023)", ""]
    if missing:
        md += ["> **PARTIAL REPORT** — parts are missing (listed at the end); their claims are not checked.", ""]
    md += [
        "*Understanding the robustness difference between stochastic gradient descent and adaptive gradient methods* "
        "([arXiv:2308.06703](https://arxiv.org/abs/2308.06703)).",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `paper_figures/report.py` from the results store (never "
        "re-trained):",
        "",
    ]
    md += [
        f"- training sweep: `{r}` ({len(sweep.runs)} completed runs"
        + (f", {len(sweep.incomplete)} not completed" if sweep.incomplete else "")
        + ")"
        for r in sweep.roots
    ]
    if irrelevant_freq:
        md.append(f"- irrelevant-frequency sweep: `{irrelevant_freq}`")
    if linear_theory:
        md.append(f"- linear-theory run: `{linear_theory}`")
    md += [
        "- evaluated under: "
        + (
            "; ".join(f"**{p}**: {protocol_text(sweep if p == 'final' else matched, p)}" for p in protocols)
            or "no protocol"
        ),
        "",
    ]
    md += ["## Verdicts", "", RULE_TEXT, ""] + verdict_table(claims)
    if not claims:
        md.append(f"| – | – | – | not checked | {md_cell(no_claim_reason(sweep, missing))} |")
    md += ["", "## What was trained", ""]
    if "final" in protocols:
        md += ["Evaluated at the final epoch (the paper's protocol):", "", setting_table(sweep), ""]
    if matched is not None:
        md += ["Evaluated at matched standard accuracy:", "", setting_table(matched), ""]
    if sweep.in_progress:
        md += [
            "Runs still training, evaluated at matched accuracy only (`evaluate.py protocol=matched "
            "in_progress=true`): "
            + ", ".join(
                f"`{r.path}` (epoch {(r.summary.get('matched') or {}).get('epochs_done')} of "
                f"{r.config.get('epochs')} done)"
                for r in sweep.in_progress
            ),
            "",
        ]
    if sweep.incomplete:
        md += ["Runs not completed (left out): " + ", ".join(f"`{p}` ({s})" for p, s in sweep.incomplete), ""]
    md += body
    md += ["", "## Evidence behind each verdict", ""] + evidence_list(claims)
    md += ["", f"Irrelevant frequencies are judged at removal levels up to {IRRELEVANT_LEVELS_MAX}%."]
    if missing:
        md.extend(["", "## Missing results", ""] + [f"- {md_cell(m)}" for m in missing])
    md.append("")
    path = atomic_write_text(out / "report.md", "\n".join(md))
    return Path(path), missing, written, claims


def no_claim_reason(sweep: Sweep, missing: list[str]) -> str:
    """Why no claim was checked: the evaluations the runs hold, and that each claim needs a part that is missing."""
    held = sorted({name for r in sweep.runs for name in r.evals})
    have = (
        f"the runs hold {', '.join(held)} ({len(sweep.runs)} completed runs)"
        if held
        else f"no run holds an evaluation ({len(sweep.runs)} completed runs)"
    )
    return f"no claim could be checked: {have}; each claim needs a part that is missing" + (
        f" ({len(missing)}: see Missing results)" if missing else ""
    )


def summary_lines(claims: list[Claim]) -> list[str]:
    """One line per verdict, for printing at the end of a reproduction."""
    return [f"{c.verdict.label.upper():>13}  {c.scope} [{c.protocol}]: {c.verdict.reason}" for c in claims]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sweep", action="append", required=True, help="sweep folder of trained and evaluated runs (repeatable)"
    )
    parser.add_argument(
        "--irrelevant-freq", help="the irrelevant-frequency sweep folder (experiments/irrelevant_freq.py)"
    )
    parser.add_argument("--linear-theory", help="the linear-theory run directory (experiments/linear_theory.py)")
    parser.add_argument(
        "--out",
        required=True,
        help="output folder: report.md, and figures/ with the figures of the parts whose results exist",
    )
    parser.add_argument(
        "--allow-partial", action="store_true", help="write the parts that exist when some are missing (marked PARTIAL)"
    )
    parser.add_argument("--wandb", action="store_true", help="also log every PNG to W&B (offline) as images")
    args = parser.parse_args(argv)

    def run():
        try:
            path, missing, written, claims = build_report(
                args.sweep, args.out, args.irrelevant_freq, args.linear_theory, args.allow_partial
            )
        except MissingResultsError as exc:
            for m in getattr(exc, "missing", []):  # every missing part with its command, then the one-line error
                print(f"missing: {m}", file=sys.stderr)
            raise
        for m in missing:
            print(f"missing: {m}", file=sys.stderr)
        if args.wandb:
            log_images_to_wandb(written, name="report", dir=Path(args.out))
        if claims:
            print("Verdicts (holds / contradicted: the 95% interval over seeds excludes 0; inconclusive: why):")
            print("\n".join(summary_lines(claims)))
        else:
            print(f"Verdicts: none; {no_claim_reason(load_sweep(args.sweep, require_completed=False), missing)}")
        figures = Path(args.out) / "figures"
        print(
            f"figures: {len(written)} file(s) in {figures}"
            if written
            else f"figures: none (no part of the report has its results; {figures} is not made)"
        )
        print(path)

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
