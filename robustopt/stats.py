"""Statistics behind every verdict of a report: intervals over seeds, paired comparisons, McNemar's test.

The paper (Ma, Pan & Farahmand, TMLR 2023) compares optimizers that train the *same* model from the
*same* initial weights on the *same* batches.  Runs of one seed therefore form a pair (or a triple), and a
claim such as "SGD is more robust than Adam" is judged on the per-seed *differences*:

    effects = [acc_sgd[s] - acc_adam[s] for s in seeds]          # one number per seed
    verdict = decide(effects, caveats=[...])                     # holds | contradicted | inconclusive

The decision rule (:func:`decide`), in full:

* the effect's mean and its two-sided 95% Student-t confidence interval over seeds are computed;
* **holds** when the interval excludes zero on the side the paper predicts;
* **contradicted** when it excludes zero on the other side;
* **inconclusive** otherwise, always with the reason in words: a single seed (no interval), the interval
  contains zero, or a caveat the caller found (standard accuracies further apart than a tolerance, an
  undertrained baseline, an unconverged optimizer ...).  A caveat makes any verdict inconclusive.

Claims of the form "about the same" use :func:`decide_equivalent` (the interval must lie inside a stated
margin), and a claim made of several parts is the conjunction of its parts (:func:`combine`).

Accuracies measured on the same test images are also compared image by image with McNemar's exact test
(:func:`mcnemar`), which says whether one seed's difference is larger than the images' own noise; it is
reported beside the verdict and never replaces the interval over seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as _st

HOLDS, CONTRADICTED, INCONCLUSIVE = "holds", "contradicted", "inconclusive"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of per-seed values and its two-sided Student-t confidence interval (nan bounds for one value)."""

    mean: float
    low: float
    high: float
    n: int
    sd: float
    confidence: float = CONFIDENCE
    exact: bool = False  # a deterministic quantity (no sampling noise): the interval is the value itself

    @property
    def defined(self) -> bool:
        return self.exact or (self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high))

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
        m = f"{self.mean * scale:+.{digits}f}"
        if self.exact:
            return f"{m}{unit} (exact)"
        if not self.defined:
            return f"{m}{unit} (n={self.n}, no interval)"
        return f"{m} [{self.low * scale:+.{digits}f}, {self.high * scale:+.{digits}f}]{unit}"


def mean_interval(values: Iterable[float], confidence: float = CONFIDENCE, exact: bool = False) -> Interval:
    """Mean and two-sided ``confidence`` Student-t interval of ``values`` (one per seed).

    ``exact=True`` marks a deterministic quantity (e.g. a closed-form risk): its interval is the value.
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
    half = float(_st.t.ppf(0.5 + confidence / 2, df=vals.size - 1)) * sd / math.sqrt(vals.size)
    return Interval(mean, mean - half, mean + half, int(vals.size), sd, confidence)


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
    """A claim's verdict with its reason in words and the interval it came from."""

    label: str  # holds | contradicted | inconclusive
    reason: str
    interval: Interval | None = None
    parts: tuple = field(default_factory=tuple)  # (name, Verdict) of a combined claim

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}" if self.label == INCONCLUSIVE else self.label


def _one_seed_reason(n: int) -> str:
    return "one seed (an interval over seeds needs at least two)" if n < 2 else ""


