"""The paper's claims, each decided from per-seed values by :mod:`robustopt.stats`.

Ma, Pan & Farahmand (TMLR 2023) make five claims that a reproduction can check:

1. **Main claim (Figure 1)**: at the same standard accuracy, SGD models are more robust than Adam and RMSprop
   models -- under Gaussian noise, an L2 attack and an L∞ attack.
2. **Band-limited noise**: the adaptive models' extra accuracy loss over SGD is larger under noise in the high
   frequency bands than in the low ones -- tested as an interaction, paired by seed: (adaptive − SGD drop, mean
   over the high bands) − (the same over the low bands) > 0.  With the authors' 10 DCT bands of a 28-px image the
   high bands are 6-10 (the upper half) and the low bands 1-2 (the lowest fifth, :func:`band_halves`); a model
   that is worse by the same amount in every band does not pass.
3. **Lipschitz (Table 1)**: the SGD models have the smallest Lipschitz bound.
4. **Irrelevant frequencies (Figure 2)**: removing high-frequency or low-energy content from the training data
   barely changes test accuracy -- judged only against a baseline that trains to near the paper's accuracy.
5. **Linear theory (Section 4)**: every method reaches a small standard risk, *and* the adaptive methods end with
   a larger adversarial risk than GD.

How each verdict is reached (the rule itself is :func:`robustopt.stats.decide`):

* runs of one seed share their initial weights and batches, so optimizers are compared as pairs, seed by seed:
  the *effect* is one number per seed (e.g. SGD's accuracy minus Adam's on the same test images), and where the
  per-image outcomes are stored the interval also carries the images' own sampling error (the effect measured on
  ``n`` images is not exact: :func:`robustopt.stats.image_interval`);
* **holds** when the 95% interval of the effect over seeds excludes 0 in the paper's direction, **contradicted**
  when it excludes 0 in the other, **inconclusive** otherwise -- always with the reason: one seed; the interval
  contains 0; standard accuracies further apart, on average over seeds, than :data:`TOLERANCES`
  ``["standard_accuracy"]``; an
  undertrained baseline; GD not converged;
* "about the same" holds when the interval lies within a stated margin; a claim of several parts holds when
  every part holds, and is contradicted when a part is contradicted at the Bonferroni-corrected level
  (:func:`robustopt.stats.combine`: both error rates stay at most 2.5%, as for one part);
* accuracies on the same images are also compared image by image (McNemar's exact test, one p-value per seed, on
  every image both runs were evaluated on), reported as evidence beside the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from paper_figures.figure1_data import FIGURE1_QUANTITIES, Figure1Setting, eps_text, figure1_accuracy, outcome_mask
from paper_figures.style import dataset_label, label
from robustopt.bits import decode_mask
from robustopt.stats import INCONCLUSIVE, Verdict, combine, decide, decide_equivalent, mcnemar
from robustopt.tracking.store import Sweep

ADAPTIVE = ("adam", "rmsprop", "adamw", "adagrad", "signsgd")

#: The stated tolerances of the claims (accuracies as fractions).
TOLERANCES = {
    # standard accuracies of the compared models may differ by at most this much (the paper compares them at
    # about equal standard accuracy; a larger gap is a confound, so the verdict is inconclusive)
    "standard_accuracy": 0.02,
    # "removing content barely changes accuracy": the interval of the accuracy lost
    "irrelevant_margin": 0.02,
    # the unfiltered baseline must train to within this much of the paper's accuracy, else "undertrained"
    "baseline_gap": 0.03,
    # linear theory: a "small" standard risk is below this fraction of the initial one
    "standard_risk_fraction": 1e-3,
    # linear theory: GD counts as converged when its adversarial risk is within this fraction of its limit t -> inf
    "gd_limit_fraction": 0.02,
}
#: The removal levels at which the irrelevant-frequency claim is judged (the paper's Figure 2 stays flat there).
IRRELEVANT_LEVELS_MAX = 50


@dataclass
class Claim:
    """One of the paper's claims checked on our runs: its verdict and the numbers behind it."""

    claim: str
    scope: str
    protocol: str  # final (last epoch, the paper's) | matched (equal standard accuracy) | exact | filtered training
    verdict: Verdict
    evidence: str

    @property
    def label(self) -> str:
        return self.verdict.label


