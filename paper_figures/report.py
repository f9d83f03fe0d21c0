"""The reproduction report: every figure, our numbers side by side with the paper's, and the paper's claims checked.

Ma, Pan & Farahmand (TMLR 2023).  Draws every figure and table from the results store into ``OUT/figures``
and writes ``OUT/report.md``:

* Figure 1 with a table of our numbers beside the paper's (``paper_reference.json``) and all stored sizes;
* Figure 2 (irrelevant frequencies), the band-limited-noise figure, the Fourier heat maps, Table 1
  (Lipschitz bounds) and the linear-theory figures (``paper_figures/linear_theory.py``);
* whether the paper's qualitative claims hold on our runs: SGD more robust than Adam and RMSprop at
  comparable standard accuracy; high bands hurt the adaptive models more; SGD has the smallest Lipschitz
  bound; training data holds irrelevant frequencies; in the linear model the adaptive methods end with a
  larger adversarial risk than GD;
* what is missing from the store and the command that produces it.

    python paper_figures/report.py --sweep outputs/multiruns/reproduce_quick \\
        [--irrelevant-freq outputs/multiruns/reproduce_quick_irrelevant_freq] \\
        [--linear-theory outputs/runs/linear_theory_quick/default] --out outputs/reproduce/quick

Never trains.  Exits with status 2 (one line) when the sweep holds no completed run, or with ``--strict``
when any part is missing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `paper_figures` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper_figures import band_noise as band_noise_fig  # noqa: E402
from paper_figures import figure1 as figure1_fig  # noqa: E402
from paper_figures import figure2 as figure2_fig  # noqa: E402
from paper_figures import table1 as table1_mod  # noqa: E402
from paper_figures.common import (  # noqa: E402
    MissingResultsError,
    Sweep,
    cli_main,
    dataset_label,
    eps_text,
    figure1_setting,
    figure1_values,
    gaussian_accuracy,
    load_irrelevant_freq,
    load_linear_theory,
    load_sweep,
    log_images_to_wandb,
    paper_figure1,
    per_optimizer,
    robust_accuracy,
    stored_eps,
    stored_variances,
)
from paper_figures.style import label, savefig, use_style  # noqa: E402
from robustopt.errors import RobustOptError  # noqa: E402
from robustopt.io import atomic_write_text  # noqa: E402

ADAPTIVE = ("adam", "rmsprop", "adamw", "adagrad", "signsgd")
QUANTITY_TEXT = {"standard": "standard accuracy", "gaussian_noise": "Gaussian noise", "l2": "L2 attack", "linf": "L∞ attack"}


@dataclass
class Claim:
    """One of the paper's qualitative claims checked on our runs."""

    claim: str
    scope: str
    verdict: str  # holds | partly holds | does not hold | inconclusive | not checked
    evidence: str


# -- Figure 1: numbers side by side ---------------------------------------------------------------------

def _pct(st, digits: int = 1) -> str:
    return "–" if st is None else st.fmt(100.0, digits)