def decide(effects: Sequence[float], *, direction: int = 1, caveats: Sequence[str] = (), confidence: float = CONFIDENCE,
           exact: bool = False, what: str = "effect", scale: float = 1.0, unit: str = "") -> Verdict:
    """The verdict on per-seed ``effects`` (the paper's prediction: ``direction * effect > 0``).

    ``caveats``: reasons, found by the caller, why the comparison cannot be trusted (each makes the verdict
    inconclusive and is quoted).  ``exact``: the effects are deterministic (no interval needed).
    ``what``, ``scale`` and ``unit`` only shape the wording of the reason.
    """
    if direction not in (1, -1):
        raise ValueError("direction is +1 or -1")
    iv = mean_interval(effects, confidence, exact=exact)
    side = iv.side() * direction
    raw = {1: HOLDS, -1: CONTRADICTED, 0: INCONCLUSIVE}[side]
    shown = f"{what} {iv.fmt(scale, unit=unit)}"
    caveats = [c for c in caveats if c]
    if not iv.defined:
        return Verdict(INCONCLUSIVE, "; ".join([_one_seed_reason(iv.n), *caveats]) + f" ({shown})", iv)
    if caveats:
        note = f"the {int(confidence * 100)}% interval alone would say '{raw}'" if not iv.exact else f"alone it would say '{raw}'"
        return Verdict(INCONCLUSIVE, "; ".join(caveats) + f" ({shown}; {note})", iv)
    if side > 0:
        return Verdict(HOLDS, f"{shown}: the interval excludes 0 in the paper's direction" if not iv.exact else shown, iv)
    if side < 0:
        return Verdict(CONTRADICTED, f"{shown}: the interval excludes 0 against the paper" if not iv.exact else shown, iv)
    return Verdict(INCONCLUSIVE, f"the {int(confidence * 100)}% interval contains 0 ({shown})", iv)


def decide_equivalent(effects: Sequence[float], margin: float, *, caveats: Sequence[str] = (), confidence: float = CONFIDENCE,
                      exact: bool = False, what: str = "difference", scale: float = 1.0, unit: str = "") -> Verdict:
    """The verdict on "about the same": **holds** when the interval lies inside ``[-margin, margin]``,
    **contradicted** when it lies entirely outside it, **inconclusive** otherwise (or with a caveat)."""
    if margin <= 0:
        raise ValueError("margin must be > 0")
    iv = mean_interval(effects, confidence, exact=exact)
    shown = f"{what} {iv.fmt(scale, unit=unit)}, margin ±{margin * scale:g}{unit}"
    caveats = [c for c in caveats if c]
    if not iv.defined:
        return Verdict(INCONCLUSIVE, "; ".join([_one_seed_reason(iv.n), *caveats]) + f" ({shown})", iv)
    if -margin <= iv.low and iv.high <= margin:
        raw = HOLDS
    elif iv.low > margin or iv.high < -margin:
        raw = CONTRADICTED
    else:
        raw = INCONCLUSIVE
    if caveats:
        return Verdict(INCONCLUSIVE, "; ".join(caveats) + f" ({shown}; alone it would say '{raw}')", iv)
    if raw == HOLDS:
        return Verdict(HOLDS, f"{shown}: the interval lies inside the margin", iv)
    if raw == CONTRADICTED:
        return Verdict(CONTRADICTED, f"{shown}: the interval lies outside the margin", iv)
    return Verdict(INCONCLUSIVE, f"the interval reaches beyond the margin ({shown})", iv)


def combine(parts: Mapping[str, Verdict] | Sequence[tuple[str, Verdict]]) -> Verdict:
    """A claim made of several parts, all of which must hold: **holds** when every part holds,
    **contradicted** when any part is contradicted, else **inconclusive** naming the parts that are."""
    items = list(parts.items()) if isinstance(parts, Mapping) else list(parts)
    if not items:
        return Verdict(INCONCLUSIVE, "nothing to compare")
    contradicted = [(n, v) for n, v in items if v.label == CONTRADICTED]
    unsure = [(n, v) for n, v in items if v.label == INCONCLUSIVE]
    if contradicted:
        return Verdict(CONTRADICTED, "; ".join(f"{n}: {v.reason}" for n, v in contradicted), parts=tuple(items))
    if unsure:
        return Verdict(INCONCLUSIVE, "; ".join(f"{n}: {v.reason}" for n, v in unsure), parts=tuple(items))
    return Verdict(HOLDS, "; ".join(f"{n}: {v.reason}" for n, v in items), parts=tuple(items))


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
    "mcnemar",
    "mean_interval",
    "paired",
]