def _pts(x: float) -> str:
    return f"{100 * x:.1f}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else "<0.001"


def _standard_caveat(pairs: list[tuple[float, float]], who: str) -> str:
    """The caveat when the compared models' standard accuracies differ, on average over seeds, by more than the
    tolerance."""
    gaps = [abs(a - b) for a, b in pairs if a is not None and b is not None]
    tol = TOLERANCES["standard_accuracy"]
    if gaps and sum(gaps) / len(gaps) > tol:
        return (
            f"standard accuracies of {who} {_pts(sum(gaps) / len(gaps))} points apart on average over seeds "
            f"(up to {_pts(max(gaps))}; tolerance {_pts(tol)})"
        )
    return ""


def protocol_text(sweep: Sweep, protocol: str | None = None) -> str:
    """The protocol the runs of ``sweep`` were evaluated under, in words, from what the runs recorded: the final
    epoch (the paper's), or the matched-accuracy rule each run's ``summary.matched.rule`` states (several rules
    are listed; a run that recorded none says so)."""
    protocol = protocol or sweep.protocol
    if protocol == "final":
        epochs = sorted({r.epoch for r in sweep.runs if r.epoch is not None})
        at = f"epoch {epochs[0]}" if len(epochs) == 1 else ("epochs " + ", ".join(map(str, epochs)) if epochs else "")
        return "final epoch (the paper's protocol" + (f"; {at}" if at else "") + ")"
    runs = sweep.runs + [r for r in sweep.in_progress if r not in sweep.runs]
    rules = sorted({str((r.summary.get("matched") or {}).get("rule") or "no rule recorded") for r in runs})
    return "matched standard accuracy (" + "; ".join(rules or ["no run evaluated"]) + ")"


# -- 1. the main claim -------------------------------------------------------------------------------------

QUANTITY_TEXT = {"gaussian_noise": "Gaussian noise", "l2": "L2 attack", "linf": "L∞ attack"}


def _size_text(q: str, setting: Figure1Setting) -> str:
    if q == "gaussian_noise":
        return f"variance {setting.variance:g}"
    eps, attack = (setting.eps_l2, setting.attack_l2) if q == "l2" else (setting.eps_linf, setting.attack_linf)
    return f"{attack}, ε = {eps_text(eps, q)}"


