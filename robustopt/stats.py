"""Statistics behind every verdict of a report: intervals over seeds, paired comparisons, McNemar's test.

The paper (Ma, Pan & Farahmand, TMLR 2023) compares optimizers that train the *same* model from the
*same* initial weights on the *same* batches.  Runs of one seed therefore form a pair (or a triple), and a
claim such as "SGD is more robust than Adam" is judged on the per-seed *differences*:

    effects = [acc_sgd[s] - acc_adam[s] for s in seeds]          # one number per seed
    verdict = decide(effects, caveats=[...])                     # holds | contradicted | inconclusive

The decision rule (:func:`decide`), in full:

* the effect's mean and its two-sided 95% Student-t confidence interval over seeds are computed;
* when the per-image outcomes behind the effects are given (``outcomes``: per seed, one paired difference per
  image, the same images for every seed), the interval also carries the images' own sampling error: it is the
  union of the seed interval and a per-image interval (:func:`image_interval`, a conservative McNemar-type
  interval), so two seeds with identical effects (sd = 0) measured on a few images never decide by themselves;
  without per-image outcomes, identical effects over seeds (sd = 0: a zero-width interval) never decide at all
  (inconclusive, saying so);
* **holds** when the interval excludes zero on the side the paper predicts;
* **contradicted** when it excludes zero on the other side;
* **inconclusive** otherwise, always with the reason in words: a single seed (no interval), the interval
  contains zero, or a caveat the caller found (standard accuracies further apart than a tolerance, an
  undertrained baseline, an unconverged optimizer ...).  A caveat makes any verdict inconclusive.

Each verdict's error rates: pure noise gives a false **holds** at most 2.5% of the time, and a false
**contradicted** at most 2.5% (one side of a 95% interval each).

Claims of the form "about the same" use :func:`decide_equivalent` (the interval must lie inside a stated
margin), and a claim made of several parts is the conjunction of its parts (:func:`combine`): it **holds** when
every part holds (a conjunction: its false-holds rate is at most any one part's, 2.5%), and it is
**contradicted** when some part is contradicted at the Bonferroni-corrected level -- with ``k`` parts, that part's
``1 - 5%/k`` interval excludes 0 against the paper -- so the false-contradicted rate over the whole family of parts
stays at most 2.5%, as for one part (for "is any part contradicted?" Bonferroni and Holm decide alike).

Positive, skewed quantities (Hessian eigenvalues and traces, Lipschitz bounds) are summarised on the log scale
(:func:`log_interval`: the geometric mean and the exponentiated t-interval of the logs), never below zero.

Accuracies measured on the same test images are also compared image by image with McNemar's exact test
(:func:`mcnemar`), which says whether one seed's difference is larger than the images' own noise; it is
reported beside the verdict and never replaces the interval over seeds.  Per-image proportions (an accuracy on
``n`` images) get the Wilson score interval (:func:`proportion_interval`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as _st

HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of per-seed values and its two-sided Student-t confidence interval (nan bounds for one value).

    ``n_images`` > 0: the interval also carries the per-image sampling error of values measured on that many
    images (the union of the seed interval and the per-image one); ``log``: a geometric mean and its interval
    (:func:`log_interval`)."""

    mean: float
    low: float
    high: float
    n: int
    sd: float
    confidence: float = CONFIDENCE
    exact: bool = False  # a deterministic quantity (no sampling noise): the interval is the value itself
    n_images: int = 0
    log: bool = False

    @property
    def defined(self) -> bool:
        return self.exact or (self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high))

    @property
    def half_width(self) -> float:
        """The larger distance from the mean to a bound (the ``±`` of a table cell); nan when undefined."""
        if not self.defined:
            return math.nan
        return max(self.high - self.mean, self.mean - self.low)

    def side(self) -> int:
        """+1 when the whole interval is above 0, -1 when below, 0 when it contains 0 (or is undefined)."""
        if not self.defined:
            return 0
        if self.low > 0:
            return 1
        if self.high < 0:
            return -1
        return 0

    def fmt(self, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        """``mean [low, high]`` (``scale`` 100 turns fractions into points); the mean alone without an interval."""
        sign = "" if self.log else "+"
        m = f"{self.mean * scale:{sign}.{digits}f}"
        if self.exact:
            return f"{m}{unit} (exact)"
        if not self.defined:
            return f"{m}{unit} (n={self.n}, no interval)"
        return f"{m} [{self.low * scale:{sign}.{digits}f}, {self.high * scale:{sign}.{digits}f}]{unit}"


def _t(confidence: float, df: int) -> float:
    return float(_st.t.ppf(0.5 + confidence / 2, df=df))


def image_interval(outcomes: Sequence[Sequence[float]], confidence: float = CONFIDENCE) -> Interval:
    """The per-image interval of a mean paired difference measured on the same ``n`` images by every seed.

    ``outcomes``: per seed, one number per image -- the paired difference of two models on that image (for
    accuracies ``a_correct - b_correct`` in {-1, 0, 1}; any bounded per-image difference works).  The images'
    differences are averaged over seeds (``d_i``), and the interval is ``mean(d) ± (t * rms(d) / sqrt(n) +
    1 / (n * seeds))``: the spread is the root mean square of ``d`` (its variance under "no difference", as
    McNemar's test uses, never smaller than the sample variance, and zero only when no image differs), plus a
    continuity correction of one image.  On one seed this is a conservative McNemar interval: it never excludes
    0 where McNemar's exact test has p >= 0.05 (``tests/test_stats.py`` checks every count on up to 200 images).
    The seeds share their images, so averaging them per image keeps the images' own error (seeds do not shrink it).
    """
    arrs = [np.asarray(o, dtype=float).ravel() for o in outcomes]
    if not arrs:
        raise ValueError("image_interval needs the outcomes of at least one seed")
    n = arrs[0].size
    if n < 2 or any(a.size != n for a in arrs):
        raise ValueError(
            f"image_interval needs >= 2 images, the same for every seed; got sizes {[a.size for a in arrs]}"
        )
    d = np.mean(arrs, axis=0)
    mean = float(d.mean())
    rms = float(np.sqrt(np.mean(d**2)))
    half = _t(confidence, n - 1) * rms / math.sqrt(n) + 1.0 / (n * len(arrs))
    return Interval(mean, mean - half, mean + half, len(arrs), rms, confidence, n_images=n)


def proportion_interval(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``successes / n`` (``successes`` may be a mean over seeds of the same
    ``n`` images: the images' error does not shrink with seeds).  Never zero width, never outside [0, 1]."""
    if n < 1:
        raise ValueError("proportion_interval needs n >= 1")
    p = float(successes) / n
    z = float(_st.norm.ppf(0.5 + confidence / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def widen(seed: Interval, image_low: float, image_high: float, n_images: int) -> Interval:
    """``seed`` widened to cover a per-image interval ``[image_low, image_high]`` (an undefined interval stays so)."""
    if not seed.defined or seed.exact:
        return seed
    return replace(seed, low=min(seed.low, image_low), high=max(seed.high, image_high), n_images=n_images)


def mean_interval(
    values: Iterable[float],
    confidence: float = CONFIDENCE,
    exact: bool = False,
    outcomes: Sequence[Sequence[float]] | None = None,
) -> Interval:
    """Mean and two-sided ``confidence`` Student-t interval of ``values`` (one per seed).

    ``exact=True`` marks a deterministic quantity (e.g. a closed-form risk): its interval is the value.
    ``outcomes``: the per-image paired differences behind the values (per seed, one per image, the same images):
    the interval then also covers :func:`image_interval`, so that it is never narrower than the images allow.
    """
    vals = np.asarray([float(v) for v in values], dtype=float)
    if vals.size == 0:
        raise ValueError("mean_interval needs at least one value")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"mean_interval got non-finite values: {vals.tolist()}")
    mean = float(vals.mean())
    if exact:
        return Interval(mean, mean, mean, int(vals.size), 0.0, confidence, exact=True)
    if vals.size < 2:
        return Interval(mean, math.nan, math.nan, 1, math.nan, confidence)
    sd = float(vals.std(ddof=1))
    half = _t(confidence, vals.size - 1) * sd / math.sqrt(vals.size)
    iv = Interval(mean, mean - half, mean + half, int(vals.size), sd, confidence)
    if outcomes is not None:
        im = image_interval(outcomes, confidence)
        h = im.high - im.mean
        iv = widen(iv, mean - h, mean + h, im.n_images)
    return iv


def log_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Geometric mean of positive ``values`` (one per seed) and the exponentiated t-interval of their logs.

    For positive, skewed quantities (Hessian eigenvalues and traces, Lipschitz bounds): the interval is
    multiplicative, ``[gm / f, gm * f]``, and never reaches 0.  ``sd`` is the standard deviation of the logs."""
    vals = np.asarray([float(v) for v in values], dtype=float)
    if vals.size == 0:
        raise ValueError("log_interval needs at least one value")
    if not np.all(np.isfinite(vals)) or np.any(vals <= 0):
        raise ValueError(f"log_interval needs positive finite values, got {vals.tolist()}")
    logs = mean_interval(np.log(vals), confidence)
    exp = lambda x: math.exp(x) if math.isfinite(x) else math.nan  # noqa: E731
    return Interval(exp(logs.mean), exp(logs.low), exp(logs.high), logs.n, logs.sd, confidence, log=True)


def paired(a: Mapping, b: Mapping) -> list[float]:
    """Per-key differences ``a[k] - b[k]`` over the keys (seeds) both hold, in sorted key order."""
    keys = sorted(set(a) & set(b), key=str)
    return [float(a[k]) - float(b[k]) for k in keys]


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test of two classifiers on the same images.

    ``only_a``: images ``a`` gets right and ``b`` wrong; ``only_b`` the reverse.  Under the null hypothesis
    (equal accuracy) each discordant image is a fair coin, so the two-sided p-value is the binomial one.
    """

    n: int
    only_a: int
    only_b: int
    p_value: float

    @property
    def difference(self) -> float:
        """Accuracy of ``a`` minus accuracy of ``b`` on these images."""
        return (self.only_a - self.only_b) / self.n if self.n else 0.0


def mcnemar(a_correct, b_correct) -> McNemar:
    """McNemar's exact (binomial) two-sided test on two boolean per-image masks of the same images."""
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"mcnemar needs two 1-D masks of the same images, got shapes {a.shape} and {b.shape}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    k = only_a + only_b
    p = 1.0 if k == 0 else float(_st.binomtest(min(only_a, only_b), k, 0.5, alternative="two-sided").pvalue)
    return McNemar(int(a.size), only_a, only_b, min(1.0, p))


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict with its reason in words and the interval it came from.

    ``redecide(confidence)``: the same decision at another confidence level (what :func:`combine` uses to correct
    for several parts); None for a verdict made by hand."""

    label: str  # holds | contradicted | inconclusive
    reason: str
    interval: Interval | None = None
    parts: tuple = field(default_factory=tuple)  # (name, Verdict) of a combined claim
    redecide: Callable[[float], "Verdict"] | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}" if self.label == INCONCLUSIVE else self.label


def _one_seed_reason(n: int) -> str:
    return "one seed (an interval over seeds needs at least two)" if n < 2 else ""


def _pct(confidence: float) -> str:
    return f"{100 * confidence:.4g}%"


def _zero_width_reason(iv: Interval) -> str:
    """Why a zero-width interval must not decide: identical per-seed values (sd = 0, up to rounding) with no per-image
    outcomes to carry the images' own error give an interval of zero width, which says nothing about the error."""
    if iv.exact or not iv.defined or iv.n_images:
        return ""
    if iv.sd <= 1e-9 * max(1.0, abs(iv.mean)):
        return (
            f"identical values over {iv.n} seeds (sd = 0) and no per-image outcomes to carry the images' error: "
            "a zero-width interval does not decide"
        )
    return ""


def decide(
    effects: Sequence[float],
    *,
    direction: int = 1,
    caveats: Sequence[str] = (),
    confidence: float = CONFIDENCE,
    exact: bool = False,
    what: str = "effect",
    scale: float = 1.0,
    unit: str = "",
    outcomes: Sequence[Sequence[float]] | None = None,
) -> Verdict:
    """The verdict on per-seed ``effects`` (the paper's prediction: ``direction * effect > 0``).

    ``caveats``: reasons, found by the caller, why the comparison cannot be trusted (each makes the verdict
    inconclusive and is quoted).  ``exact``: the effects are deterministic (no interval needed).
    ``outcomes``: the per-image paired differences behind the effects (per seed, one per image, the same images):
    the interval then also carries the images' sampling error (:func:`mean_interval`).
    ``what``, ``scale`` and ``unit`` only shape the wording of the reason.
    """
    if direction not in (1, -1):
        raise ValueError("direction is +1 or -1")
    effects = [float(e) for e in effects]
    caveats = [c for c in caveats if c]

    def again(level: float) -> Verdict:
        return decide(
            effects,
            direction=direction,
            caveats=caveats,
            confidence=level,
            exact=exact,
            what=what,
            scale=scale,
            unit=unit,
            outcomes=outcomes,
        )

    iv = mean_interval(effects, confidence, exact=exact, outcomes=outcomes)
    side = iv.side() * direction
    raw = {1: HOLDS, -1: CONTRADICTED, 0: INCONCLUSIVE}[side]
    images = f", with the error of {iv.n_images} images" if iv.n_images else ""
    shown = f"{what} {iv.fmt(scale, unit=unit)}{images}"
    level = _pct(confidence)
    if not iv.defined:
        return Verdict(INCONCLUSIVE, "; ".join([_one_seed_reason(iv.n), *caveats]) + f" ({shown})", iv, redecide=again)
    found = caveats + [c for c in [_zero_width_reason(iv)] if c and raw != INCONCLUSIVE]
    if found:
        note = f"the {level} interval alone would say '{raw}'" if not iv.exact else f"alone it would say '{raw}'"
        return Verdict(INCONCLUSIVE, "; ".join(found) + f" ({shown}; {note})", iv, redecide=again)
    if side > 0:
        return Verdict(
            HOLDS,
            f"{shown}: the {level} interval excludes 0 in the paper's direction" if not iv.exact else shown,
            iv,
            redecide=again,
        )
    if side < 0:
        return Verdict(
            CONTRADICTED,
            f"{shown}: the {level} interval excludes 0 against the paper" if not iv.exact else shown,
            iv,
            redecide=again,
        )
    return Verdict(INCONCLUSIVE, f"the {level} interval contains 0 ({shown})", iv, redecide=again)


def decide_equivalent(
    effects: Sequence[float],
    margin: float,
    *,
    caveats: Sequence[str] = (),
    confidence: float = CONFIDENCE,
    exact: bool = False,
    what: str = "difference",
    scale: float = 1.0,
    unit: str = "",
    outcomes: Sequence[Sequence[float]] | None = None,
) -> Verdict:
    """The verdict on "about the same": **holds** when the interval lies inside ``[-margin, margin]``,
    **contradicted** when it lies entirely outside it, **inconclusive** otherwise (or with a caveat).
    ``outcomes`` as for :func:`decide`."""
    if margin <= 0:
        raise ValueError("margin must be > 0")
    effects = [float(e) for e in effects]
    caveats = [c for c in caveats if c]

    def again(level: float) -> Verdict:
        return decide_equivalent(
            effects,
            margin,
            caveats=caveats,
            confidence=level,
            exact=exact,
            what=what,
            scale=scale,
            unit=unit,
            outcomes=outcomes,
        )

    iv = mean_interval(effects, confidence, exact=exact, outcomes=outcomes)
    images = f", with the error of {iv.n_images} images" if iv.n_images else ""
    shown = f"{what} {iv.fmt(scale, unit=unit)}{images}, margin ±{margin * scale:g}{unit}"
    if not iv.defined:
        return Verdict(INCONCLUSIVE, "; ".join([_one_seed_reason(iv.n), *caveats]) + f" ({shown})", iv, redecide=again)
    if -margin <= iv.low and iv.high <= margin:
        raw = HOLDS
    elif iv.low > margin or iv.high < -margin:
        raw = CONTRADICTED
    else:
        raw = INCONCLUSIVE
    found = caveats + [c for c in [_zero_width_reason(iv)] if c and raw != INCONCLUSIVE]
    if found:
        return Verdict(INCONCLUSIVE, "; ".join(found) + f" ({shown}; alone it would say '{raw}')", iv, redecide=again)
    level = _pct(confidence)
    if raw == HOLDS:
        return Verdict(HOLDS, f"{shown}: the {level} interval lies inside the margin", iv, redecide=again)
    if raw == CONTRADICTED:
        return Verdict(CONTRADICTED, f"{shown}: the {level} interval lies outside the margin", iv, redecide=again)
    return Verdict(INCONCLUSIVE, f"the {level} interval reaches beyond the margin ({shown})", iv, redecide=again)


def leaves(parts: Sequence[tuple[str, Verdict]], prefix: str = "") -> list[tuple[str, Verdict]]:
    """The elementary parts of a claim, combined claims opened up (``"outer / inner"`` names)."""
    out = []
    for name, v in parts:
        full = f"{prefix}{name}"
        out += leaves(v.parts, f"{full} / ") if v.parts else [(full, v)]
    return out


def combine(parts: Mapping[str, Verdict] | Sequence[tuple[str, Verdict]], confidence: float = CONFIDENCE) -> Verdict:
    """A claim made of several parts, all of which must hold, with the error rates of a single part.

    Over its ``k`` elementary parts (:func:`leaves`; combined parts are opened up):

    * **holds** when every part holds (each at ``confidence``): pure noise must pass every part, so the rate of a
      false "holds" is at most one part's, (1 - confidence) / 2;
    * **contradicted** when some part is contradicted at the Bonferroni-corrected level ``1 - (1 - confidence) / k``
      (its ``redecide``; a part made by hand counts as it is): the rate of a false "contradicted" over the family is
      at most (1 - confidence) / 2, as for one part;
    * **inconclusive** otherwise, naming the parts that are, and any part contradicted only before the correction.
    """
    items = list(parts.items()) if isinstance(parts, Mapping) else list(parts)
    if not items:
        return Verdict(INCONCLUSIVE, "nothing to compare")
    flat = leaves(items)
    k = len(flat)
    corrected = 1 - (1 - confidence) / k
    contradicted, weak = [], []
    for n, v in flat:
        if v.label != CONTRADICTED:
            continue
        w = v.redecide(corrected) if (v.redecide is not None and k > 1) else v
        (contradicted if w.label == CONTRADICTED else weak).append((n, w if w.label == CONTRADICTED else v))
    family = f"Bonferroni over {k} parts: {_pct(corrected)} intervals" if k > 1 else ""
    if contradicted:
        return Verdict(
            CONTRADICTED,
            "; ".join(f"{n}: {v.reason}" for n, v in contradicted) + (f" ({family})" if family else ""),
            parts=tuple(items),
        )
    unsure = [(n, v) for n, v in flat if v.label == INCONCLUSIVE]
    if unsure or weak:
        text = [f"{n}: {v.reason}" for n, v in unsure]
        text += [
            f"{n}: contradicted at {_pct(confidence)} but not at the family-wise level ({family}): {v.reason}"
            for n, v in weak
        ]
        return Verdict(INCONCLUSIVE, "; ".join(text), parts=tuple(items))
    return Verdict(HOLDS, "; ".join(f"{n}: {v.reason}" for n, v in flat), parts=tuple(items))


__all__ = [
    "CONFIDENCE",
    "CONTRADICTED",
    "HOLDS",
    "INCONCLUSIVE",
    "Interval",
    "McNemar",
    "Verdict",
    "combine",
    "decide",
    "decide_equivalent",
    "image_interval",
    "leaves",
    "log_interval",
    "mcnemar",
    "mean_interval",
    "paired",
    "proportion_interval",
    "widen",
]