def side_by_side_table(sweep: Sweep, settings: dict, reference: dict) -> str:
    """Markdown: per data set and quantity, our mean ± std beside the paper's value, one column pair per optimizer."""
    names = [n for n in ("sgd", "adam", "rmsprop") if any(n in sweep.optimizers(ds) for ds in sweep.datasets)]
    names += [n for ds in sweep.datasets for n in sweep.optimizers(ds) if n not in names]
    names = list(dict.fromkeys(names))
    head = "| data set | quantity | " + " | ".join(f"{label(n)} ours | {label(n)} paper" for n in names) + " |"
    lines = [head, "|---|---|" + "---:|---:|" * len(names)]
    for ds in sweep.datasets:
        setting, values, ref = settings[ds], figure1_values(sweep, ds, settings[ds]), reference.get(ds) or {}
        for q in ("standard", "gaussian_noise", "l2", "linf"):
            if q not in values:
                continue
            size = {"standard": "", "gaussian_noise": f" (variance {setting.variance:g})",
                    "l2": f" ({setting.attack_l2}, ε = {eps_text(setting.eps_l2, 'l2')})" if setting.eps_l2 is not None else "",
                    "linf": f" ({setting.attack_linf}, ε = {eps_text(setting.eps_linf, 'linf')})" if setting.eps_linf is not None else ""}[q]
            cells = []
            for n in names:
                ours = _pct(values[q].get(n))
                paper = (ref.get(q) or {}).get(n)
                approx = "≈" if (ref.get("approximate") or {}).get(q) else ""
                cells.append(f"{ours} | {approx}{paper:g}" if paper is not None else f"{ours} | –")
            lines.append(f"| {dataset_label(ds)} | {QUANTITY_TEXT[q]}{size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def all_sizes_table(sweep: Sweep, ds: str) -> str:
    """Markdown: our accuracy (%) at every stored variance and eps, one column per optimizer."""
    runs = sweep.select(ds)
    names = sweep.optimizers(ds)
    lines = ["| perturbation | " + " | ".join(label(n) for n in names) + " |", "|---|" + "---:|" * len(names)]
    std = per_optimizer(runs, lambda r: r.test_accuracy)
    lines.append("| none (standard accuracy) | " + " | ".join(_pct(std.get(n)) for n in names) + " |")
    for v in stored_variances(sweep, ds):
        st = per_optimizer(runs, lambda r, v=v: gaussian_accuracy(r, v))
        lines.append(f"| Gaussian noise, variance {v:g} | " + " | ".join(_pct(st.get(n)) for n in names) + " |")
    for norm in ("l2", "linf"):
        for e in stored_eps(sweep, ds, norm):
            st = per_optimizer(runs, lambda r, e=e, norm=norm: robust_accuracy(r, norm, e))
            attack = figure1_setting(sweep, ds).attack_l2 if norm == "l2" else figure1_setting(sweep, ds).attack_linf
            lines.append(f"| {attack} {'L2' if norm == 'l2' else 'L∞'}, ε = {eps_text(e, norm)} | "
                         + " | ".join(_pct(st.get(n)) for n in names) + " |")
    return "\n".join(lines)


# -- the claims ----------------------------------------------------------------------------------------

def _verdict(passed: int, total: int) -> str:
    if total == 0:
        return "inconclusive"
    return "holds" if passed == total else ("does not hold" if passed == 0 else "partly holds")


def _all_sizes(sweep: Sweep, ds: str) -> list[tuple[str, dict]]:
    """``(perturbation text, {optimizer: Stat})`` for every stored Gaussian variance and attack eps."""
    runs = sweep.select(ds)
    out = []
    for v in stored_variances(sweep, ds):
        out.append((f"Gaussian var {v:g}", per_optimizer(runs, lambda r, v=v: gaussian_accuracy(r, v))))
    for norm in ("l2", "linf"):
        for e in stored_eps(sweep, ds, norm):
            out.append((f"{'L2' if norm == 'l2' else 'L∞'} ε={eps_text(e, norm)}", per_optimizer(runs, lambda r, e=e, norm=norm: robust_accuracy(r, norm, e))))
    return out


def claim_sgd_more_robust(sweep: Sweep, ds: str, setting, tolerance: float = 0.02) -> Claim:
    """SGD's accuracy under every stored perturbation (each Gaussian variance, each attack eps) is above each adaptive
    method's, at comparable standard accuracy (standard accuracies within ``tolerance``)."""
    std = per_optimizer(sweep.select(ds), lambda r: r.test_accuracy)
    text = "SGD is more robust than the adaptive methods at comparable standard accuracy (Fig. 1)"
    if "sgd" not in std:
        return Claim(text, dataset_label(ds), "not checked", "no SGD run")
    adaptive = [a for a in std if a in ADAPTIVE]
    if not adaptive:
        return Claim(text, dataset_label(ds), "not checked", "no adaptive-method run")
    passed = total = 0
    parts, gaps = [], []
    sizes = _all_sizes(sweep, ds)
    for a in adaptive:
        gaps.append(std["sgd"].mean - std[a].mean)
        wins = []
        for name, stats in sizes:
            s, o = stats.get("sgd"), stats.get(a)
            if s is None or o is None:
                continue
            total += 1
            passed += s.mean > o.mean
            wins.append(f"{name} {100 * s.mean:.1f}{'>' if s.mean > o.mean else '≤'}{100 * o.mean:.1f}")
        parts.append(f"SGD vs {label(a)}: " + ", ".join(wins))
    verdict = _verdict(passed, total)
    worst = max(gaps, key=abs)
    comparable = all(abs(g) <= tolerance for g in gaps)
    std_text = ", ".join(f"{label(n)} {100 * st.mean:.1f}" for n, st in std.items())
    evidence = (f"SGD is more accurate in {passed} of {total} (optimizer, perturbation) pairs over every stored size "
                f"({'; '.join(parts)}). Standard accuracy: {std_text}.")
    if not comparable:
        evidence += (f" The standard accuracies differ by up to {100 * abs(worst):.1f} points (> {100 * tolerance:g}), so they are not "
                     "comparable as in the paper: train longer (the paper: 200 epochs) before reading this as evidence.")
        verdict = f"inconclusive ({verdict} on the raw numbers)"
    return Claim(text, dataset_label(ds), verdict, evidence)


def claim_high_bands(sweep: Sweep, ds: str) -> list[Claim]:
    """Per basis: the mean accuracy drop over the upper half of the bands is larger for each adaptive method than for SGD."""
    text = "Noise in the high frequency bands hurts the adaptive models more than SGD (band-limited noise)"
    out = []
    for basis in band_noise_fig.bases_of(sweep, ds):
        drops = band_noise_fig.band_drops(sweep, ds, basis)
        if "sgd" not in drops or not any(a in drops for a in ADAPTIVE):
            out.append(Claim(text, f"{dataset_label(ds)}, {basis.upper()}", "not checked", "needs SGD and an adaptive method"))
            continue
        n = len(drops["sgd"])
        high = range(n // 2, n)
        low = range(0, n // 2)
        mean_of = lambda stats, ks: sum(stats[k].mean for k in ks) / len(ks)  # noqa: E731
        sgd_hi = mean_of(drops["sgd"], high)
        parts, passed, total = [f"SGD {100 * sgd_hi:.1f}"], 0, 0
        for a in (x for x in drops if x in ADAPTIVE):
            total += 1
            hi = mean_of(drops[a], high)
            passed += hi > sgd_hi
            parts.append(f"{label(a)} {100 * hi:.1f}")
        low_parts = ", ".join(f"{label(o)} {100 * mean_of(s, low):.1f}" for o, s in drops.items())
        out.append(Claim(text, f"{dataset_label(ds)}, {basis.upper()}", _verdict(passed, total),
                         f"mean drop over bands {n // 2 + 1}–{n} (points): {', '.join(parts)}; over bands 1–{n // 2}: {low_parts}."))
    return out


def claim_lipschitz(sweep: Sweep, ds: str) -> Claim:
    """SGD's mean Lipschitz upper bound is the smallest."""
    text = "SGD has the smallest Lipschitz upper bound (Table 1)"
    rows = [r for r in table1_mod.table1_rows(sweep) if r["dataset"] == ds and r["upper bound"] is not None]
    bounds = {r["optimizer"]: r["upper bound"] for r in rows}
    if "sgd" not in bounds or len(bounds) < 2:
        return Claim(text, dataset_label(ds), "not checked", "needs the upper bound of SGD and another optimizer")
    others = [o for o in bounds if o != "sgd"]
    passed = sum(bounds["sgd"].mean < bounds[o].mean for o in others)
    evidence = ", ".join(f"{label(o)} {st.mean:.3g}" for o, st in bounds.items())
    return Claim(text, dataset_label(ds), _verdict(passed, len(others)), f"mean upper bound: {evidence}.")


def claim_irrelevant_frequencies(rows: list[dict], tolerance: float = 0.02) -> list[Claim]:
    """Per data set and filter: the largest % of frequencies removed with test accuracy within ``tolerance`` of the baseline."""
    text = "Training data holds irrelevant frequencies: removing many of them barely changes test accuracy (Fig. 2)"
    out = []
    for ds, entry in figure2_fig.curves(rows).items():
        base = entry["baseline"]
        for filt in ("high_frequency", "low_energy"):
            points = entry.get(filt)
            if not points or base is None:
                continue
            ok = [p for p, s in points if s.mean >= base.mean - tolerance]
            best = max(ok) if ok else 0
            verdict = "holds" if best >= 50 else ("partly holds" if best > 0 else "does not hold")
            if base.mean < 0.5:  # a model near chance cannot lose accuracy: no evidence either way
                verdict = f"inconclusive (the unfiltered model reaches only {100 * base.mean:.1f}%: train longer)"
            acc = ", ".join(f"{p}%: {100 * s.mean:.1f}" for p, s in points)
            out.append(Claim(text, f"{dataset_label(ds)}, {filt.replace('_', ' ')}", verdict,
                             f"up to {best}% removed within {100 * tolerance:g} points of the unfiltered {100 * base.mean:.1f}% "
                             f"(test accuracy by % removed: {acc})."))
    return out


def claim_linear_theory(summary: dict) -> list[Claim]:
    """Per gradient mode: every adaptive method ends with a larger adversarial risk (at the largest eps <= sqrt 2) than GD's
    limit t -> infinity (the minimum-norm solution, ``gd_limit``; GD's final value when the run has no limit)."""
    text = "Linear model: GD and the adaptive methods reach a small standard risk, the adaptive ones a larger adversarial risk (Sec. 4)"
    out = []
    limit = (summary.get("gd_limit") or {}).get("adversarial_risk") or {}
    for mode, finals in (summary.get("final") or {}).items():
        if "gd" not in finals:
            continue
        keys = sorted(finals["gd"]["adversarial_risk"], key=float)
        key = max((k for k in keys if float(k) <= math.sqrt(2) + 1e-6), key=float, default=keys[-1])
        gd = limit.get(key, finals["gd"]["adversarial_risk"][key])
        others = [o for o in finals if o != "gd"]
        passed = sum(finals[o]["adversarial_risk"][key] > gd for o in others)
        risks = ", ".join(f"{label(o)} {finals[o]['adversarial_risk'][key]:.3g} (standard {finals[o]['standard_risk']:.2g})" for o in ["gd", *others])
        ref = f"GD's limit t→∞ {gd:.3g}" if key in limit else f"GD's final {gd:.3g}"
        out.append(Claim(text, f"{mode} gradient, ε = {float(key):.3g}", _verdict(passed, len(others)),
                         f"adversarial risk of the adaptive methods vs {ref}; final adversarial (standard) risk after "
                         f"{summary.get('n_steps', '?')} steps: {risks}."))
    return out


# -- the report -----------------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def setting_table(sweep: Sweep) -> str:
    """Markdown: what was trained (per data set and optimizer: model, epochs, learning rate, seeds)."""
    lines = ["| data set | model | optimizer | learning rate | epochs | seeds |", "|---|---|---|---:|---:|---|"]
    for ds in sweep.datasets:
        for opt in sweep.optimizers(ds):
            runs = sweep.select(ds, opt)
            cfg = runs[0].config
            seeds = ", ".join(str(r.seed) for r in runs)
            lines.append(f"| {dataset_label(ds)} | {cfg.get('model', {}).get('name')} | {label(opt)} | "
                         f"{cfg.get('optimizer', {}).get('lr', '–'):g} | {cfg.get('epochs')} | {seeds} |")
    return "\n".join(lines)


def build_report(sweeps: list[str], out: str | Path, irrelevant_freq: str | None = None, linear_theory: str | None = None,
                 allow_partial: bool = True, tolerance: float = 0.02) -> tuple[Path, list[str], list[Path]]:
    """Draw every figure into ``out/figures`` and write ``out/report.md``.

    Returns ``(report path, missing pieces (one line each, with the command), written figure paths)``.
    Raises :class:`MissingResultsError` only when the sweeps hold no completed run.
    """
    use_style()
    out = Path(out)
    figs = out / "figures"
    sweep = load_sweep(sweeps)
    reference = paper_figure1()
    missing: list[str] = []
    written: list[Path] = []
    claims: list[Claim] = []
    md = ["# Reproduction report: Ma, Pan & Farahmand (TMLR 2023)", "",
          "*Understanding the robustness difference between stochastic gradient descent and adaptive gradient methods* "
          "([arXiv:2308.06703](https://arxiv.org/abs/2308.06703)).", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `paper_figures/report.py` from the results store (never re-trained):", ""]
    md += [f"- training sweep: `{r}` ({len(sweep.runs)} completed runs" + (f", {len(sweep.incomplete)} not completed" if sweep.incomplete else "") + ")"
           for r in sweep.roots]
    if irrelevant_freq:
        md.append(f"- irrelevant-frequency sweep: `{irrelevant_freq}`")
    if linear_theory:
        md.append(f"- linear-theory run: `{linear_theory}`")
    md += ["", "## What was trained", "", setting_table(sweep), ""]
    if sweep.incomplete:
        md += ["Runs not completed (left out): " + ", ".join(f"`{p}` ({s})" for p, s in sweep.incomplete), ""]

    def section(title: str, fn) -> None:
        md.extend(["", f"## {title}", ""])
        try:
            fn()
        except RobustOptError as exc:
            line = str(exc).splitlines()[0]
            missing.append(f"{title}: {line}")
            md.extend([f"*Missing:* {_md_cell(line)}", ""])

    # Figure 1
    def fig1():
        sw = sweep.require("gaussian_noise", allow_partial).require("robust_accuracy", allow_partial)
        settings = {ds: figure1_setting(sw, ds) for ds in sw.datasets}
        written.extend(savefig(figure1_fig.figure1(sw, settings, reference), figs / "figure1"))
        md.extend(["![Figure 1](figures/figure1.png)", "",
                   "Standard accuracy against accuracy under Gaussian noise, an L2 and an L∞ attack; small markers: single "
                   "seeds, large markers: mean ± std over seeds, open stars: the paper's values.", "",
                   "### Our numbers beside the paper's (accuracy in %, mean ± std over seeds)", "",
                   side_by_side_table(sw, settings, reference), ""])
        for ds, ref in reference.items():
            if ds in sw.datasets:
                md.append(f"Paper ({dataset_label(ds)}): {ref.get('source', '')} Model: {ref.get('model', '?')}. Attack: {ref.get('attack', '?')}.")
        md.extend(["", "Ours: the largest stored Gaussian-noise variance and the middle stored ε of the strongest stored attack "
               "(AutoAttack if evaluated, else PGD, else FGSM); the paper's perturbation sizes are not in our reference "
               "file, so compare the ordering of the optimizers rather than the absolute values.", ""])
        for ds in sw.datasets:
            md.extend([f"### Every stored perturbation size, {dataset_label(ds)} (ours, accuracy in %)", "", all_sizes_table(sw, ds), ""])
            claims.append(claim_sgd_more_robust(sw, ds, settings[ds], tolerance))

    section("Figure 1: standard vs perturbed accuracy", fig1)

    def fig2():
        if not irrelevant_freq:
            raise MissingResultsError("no irrelevant-frequency sweep given; produce one with `python experiments/irrelevant_freq.py` "
                                      "and pass it with --irrelevant-freq")
        rows = load_irrelevant_freq(irrelevant_freq)
        written.extend(savefig(figure2_fig.figure2(rows), figs / "figure2"))
        md.extend(["![Figure 2](figures/figure2.png)", "",
                   "Test accuracy (untouched test set) of SGD models trained on data with a share of the DCT coefficients "
                   "removed (highest frequencies, or lowest-energy coefficients); dashed: the unfiltered baseline.", ""])
        claims.extend(claim_irrelevant_frequencies(rows, tolerance))

    section("Figure 2: irrelevant frequencies", fig2)

    def band():
        sw = sweep.require("band_noise", allow_partial)
        written.extend(savefig(band_noise_fig.band_noise_figure(sw), figs / "band_noise"))
        md.extend(["![band-limited noise](figures/band_noise.png)", "",
                   "Accuracy drop (clean minus noisy, percentage points) under Gaussian noise restricted to one frequency band, "
                   "bands of equal size from the lowest to the highest frequency, DCT and FFT bases.", ""])
        for ds in sw.datasets:
            claims.extend(claim_high_bands(sw, ds))

    section("Band-limited noise", band)

    def heat():
        sw = sweep.require("fourier_heatmap", allow_partial)
        written.extend(savefig(band_noise_fig.fourier_heatmap_figure(sw), figs / "fourier_heatmaps"))
        md.extend(["![Fourier heat maps](figures/fourier_heatmaps.png)", "",
                   "Error rate under a perturbation of fixed L2 norm along each Fourier basis image (centre: lowest "
                   "frequencies); one map per optimizer, mean over seeds, one colour scale per data set.", ""])

    section("Fourier heat maps", heat)

    def table1():
        sw = sweep.require("lipschitz", allow_partial)
        rows = table1_mod.table1_rows(sw)
        figs.mkdir(parents=True, exist_ok=True)
        atomic_write_text(figs / "table1.md", table1_mod.markdown(rows) + "\n")
        atomic_write_text(figs / "table1.tex", table1_mod.latex(rows) + "\n")
        md.extend([table1_mod.markdown(rows), "", "Also as LaTeX: `figures/table1.tex`.", ""])
        for ds in sw.datasets:
            claims.append(claim_lipschitz(sw, ds))

    section("Table 1: Lipschitz bounds", table1)

    def theory():
        if not linear_theory:
            raise MissingResultsError("no linear-theory run given; produce one with `python experiments/linear_theory.py theory=quick "
                                      "logger=none` and pass its run directory with --linear-theory")
        summary = load_linear_theory(linear_theory)
        from paper_figures import linear_theory as lt

        paths = lt.make_figures(linear_theory, figs / "linear_theory")
        written.extend(paths)
        for p in paths:
            if p.suffix == ".png":
                md.extend([f"![{p.stem}](figures/linear_theory/{p.name})", ""])
        md.extend(["Captions: `figures/linear_theory/linear_theory.md`.", ""])
        claims.extend(claim_linear_theory(summary))

    section("Linear theory", theory)

    md.extend(["", "## Do the paper's claims hold on our runs?", "",
               "| claim | scope | verdict | evidence |", "|---|---|---|---|"])
    md.extend(f"| {_md_cell(c.claim)} | {_md_cell(c.scope)} | **{_md_cell(c.verdict)}** | {_md_cell(c.evidence)} |" for c in claims)
    if not claims:
        md.append("| – | – | not checked | no results to check |")
    if missing:
        md.extend(["", "## Missing results", ""] + [f"- {_md_cell(m)}" for m in missing])
    md.append("")
    path = atomic_write_text(out / "report.md", "\n".join(md))
    return Path(path), missing, written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="append", required=True, help="sweep folder of trained and evaluated runs (repeatable)")
    parser.add_argument("--irrelevant-freq", help="the irrelevant-frequency sweep folder (experiments/irrelevant_freq.py)")
    parser.add_argument("--linear-theory", help="the linear-theory run directory (experiments/linear_theory.py)")
    parser.add_argument("--out", required=True, help="output folder: report.md and figures/")
    parser.add_argument("--tolerance", type=float, default=0.02, help="accuracy difference counted as comparable (default 0.02)")
    parser.add_argument("--strict", action="store_true", help="exit non-zero when any part is missing")
    parser.add_argument("--wandb", action="store_true", help="also log every PNG to W&B (offline) as images")
    args = parser.parse_args(argv)

    def run():
        path, missing, written = build_report(args.sweep, args.out, args.irrelevant_freq, args.linear_theory, tolerance=args.tolerance)
        for m in missing:
            print(f"missing: {m}", file=sys.stderr)
        if args.wandb:
            log_images_to_wandb(written, name="report", dir=Path(args.out))
        print(path)
        if args.strict and missing:
            raise MissingResultsError(f"{len(missing)} part(s) of the report are missing, first: {missing[0]}")

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