def claim_main(sweep: Sweep, ds: str, setting: Figure1Setting) -> list[Claim]:
    """SGD more robust than each adaptive method, per perturbation of Figure 1, and all of them together."""
    text = "SGD is more robust than Adam and RMSprop at the same standard accuracy (Fig. 1)"
    groups = sweep.groups(ds)
    adaptive = [a for a in sweep.optimizers(ds) if a in ADAPTIVE]
    scope_base = dataset_label(ds)
    if "sgd" not in sweep.optimizers(ds) or not adaptive:
        v = Verdict(INCONCLUSIVE, "needs SGD and an adaptive method trained from the same initial weights")
        return [Claim(text, scope_base, sweep.protocol, v, "")]
    images = f"the first {setting.n_images} test images" if setting.n_images else "each evaluation's own test images"
    out, parts = [], []
    gauss_n = set()
    for q in ("gaussian_noise", "l2", "linf"):
        if (q == "gaussian_noise" and setting.variance is None) or (
            q != "gaussian_noise" and (setting.eps_l2 if q == "l2" else setting.eps_linf) is None
        ):
            continue
        per_adaptive, evidence = [], []
        for a in adaptive:
            effects, std_pairs, tests, diffs = [], [], [], []
            for g in groups:
                if "sgd" not in g or a not in g:
                    continue
                full = _gaussian_pair(g["sgd"], g[a], setting.variance) if q == "gaussian_noise" else None
                if full is not None:  # every image both runs were evaluated on, not the attacks' subset
                    (cs, ms), (ca, ma) = full
                    s_acc, a_acc = float(ms.mean()), float(ma.mean())
                    std_pairs.append((float(cs.mean()), float(ca.mean())))
                    gauss_n.add(ms.size)
                else:
                    s_acc, a_acc = figure1_accuracy(g["sgd"], q, setting), figure1_accuracy(g[a], q, setting)
                    if s_acc is None or a_acc is None:
                        continue
                    std_pairs.append(
                        (
                            figure1_accuracy(g["sgd"], f"standard@{q}", setting),
                            figure1_accuracy(g[a], f"standard@{q}", setting),
                        )
                    )
                    ms, ma = outcome_mask(g["sgd"], q, setting), outcome_mask(g[a], q, setting)
                effects.append(s_acc - a_acc)
                if ms is not None and ma is not None:
                    tests.append(mcnemar(ms, ma).p_value)
                    diffs.append(ms.astype(float) - ma.astype(float))
            if not effects:
                continue
            caveat = _standard_caveat(std_pairs, f"SGD and {label(a)}")
            v = decide(
                effects,
                caveats=[caveat],
                what=f"SGD − {label(a)}",
                scale=100,
                unit=" pts",
                outcomes=_same_images(diffs, len(effects)),
            )
            per_adaptive.append((f"vs {label(a)}", v))
            seeds = ", ".join(_pts(e) for e in effects)
            mc = f"; McNemar p per seed: {', '.join(_p(p) for p in tests)}" if tests else ""
            std = ", ".join(f"{_pts(x)}/{_pts(y)}" for x, y in std_pairs)
            evidence.append(f"SGD − {label(a)} per seed: {seeds} points{mc}; standard accuracy SGD/{label(a)}: {std}")
        if not per_adaptive:
            continue
        verdict = combine(per_adaptive)
        scope = f"{scope_base}, {QUANTITY_TEXT[q]} ({_size_text(q, setting)})"
        on = images
        if q == "gaussian_noise" and gauss_n:
            on = (
                f"every image evaluated under noise ({'/'.join(str(n) for n in sorted(gauss_n))} test images; "
                "standard accuracy on the same images)"
            )
        out.append(Claim(text, scope, sweep.protocol, verdict, f"on {on}: " + "; ".join(evidence)))
        parts.append((QUANTITY_TEXT[q], verdict))
    if len(parts) > 1:
        out.insert(
            0,
            Claim(
                text,
                f"{scope_base}, all three perturbations",
                sweep.protocol,
                combine(parts),
                "conjunction of the rows below",
            ),
        )
    return out


def _same_images(diffs: list, seeds: int):
    """The per-image differences of every seed when all of them hold the same number of images, else None."""
    if len(diffs) != seeds or not diffs or len({d.size for d in diffs}) != 1 or diffs[0].size < 2:
        return None
    return diffs


def _gaussian_pair(sgd, other, variance):
    """((clean, noisy) masks of ``sgd``, the same of ``other``) on every image the Gaussian-noise evaluation of both
    stored at ``variance`` (None when either lacks them or they were evaluated on different numbers of images)."""
    if variance is None:
        return None
    out = []
    for run in (sgd, other):
        res = run.evals.get("gaussian_noise") or {}
        noisy = next(
            (
                m
                for v, m in zip(res.get("variances", []), res.get("correct") or [])
                if math.isclose(float(v), variance, rel_tol=1e-6)
            ),
            None,
        )
        if not noisy or not res.get("clean_correct"):
            return None
        clean, noisy = decode_mask(res["clean_correct"]), decode_mask(noisy)
        if clean.size != noisy.size:
            return None
        out.append((clean, noisy))
    return tuple(out) if out[0][1].size == out[1][1].size else None


# -- 2. band-limited noise -------------------------------------------------------------------------------


def _band_drops(run, basis: str) -> list[float] | None:
    res = (run.evals.get("band_noise") or {}).get(basis) or {}
    drops = res.get("drop")
    return [float(d) for d in drops] if drops else None


