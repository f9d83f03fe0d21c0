"""The data of the paper's Figure 1 (Ma, Pan & Farahmand, TMLR 2023), read from a sweep of the results store.

Which perturbation sizes a data set is compared at (:func:`figure1_setting`: the largest stored Gaussian variance, the
smallest stored eps, under the strongest attack every compared run stores), on which test images (when the per-image
outcomes are stored, each perturbed accuracy and the standard accuracy beside it on the same first images of the same
runs: :func:`outcome_mask`, ``standard@<perturbation>``), and the per-optimizer values (:func:`figure1_values`).  The
store itself is read by :mod:`robustopt.tracking.store`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

from robustopt.bits import decode_mask
from robustopt.errors import MissingResultsError
from robustopt.tracking.store import Run, Stat, Sweep, per_optimizer, py

ATTACK_PREFERENCE = ("autoattack", "pgd", "fgsm")  # the strongest attack stored is used (the paper: AutoAttack)


def attack_curve(run: Run, norm: str, attack: str | None = None) -> dict | None:
    """The robust-accuracy curve of ``attack`` under ``norm``, or without ``attack`` of the strongest stored one
    (autoattack > pgd > fgsm)."""
    res = run.evals.get("robust_accuracy") or {}
    curves = [c for c in (res.get("attacks") or {}).values() if c.get("norm") == norm]
    if attack is not None:
        return next((c for c in curves if str(c.get("name", "")).lower() == attack.lower()), None)
    for name in ATTACK_PREFERENCE:
        for c in curves:
            if str(c.get("name", "")).lower() == name:
                return c
    return curves[0] if curves else None


def _at(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    for xi, yi in zip(xs, ys):
        if math.isclose(float(xi), float(x), rel_tol=1e-6, abs_tol=1e-12):
            return float(yi)
    return None


def common_attack(runs: Sequence[Run], norm: str) -> str | None:
    """The strongest attack under ``norm`` that every run storing a ``norm`` attack stores, so that compared numbers
    come from the same attack (one run with AutoAttack beside one with PGD only: PGD for both); None if none."""
    names = [
        {
            str(c.get("name", "")).lower()
            for c in ((r.evals.get("robust_accuracy") or {}).get("attacks") or {}).values()
            if c.get("norm") == norm
        }
        for r in runs
    ]
    names = [n for n in names if n]
    if not names:
        return None
    shared = set.intersection(*names)
    return next((a for a in ATTACK_PREFERENCE if a in shared), min(shared) if shared else None)


def stored_eps(sweep: Sweep, dataset: str, norm: str) -> list[float]:
    """The eps values every run of ``dataset`` stores for ``norm`` (under the attack they all store:
    :func:`common_attack`)."""
    grids = []
    runs = sweep.select(dataset)
    attack = common_attack(runs, norm)
    if attack is None:
        return []
    for r in runs:
        c = attack_curve(r, norm, attack)
        if c:
            grids.append({float(e) for e in c["eps"]})
    return sorted(set.intersection(*grids)) if grids else []


def stored_variances(sweep: Sweep, dataset: str) -> list[float]:
    """The Gaussian-noise variances every run of ``dataset`` stores."""
    grids = [
        {float(v) for v in (r.evals.get("gaussian_noise") or {}).get("variances", [])} for r in sweep.select(dataset)
    ]
    grids = [g for g in grids if g]
    return sorted(set.intersection(*grids)) if grids else []


def robust_accuracy(run: Run, norm: str, eps: float, attack: str | None = None) -> float | None:
    """Accuracy of ``run`` under ``attack`` (default: its strongest stored one) in ``norm`` at ``eps`` (None if not
    stored)."""
    c = attack_curve(run, norm, attack)
    return _at(c["eps"], c["robust_accuracy"], eps) if c else None


def gaussian_accuracy(run: Run, variance: float) -> float | None:
    """Accuracy of ``run`` under Gaussian noise of ``variance`` (None if not stored)."""
    res = run.evals.get("gaussian_noise") or {}
    return _at(res.get("variances", []), res.get("accuracy", []), variance) if res else None


@dataclass(frozen=True)
class Figure1Setting:
    """The perturbation sizes compared in Figure 1 for one data set (chosen among the stored ones) and the images
    every number is measured on.

    Each perturbed accuracy is compared with the standard accuracy *on its own images*: the attacks' (the first
    ``n_images`` test images, those of ``robust_accuracy``) and the Gaussian noise's (every image it was evaluated
    on, the first ``n_noise``); None: per-image outcomes not stored, each evaluation's stored accuracies."""

    variance: float | None
    eps_l2: float | None
    eps_linf: float | None
    attack_l2: str | None
    attack_linf: str | None
    n_images: int | None = None  # the first n test images (robust_accuracy's); None: each quantity on its own images
    n_noise: int | None = None  # the first n test images of the Gaussian-noise comparison (all it evaluated)

    def images(self, quantity: str) -> int | None:
        """The first how many test images ``quantity`` (a perturbation, or ``standard@<perturbation>``) is
        measured on, the same for every run (None: each run's stored accuracy on its evaluation's images)."""
        beside = quantity.split("@", 1)[1] if "@" in quantity else quantity
        return self.n_noise if beside == "gaussian_noise" else self.n_images


def figure1_setting(
    sweep: Sweep,
    dataset: str,
    variance: float | None = None,
    eps_l2: float | None = None,
    eps_linf: float | None = None,
) -> Figure1Setting:
    """The sizes to compare: the given ones, else the largest stored variance and the smallest stored eps.

    These defaults are where the authors' released CIFAR-10 log (opt-robust ``exp/log.txt``) matches their
    Figure 1: AutoAttack at the smallest eps of each grid (L2 0.1: 67.3 / 64.2 / 61.4 against the figure's
    67.0 / 63.9 / 60.3) and Gaussian noise at the largest variance (0.007: 69.5 / 58.7 / 62.9 against
    68.7 / 58.6 / 61.6); at larger eps the log's accuracies are 20 to 50 points lower than the figure's.
    A requested value that is not stored raises :class:`MissingResultsError`.

    The images: the attacks' comparison on the first ``n_images`` test images that every run holding
    ``robust_accuracy`` evaluated, the noise's on the first ``n_noise`` that every run holding ``gaussian_noise``
    evaluated (a run without an evaluation takes no part in its comparison and does not change its images).
    """

    def pick(requested, stored, what, default_index, command):
        if requested is None:
            return stored[default_index] if stored else None
        if not any(math.isclose(requested, s, rel_tol=1e-6) for s in stored):
            raise MissingResultsError(
                f"{what} {requested:g} is not stored for {dataset} (stored: "
                f"{', '.join(f'{s:g}' for s in stored) or 'none'}); produce it with `{command}`"
            )
        return requested

    root = sweep.roots[0]
    variance = pick(
        variance,
        stored_variances(sweep, dataset),
        "Gaussian-noise variance",
        -1,
        py(
            "experiments/evaluate.py",
            f"run_dir={root}",
            "evaluations=[gaussian_noise]",
            f"eval.gaussian_noise.variances=[{variance}]",
        ),
    )
    l2_grid, linf_grid = stored_eps(sweep, dataset, "l2"), stored_eps(sweep, dataset, "linf")
    eps_l2 = pick(
        eps_l2,
        l2_grid,
        "L2 eps",
        0,
        py(
            "experiments/evaluate.py",
            f"run_dir={root}",
            "evaluations=[robust_accuracy]",
            f"eval.robust_accuracy.eps.l2=[{eps_l2}]",
        ),
    )
    eps_linf = pick(
        eps_linf,
        linf_grid,
        "L-inf eps",
        0,
        py(
            "experiments/evaluate.py",
            f"run_dir={root}",
            "evaluations=[robust_accuracy]",
            f"eval.robust_accuracy.eps.linf=[{eps_linf}]",
        ),
    )
    runs = sweep.select(dataset)
    names = {norm: common_attack(runs, norm) for norm in ("l2", "linf")}
    base = Figure1Setting(variance, eps_l2, eps_linf, names.get("l2"), names.get("linf"))

    def common_images(evaluation: str, quantities: list[str]) -> int | None:
        """The first n images every run holding ``evaluation`` has per-image outcomes of ``quantities`` for."""
        holders = [r for r in runs if r.evals.get(evaluation)]
        ns = [int((r.evals.get(evaluation) or {}).get("n") or 0) for r in holders]
        if not quantities or not holders or 0 in ns:
            return None
        n = min(ns)
        probe = replace(base, n_images=n, n_noise=n)
        ok = all(outcome_mask(r, q, probe) is not None for r in holders for q in quantities)
        return n if ok else None

    attacks = [q for q, e in (("l2", eps_l2), ("linf", eps_linf)) if e is not None]
    n_images = common_images("robust_accuracy", [*attacks, *(f"standard@{q}" for q in attacks)])
    n_noise = (
        common_images("gaussian_noise", ["gaussian_noise", "standard@gaussian_noise"]) if variance is not None else None
    )
    return replace(base, n_images=n_images, n_noise=n_noise)


FIGURE1_QUANTITIES = ("standard", "gaussian_noise", "l2", "linf")
PERTURBATIONS = ("gaussian_noise", "l2", "linf")

#: Which evaluation measured each perturbation, and where a run's clean per-image outcomes are stored (all of them
#: over the first test images, in order, so that any of them cut to n images is the standard accuracy on those n).
_EVALUATION_OF = {"gaussian_noise": "gaussian_noise", "l2": "robust_accuracy", "linf": "robust_accuracy"}
_CLEAN_MASKS = {
    "gaussian_noise": (("gaussian_noise", "clean_correct"), ("clean", "correct"), ("robust_accuracy", "clean_correct")),
    "l2": (("robust_accuracy", "clean_correct"), ("clean", "correct"), ("gaussian_noise", "clean_correct")),
}
_CLEAN_MASKS["linf"] = _CLEAN_MASKS["l2"]