def band_halves(n: int) -> tuple[range, range]:
    """(low, high) bands of ``n``: the lowest fifth (at least one band) and the upper half.

    With the authors' 10 DCT bands of a 28-px image: bands 1-2 are low, bands 6-10 high (:func:`band_names`).
    The paper's own CIFAR-100 figure (``paper_reference.json``, ``band_noise``) has the three optimizers within 1 point
    of each other on the lowest two of ten bands and 5 to 10 points apart on the upper half; its low half as a whole
    already separates them (Adam loses 3.6 points more than SGD on bands 1-5), so the low bands are the lowest fifth.
    """
    return range(0, max(1, -(-n // 5))), range(n // 2, n)


def band_names(n: int) -> tuple[str, str]:
    """The low and high bands of ``n`` in words, 1-based as the paper numbers them: ``("1-2", "6-10")`` for 10."""

    def words(r: range) -> str:
        return f"{r.start + 1}" if len(r) == 1 else f"{r.start + 1}-{r.stop}"

    low, high = band_halves(n)
    return words(low), words(high)


def _band_outcomes(run, basis: str) -> list | None:
    """Per band, which band-noise images ``run`` gets right (None when the per-image outcomes are not stored)."""
    masks = ((run.evals.get("band_noise") or {}).get(basis) or {}).get("noisy_correct")
    return [decode_mask(m) for m in masks] if masks and all(masks) else None


def _interaction_per_image(sgd_masks, adaptive_masks, low: range, high: range):
    """Per image: (adaptive − SGD drop, mean over the high bands) − (the same over the low bands).  The clean terms of
    the drops cancel, so it is mean_low(adaptive noisy) − mean_high(adaptive noisy) − (the same for SGD)."""

    def contrast(masks):
        m = np.asarray(masks, dtype=float)
        return m[list(low)].mean(axis=0) - m[list(high)].mean(axis=0)

    return contrast(adaptive_masks) - contrast(sgd_masks)


def claim_band_noise(sweep: Sweep, ds: str) -> list[Claim]:
    """Per basis and adaptive method: the interaction (adaptive − SGD drop in the high bands) − (the same in the low
    bands) > 0, paired by seed (with the images' own error when the per-image outcomes are stored)."""
    text = (
        "Adaptive models lose more accuracy than SGD under high-frequency noise than under low-frequency noise "
        "(band-limited noise: the interaction of optimizer and band)"
    )
    groups = sweep.groups(ds)
    adaptive = [a for a in sweep.optimizers(ds) if a in ADAPTIVE]
    out = []
    bases = [b for b in ("dct", "fft") if all(_band_drops(r, b) for r in sweep.select(ds))]
    for basis in bases:
        parts, evidence, counts = [], [], set()
        for a in adaptive:
            hi, lo, inter, std_pairs, diffs = [], [], [], [], []
            for g in groups:
                if "sgd" not in g or a not in g:
                    continue
                ds_, da = _band_drops(g["sgd"], basis), _band_drops(g[a], basis)
                n = min(len(ds_), len(da))
                counts.add(n)
                low, h = band_halves(n)
                hi.append(sum(da[k] - ds_[k] for k in h) / len(h))
                lo.append(sum(da[k] - ds_[k] for k in low) / len(low))
                inter.append(hi[-1] - lo[-1])
                std_pairs.append((g["sgd"].test_accuracy, g[a].test_accuracy))
                ms, ma = _band_outcomes(g["sgd"], basis), _band_outcomes(g[a], basis)
                if (
                    ms is not None
                    and ma is not None
                    and len(ms) >= n
                    and len(ma) >= n
                    and len({m.size for m in ms + ma}) == 1
                ):
                    diffs.append(_interaction_per_image(ms[:n], ma[:n], low, h))
            if not hi:
                continue
            caveat = _standard_caveat(std_pairs, f"SGD and {label(a)}")
            parts.append(
                (
                    f"{label(a)} − SGD, high − low bands",
                    decide(
                        inter,
                        caveats=[caveat],
                        what="extra drop, high − low bands",
                        scale=100,
                        unit=" pts",
                        outcomes=_same_images(diffs, len(inter)),
                    ),
                )
            )
            evidence.append(
                f"{label(a)} − SGD, mean drop per seed: high bands {', '.join(_pts(x) for x in hi)}; "
                f"low bands {', '.join(_pts(x) for x in lo)}; high − low {', '.join(_pts(x) for x in inter)} points"
            )
        if parts:
            names = "; ".join(f"of {n} bands: low {band_names(n)[0]}, high {band_names(n)[1]}" for n in sorted(counts))
            out.append(
                Claim(
                    text,
                    f"{dataset_label(ds)}, {basis.upper()} basis ({names})",
                    sweep.protocol,
                    combine(parts),
                    "; ".join(evidence),
                )
            )
    return out


# -- 3. Lipschitz ------------------------------------------------------------------------------------------

#: The Lipschitz quantities judged, as (key in the lipschitz evaluation's result, name in the report).
LIPSCHITZ_QUANTITIES = (
    ("paper_bound", "the paper's quantity (product of reshaped-kernel norms)"),
    ("certified_upper_bound", "the certified upper bound"),
)


def claim_lipschitz(sweep: Sweep, ds: str, value: Callable | None = None) -> list[Claim]:
    """Per quantity: log(bound of each adaptive method / SGD's) > 0, seed by seed."""
    text = "SGD models have the smallest Lipschitz bound (Table 1)"
    groups = sweep.groups(ds)
    adaptive = [a for a in sweep.optimizers(ds) if a in ADAPTIVE]
    out = []
    for key, name in LIPSCHITZ_QUANTITIES:
        get = value or (lambda run, key=key: (run.evals.get("lipschitz") or {}).get(key))
        parts, evidence = [], []
        for a in adaptive:
            effects, std_pairs, ratios = [], [], []
            for g in groups:
                if "sgd" not in g or a not in g:
                    continue
                bs, ba = get(g["sgd"]), get(g[a])
                if not bs or not ba or bs <= 0 or ba <= 0:
                    continue
                effects.append(math.log(ba / bs))
                ratios.append(ba / bs)
                std_pairs.append((g["sgd"].test_accuracy, g[a].test_accuracy))
            if not effects:
                continue
            caveat = _standard_caveat(std_pairs, f"SGD and {label(a)}")
            parts.append((f"{label(a)} / SGD", decide(effects, caveats=[caveat], what="log ratio")))
            evidence.append(f"{label(a)} / SGD per seed: {', '.join(f'{r:.3g}' for r in ratios)}")
        if parts:
            out.append(Claim(text, f"{dataset_label(ds)}, {name}", sweep.protocol, combine(parts), "; ".join(evidence)))
    return out


# -- 4. irrelevant frequencies ------------------------------------------------------------------------------


def claim_irrelevant_frequencies(rows: list[dict], paper_baseline: dict[str, float]) -> list[Claim]:
    """Per data set and filter: the accuracy lost by removing up to :data:`IRRELEVANT_LEVELS_MAX` % of the content is
    within ``irrelevant_margin`` (paired with the unfiltered run of the same seed), judged only when the unfiltered
    baseline trains to within ``baseline_gap`` of the paper's accuracy (``paper_baseline[dataset]``, a fraction)."""
    text = "Removing high-frequency or low-energy content from the training data barely changes test accuracy (Fig. 2)"
    margin = TOLERANCES["irrelevant_margin"]
    out = []
    by_ds: dict = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], []).append(r)
    for ds, rs in by_ds.items():
        base = {r["seed"]: r["test_accuracy"] for r in rs if r["filter"] == "none"}
        if not base:
            continue
        base_mean = sum(base.values()) / len(base)
        ref = paper_baseline.get(ds)
        caveats = []
        if ref is None:
            caveats.append("no paper accuracy to judge the baseline against")
        elif base_mean < ref - TOLERANCES["baseline_gap"]:
            caveats.append(
                f"undertrained: the unfiltered baseline reaches {_pts(base_mean)}% against the paper's about "
                f"{_pts(ref)}%"
            )
        for filt in sorted({r["filter"] for r in rs} - {"none"}):
            levels = sorted({r["removed_percent"] for r in rs if r["filter"] == filt})
            parts, evidence = [], []
            for level in levels:
                filtered = {
                    r["seed"]: r["test_accuracy"] for r in rs if r["filter"] == filt and r["removed_percent"] == level
                }
                lost = [base[s] - filtered[s] for s in sorted(set(base) & set(filtered), key=str)]
                if not lost:
                    continue
                evidence.append(f"{level}% removed: lost {', '.join(_pts(x) for x in lost)} points")
                if level <= IRRELEVANT_LEVELS_MAX:
                    parts.append(
                        (
                            f"{level}% removed",
                            decide_equivalent(
                                lost, margin, caveats=caveats, what="accuracy lost", scale=100, unit=" pts"
                            ),
                        )
                    )
            if parts:
                ev = f"unfiltered {_pts(base_mean)}% over {len(base)} seed(s); " + "; ".join(evidence)
                out.append(
                    Claim(
                        text,
                        f"{dataset_label(ds)}, {filt.replace('_', ' ')} (levels ≤ {IRRELEVANT_LEVELS_MAX}%)",
                        "filtered training, final epoch",
                        combine(parts),
                        ev,
                    )
                )
    return out


# -- 5. linear theory -----------------------------------------------------------------------------------------


def claim_linear_theory(summary: dict, eps: float = math.sqrt(2)) -> list[Claim]:
    """Per gradient mode: every method's final standard risk is small, and each adaptive method's adversarial risk
    at ``eps`` exceeds GD's (both its final value and its limit t -> infinity); GD must be converged."""
    text = (
        "Linear model: every method reaches a small standard risk, and the adaptive ones a larger adversarial risk "
        "than GD (Sec. 4)"
    )
    out = []
    limit = (summary.get("gd_limit") or {}).get("adversarial_risk") or {}
    initial = summary.get("initial_standard_risk")
    for mode, finals in (summary.get("final") or {}).items():
        if "gd" not in finals:
            continue
        keys = sorted(finals["gd"]["adversarial_risk"], key=float)
        key = min(keys, key=lambda k: abs(float(k) - eps))
        gd_final = finals["gd"]["adversarial_risk"][key]
        gd_limit = limit.get(key)
        exact = mode == "population"
        caveats = []
        if not exact:
            caveats.append("sampled gradients from one seed (an interval needs several)")
        small = TOLERANCES["standard_risk_fraction"] * (initial if initial else 1.0)
        slow = [o for o, f in finals.items() if f["standard_risk"] > small]
        if slow:
            caveats.append(
                "not converged: standard risk of "
                + ", ".join(f"{label(o)} {finals[o]['standard_risk']:.2g}" for o in slow)
                + f" > {small:.2g}"
            )
        if gd_limit:
            off = abs(gd_final - gd_limit) / gd_limit
            if off > TOLERANCES["gd_limit_fraction"]:
                caveats.append(
                    f"GD not converged: its adversarial risk {gd_final:.4g} is {100 * off:.1f}% from its limit "
                    f"{gd_limit:.4g}"
                )
        reference = max(gd_final, gd_limit) if gd_limit else gd_final
        parts = []
        for o in finals:
            if o == "gd":
                continue
            parts.append(
                (
                    f"{label(o)} − GD",
                    decide(
                        [finals[o]["adversarial_risk"][key] - reference],
                        exact=exact,
                        caveats=caveats,
                        what="adversarial risk",
                    ),
                )
            )
        risks = ", ".join(
            f"{label(o)} {finals[o]['adversarial_risk'][key]:.4g} (standard {finals[o]['standard_risk']:.2g})"
            for o in finals
        )
        lim = f"; GD's limit t→∞ {gd_limit:.4g}" if gd_limit else ""
        out.append(
            Claim(
                text,
                f"{mode} gradient, ε = {float(key):.3g}",
                "exact" if exact else "one sampled run",
                combine(parts),
                f"final adversarial (standard) risk after {summary.get('n_steps', '?')} steps: {risks}{lim}.",
            )
        )
    return out


__all__ = [
    "ADAPTIVE",
    "FIGURE1_QUANTITIES",
    "Claim",
    "protocol_text",
    "TOLERANCES",
    "band_halves",
    "band_names",
    "claim_band_noise",
    "claim_irrelevant_frequencies",
    "claim_lipschitz",
    "claim_linear_theory",
    "claim_main",
]