def _mask(text, n: int | None):
    if not text:
        return None
    mask = decode_mask(text)
    if n is not None:
        if mask.size < n:
            return None
        mask = mask[:n]
    return mask


def outcome_mask(run: Run, quantity: str, setting: Figure1Setting):
    """Which of the first ``setting.images(quantity)`` test images ``run`` gets right under ``quantity`` (a bool
    array), or None when the per-image outcomes are not stored.  ``standard@<perturbation>``: the clean images of
    that perturbation's comparison; plain ``standard``: the attacks' images."""
    if quantity == "standard":
        quantity = "standard@l2"
    n = setting.images(quantity)
    if n is None:
        return None
    if quantity.startswith("standard@"):
        for evaluation, key in _CLEAN_MASKS[quantity.split("@", 1)[1]]:
            mask = _mask((run.evals.get(evaluation) or {}).get(key), n)
            if mask is not None:
                return mask
        return None
    if quantity == "gaussian_noise":
        res = run.evals.get("gaussian_noise") or {}
        for v, m in zip(res.get("variances", []), res.get("correct") or []):
            if setting.variance is not None and math.isclose(float(v), setting.variance, rel_tol=1e-6):
                return _mask(m, n)
        return None
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    curve = attack_curve(run, quantity, setting.attack_l2 if quantity == "l2" else setting.attack_linf)
    if curve is None or eps is None:
        return None
    for e, m in zip(curve.get("eps", []), curve.get("correct") or []):
        if math.isclose(float(e), eps, rel_tol=1e-6):
            return _mask(m, n)
    return None


def _stored_clean_beside(run: Run, perturbation: str) -> float | None:
    """The standard accuracy on the images of ``perturbation``'s evaluation from the stored accuracies: that
    evaluation's own clean accuracy, else the clean evaluation's when it ran on as many images (else None: the
    whole test set's accuracy is never put beside an accuracy on a subset)."""
    res = run.evals.get(_EVALUATION_OF[perturbation]) or {}
    if res.get("clean_accuracy") is not None:
        return float(res["clean_accuracy"])
    n, clean_n = res.get("n"), (run.evals.get("clean") or {}).get("n")
    if n is not None and clean_n is not None and int(n) != int(clean_n):
        return None
    return run.test_accuracy


def figure1_accuracy(run: Run, quantity: str, setting: Figure1Setting) -> float | None:
    """Accuracy of ``run`` for one Figure-1 quantity.

    ``gaussian_noise``, ``l2``, ``linf``: on the first ``setting.images(quantity)`` test images when the per-image
    outcomes are stored, else the stored accuracy of that evaluation.  ``standard@<perturbation>``: the standard
    accuracy on the same images as that perturbation (what Figure 1 plots it against and the claims compare).
    ``standard``: on the whole test set (what the paper's standard accuracy is measured on)."""
    if quantity == "standard":
        return run.test_accuracy
    mask = outcome_mask(run, quantity, setting)
    if mask is not None:
        return float(mask.mean())
    if setting.images(quantity) is not None:
        # the comparison is on the first n images and this run does not store them: no number from other images
        return None
    if quantity.startswith("standard@"):
        beside = quantity.split("@", 1)[1]
        return _stored_clean_beside(run, beside) if figure1_accuracy(run, beside, setting) is not None else None
    if quantity == "gaussian_noise":
        return gaussian_accuracy(run, setting.variance) if setting.variance is not None else None
    eps = setting.eps_l2 if quantity == "l2" else setting.eps_linf
    attack = setting.attack_l2 if quantity == "l2" else setting.attack_linf
    return robust_accuracy(run, quantity, eps, attack) if eps is not None else None


def figure1_values(sweep: Sweep, dataset: str, setting: Figure1Setting) -> dict[str, dict[str, Stat]]:
    """``{quantity: {optimizer: Stat}}`` (accuracies in [0, 1]): ``standard`` on the whole test set, and per
    perturbation ``q`` (gaussian_noise, l2, linf) with a size: ``q`` and ``standard@q``, the standard accuracy on
    the same images, both over the same runs (those that hold both)."""
    runs = sweep.select(dataset)
    out = {"standard": per_optimizer(runs, lambda r: figure1_accuracy(r, "standard", setting))}
    for q, size in (("gaussian_noise", setting.variance), ("l2", setting.eps_l2), ("linf", setting.eps_linf)):
        if size is None:
            continue
        both = [
            r
            for r in runs
            if figure1_accuracy(r, q, setting) is not None and figure1_accuracy(r, f"standard@{q}", setting) is not None
        ]
        out[q] = per_optimizer(both, lambda r, q=q: figure1_accuracy(r, q, setting))
        out[f"standard@{q}"] = per_optimizer(both, lambda r, q=q: figure1_accuracy(r, f"standard@{q}", setting))
    return out


def eps_text(eps: float, norm: str) -> str:
    """``8/255`` style for L-inf eps on the 1/255 grid, else ``%g``."""
    if norm == "linf" and 0 < eps < 1 and abs(eps * 255 - round(eps * 255)) < 1e-6:
        return f"{round(eps * 255)}/255"
    return f"{eps:g}"
