"""The report's claims: verdicts from per-seed pairs (paper_figures.claims), on hand-made results stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from paper_figures.claims import (
    _p,
    _pts,
    band_halves,
    band_names,
    claim_band_noise,
    claim_irrelevant_frequencies,
    claim_linear_theory,
    claim_lipschitz,
    claim_main,
)
from paper_figures.figure1_data import figure1_setting
from robustopt.bits import decode_mask, encode_mask
from robustopt.stats import mcnemar
from robustopt.tracking.store import Run, Sweep

REPO = Path(__file__).resolve().parents[1]
N = 400  # test images


def _masks(rng, accuracy: float, n: int = N) -> np.ndarray:
    return rng.random(n) < accuracy


def _run(opt: str, seed: int, *, clean: float, attacked: dict, gauss: float, band=None, lipschitz=None) -> Run:
    """A run whose clean outcomes depend only on (seed, clean accuracy): models of equal accuracy get right the same
    images, as well-trained models of one seed mostly do."""
    clean_mask = _masks(np.random.default_rng([seed, int(1000 * clean)]), clean)
    rng = np.random.default_rng([seed, len(opt), sum(map(ord, opt))])
    curves = {}
    for norm, acc in attacked.items():
        m = clean_mask & _masks(rng, acc / max(clean, 1e-9))
        curves[f"autoattack-{norm}"] = {
            "name": "autoattack",
            "norm": norm,
            "eps": [0.1],
            "robust_accuracy": [float(m.mean())],
            "correct": [encode_mask(m)],
        }
    g = _masks(rng, gauss, 1000)
    evals = {
        "clean": {"accuracy": float(clean_mask.mean())},
        "robust_accuracy": {
            "n": N,
            "clean_accuracy": float(clean_mask.mean()),
            "clean_correct": encode_mask(clean_mask),
            "attacks": curves,
        },
        "gaussian_noise": {"variances": [0.01], "accuracy": [float(g.mean())], "correct": [encode_mask(g)]},
    }
    if band is not None:
        evals["band_noise"] = {"dct": {"drop": list(band)}}
    if lipschitz is not None:
        evals["lipschitz"] = {"paper_bound": lipschitz, "certified_upper_bound": 10 * lipschitz}
    cfg = {
        "dataset": {"name": "fashion_mnist"},
        "model": {"name": "c2"},
        "seed": seed,
        "init_seed": seed,
        "data_seed": seed,
        "epochs": 5,
        "optimizer": {"name": opt, "lr": 0.1},
    }
    return Run(
        Path(f"/x/{opt}-{seed}"), "fashion_mnist", opt, seed, cfg, {"eval": evals, "epochs_done": 5}, "completed"
    )


def _sweep(runs) -> Sweep:
    return Sweep([Path("/x")], list(runs))


def _main_verdicts(sweep: Sweep) -> dict:
    setting = figure1_setting(sweep, "fashion_mnist")
    return {c.scope: c for c in claim_main(sweep, "fashion_mnist", setting)}


def test_a_clear_effect_over_three_seeds_holds_on_the_same_images():
    runs = []
    for s in range(3):
        runs.append(_run("sgd", s, clean=0.9, attacked={"l2": 0.8, "linf": 0.65}, gauss=0.84))
        runs.append(_run("adam", s, clean=0.9, attacked={"l2": 0.6, "linf": 0.45}, gauss=0.70))
    sweep = _sweep(runs)
    assert figure1_setting(sweep, "fashion_mnist").n_images == N
    claims = _main_verdicts(sweep)
    overall = claims["Fashion-MNIST, all three perturbations"]
    assert overall.label == "holds", overall.verdict.reason
    assert all(c.label == "holds" for c in claims.values())
    assert "McNemar p per seed" in claims["Fashion-MNIST, L2 attack (autoattack, ε = 0.1)"].evidence


def test_one_seed_is_inconclusive_and_says_so():
    sweep = _sweep(
        [
            _run("sgd", 0, clean=0.9, attacked={"l2": 0.8, "linf": 0.7}, gauss=0.85),
            _run("adam", 0, clean=0.9, attacked={"l2": 0.5, "linf": 0.4}, gauss=0.6),
        ]
    )
    for c in _main_verdicts(sweep).values():
        assert c.label == "inconclusive" and "one seed" in c.verdict.reason


def test_a_standard_accuracy_gap_makes_it_inconclusive():
    runs = []
    for s in range(3):
        runs.append(_run("sgd", s, clean=0.81, attacked={"l2": 0.7, "linf": 0.6}, gauss=0.8))
        runs.append(_run("adam", s, clean=0.90, attacked={"l2": 0.5, "linf": 0.4}, gauss=0.6))
    claims = _main_verdicts(_sweep(runs))
    overall = claims["Fashion-MNIST, all three perturbations"]
    assert overall.label == "inconclusive"
    assert "points apart on average over seeds" in overall.verdict.reason


def test_no_difference_never_holds():
    runs = []
    for s in range(3):
        for opt in ("sgd", "adam", "rmsprop"):
            runs.append(_run(opt, s, clean=0.9, attacked={"l2": 0.7, "linf": 0.5}, gauss=0.8))
    for c in _main_verdicts(_sweep(runs)).values():
        assert c.label != "holds", (c.scope, c.verdict.reason)


PAPER = json.loads((REPO / "robustopt" / "paper_reference.json").read_text())


def test_band_claim_as_defined_agrees_with_the_papers_own_cifar100_figure():
    """On the paper's own band-noise numbers (three seeds with 0.2-point noise), both parts of the claim hold."""
    drops = PAPER["band_noise"]["cifar100"]["drop"]
    rng = np.random.default_rng(0)
    runs = []
    for s in range(3):
        for opt in ("sgd", "adam", "rmsprop"):
            band = [d / 100 + rng.normal(0, 0.002) for d in drops[opt]]
            runs.append(_run(opt, s, clean=0.85, attacked={}, gauss=0.8, band=band))
    (claim,) = claim_band_noise(_sweep(runs), "fashion_mnist")
    assert claim.label == "holds", claim.verdict.reason
    low, high = band_halves(10)
    assert list(low) == [0, 1] and list(high) == [5, 6, 7, 8, 9]


def test_band_claim_a_model_worse_in_every_band_equally_does_not_pass():
    """Adam loses 1.5 points more than SGD in every band: the old two-part rule (high-band extra drop > 0, low-band
    extra drop within ±2 points) said 'holds'; the interaction (high − low) is 0, so it must not."""
    runs = []
    for s in range(3):
        base = [0.01 * k for k in range(10)]
        runs.append(_run("sgd", s, clean=0.9, attacked={}, gauss=0.8, band=base))
        runs.append(_run("adam", s, clean=0.9, attacked={}, gauss=0.8, band=[d + 0.015 + 0.001 * s for d in base]))
    (claim,) = claim_band_noise(_sweep(runs), "fashion_mnist")
    assert claim.label == "inconclusive", claim.verdict.reason
    assert "contains 0" in claim.verdict.reason
    assert "of 10 bands: low 1-2, high 6-10" in claim.scope
    # and a model that is worse only in the high bands passes
    runs = []
    for s in range(3):
        runs.append(_run("sgd", s, clean=0.9, attacked={}, gauss=0.8, band=[0.01] * 10))
        runs.append(_run("adam", s, clean=0.9, attacked={}, gauss=0.8, band=[0.01] * 5 + [0.05 + 0.001 * s] * 5))
    (claim,) = claim_band_noise(_sweep(runs), "fashion_mnist")
    assert claim.label == "holds", claim.verdict.reason
    assert band_names(10) == ("1-2", "6-10") and band_names(4) == ("1", "3-4")


def _band_masks(run, noisy: list[np.ndarray]) -> None:
    """Store per-image band-noise outcomes (all images right when clean) and the drops they imply."""
    res = run.summary["eval"].setdefault("band_noise", {})
    res["dct"] = {"drop": [1.0 - float(m.mean()) for m in noisy], "noisy_correct": [encode_mask(m) for m in noisy]}


def test_band_interaction_carries_the_images_error():
    """Two seeds with the same interaction (sd = 0) on 20 images: 2 images lost by Adam in the high bands only.  The
    seed interval has zero width; with the images' error the claim is inconclusive.  On 2,000 images it holds."""

    def runs_for(n: int, lost: int):
        out = []
        for s in range(2):
            ok = np.ones(n, bool)
            hurt = ok.copy()
            hurt[:lost] = False
            out.append(_run("sgd", s, clean=0.9, attacked={}, gauss=0.8))
            _band_masks(out[-1], [ok] * 10)
            out.append(_run("adam", s, clean=0.9, attacked={}, gauss=0.8))
            _band_masks(out[-1], [ok] * 5 + [hurt] * 5)
        return out

    (few,) = claim_band_noise(_sweep(runs_for(20, 2)), "fashion_mnist")
    assert few.label == "inconclusive" and "20 images" in few.verdict.reason, few.verdict.reason
    (many,) = claim_band_noise(_sweep(runs_for(2000, 200)), "fashion_mnist")
    assert many.label == "holds", many.verdict.reason
    assert "high − low 10.0, 10.0 points" in many.evidence


def _set_masks(run: Run, norm: str, mask: np.ndarray, clean: np.ndarray) -> None:
    ra = run.summary["eval"]["robust_accuracy"]
    ra["n"], ra["clean_correct"] = mask.size, encode_mask(clean)
    c = ra["attacks"][f"autoattack-{norm}"]
    c["correct"], c["robust_accuracy"] = [encode_mask(mask)], [float(mask.mean())]


def test_identical_effects_on_few_images_do_not_hold():
    """Two seeds, the same 3 of 25 attacked images that SGD survives and Adam does not (sd = 0 over seeds): the old
    rule said 'holds'; the images' own error (McNemar p = 0.25) keeps it inconclusive."""
    clean = np.ones(25, bool)
    sgd_mask = np.r_[np.ones(3, bool), np.zeros(7, bool), np.ones(15, bool)]
    adam_mask = np.r_[np.zeros(10, bool), np.ones(15, bool)]
    runs = []
    for s in range(2):
        for opt, m in (("sgd", sgd_mask), ("adam", adam_mask)):
            r = _run(opt, s, clean=0.9, attacked={"linf": 0.6}, gauss=0.8)
            _set_masks(r, "linf", m, clean)
            runs.append(r)
    claims = _main_verdicts(_sweep(runs))
    linf = next(c for scope, c in claims.items() if "L∞" in scope)
    assert linf.label == "inconclusive" and "25 images" in linf.verdict.reason, linf.verdict.reason
    assert "SGD − Adam per seed: 12.0, 12.0 points" in linf.evidence


def test_mcnemar_on_gaussian_noise_uses_every_image_evaluated():
    """The attacks ran on 400 images, Gaussian noise on 1000: the noise comparison and its McNemar test use all 1000."""
    runs = []
    for s in range(3):
        runs.append(_run("sgd", s, clean=0.9, attacked={"l2": 0.8, "linf": 0.65}, gauss=0.84))
        runs.append(_run("adam", s, clean=0.9, attacked={"l2": 0.6, "linf": 0.45}, gauss=0.70))
    for r in runs:  # the noise evaluation's own clean outcomes on its 1000 images
        r.summary["eval"]["gaussian_noise"]["clean_correct"] = encode_mask(np.ones(1000, bool))
    claims = _main_verdicts(_sweep(runs))
    gauss = next(c for scope, c in claims.items() if "Gaussian" in scope)
    assert "1000 test images" in gauss.evidence
    full = [
        mcnemar(
            decode_mask(runs[2 * s].summary["eval"]["gaussian_noise"]["correct"][0]),
            decode_mask(runs[2 * s + 1].summary["eval"]["gaussian_noise"]["correct"][0]),
        ).p_value
        for s in range(3)
    ]
    sub = [
        mcnemar(
            decode_mask(runs[2 * s].summary["eval"]["gaussian_noise"]["correct"][0])[:N],
            decode_mask(runs[2 * s + 1].summary["eval"]["gaussian_noise"]["correct"][0])[:N],
        ).p_value
        for s in range(3)
    ]
    assert f"McNemar p per seed: {', '.join(_p(p) for p in full)}" in gauss.evidence
    assert full != sub
    effects = [
        float(
            decode_mask(runs[2 * s].summary["eval"]["gaussian_noise"]["correct"][0]).mean()
            - decode_mask(runs[2 * s + 1].summary["eval"]["gaussian_noise"]["correct"][0]).mean()
        )
        for s in range(3)
    ]
    assert f"SGD − Adam per seed: {', '.join(_pts(e) for e in effects)} points" in gauss.evidence


def test_lipschitz_claim_pairs_seeds():
    runs = []
    for s in range(3):
        runs.append(_run("sgd", s, clean=0.9, attacked={}, gauss=0.8, lipschitz=100.0 * (1 + s)))
        runs.append(
            _run("adam", s, clean=0.9, attacked={}, gauss=0.8, lipschitz=(300.0 + 20 * s) * (1 + s))
        )  # ratios 3, 3.2, 3.4
    claims = claim_lipschitz(_sweep(runs), "fashion_mnist")
    assert [c.label for c in claims] == ["holds", "holds"]
    runs[1] = _run("adam", 0, clean=0.9, attacked={}, gauss=0.8, lipschitz=50.0)
    assert claim_lipschitz(_sweep(runs), "fashion_mnist")[0].label == "inconclusive"


def _freq_rows(base: float, lost: float, seeds=(0, 1, 2)) -> list[dict]:
    rows = []
    for s in seeds:
        rows.append(
            {
                "dataset": "fashion_mnist",
                "filter": "none",
                "removed_percent": 0,
                "seed": s,
                "test_accuracy": base + 0.001 * s,
            }
        )
        for level in (30, 50, 70):
            rows.append(
                {
                    "dataset": "fashion_mnist",
                    "filter": "high_frequency",
                    "removed_percent": level,
                    "seed": s,
                    "test_accuracy": base - lost * (1 + 0.2 * s) * level / 50 + 0.001 * s,
                }
            )  # not identical over seeds
    return rows


def test_irrelevant_frequencies_need_a_trained_baseline():
    paper = {"fashion_mnist": 0.91}
    (ok,) = claim_irrelevant_frequencies(_freq_rows(0.905, 0.003), paper)
    assert ok.label == "holds", ok.verdict.reason
    (under,) = claim_irrelevant_frequencies(_freq_rows(0.709, 0.003), paper)
    assert under.label == "inconclusive" and "undertrained" in under.verdict.reason
    (lossy,) = claim_irrelevant_frequencies(_freq_rows(0.905, 0.10), paper)
    assert lossy.label == "contradicted"
    (one,) = claim_irrelevant_frequencies(_freq_rows(0.905, 0.003, seeds=(0,)), paper)
    assert one.label == "inconclusive" and "one seed" in one.verdict.reason


def _theory_summary(gd_std: float, gd_adv: float) -> dict:
    return {
        "n_steps": 30001,
        "initial_standard_risk": 0.25,
        "gd_limit": {"adversarial_risk": {"1.41421": 125.0}},
        "final": {
            "population": {
                "gd": {"standard_risk": gd_std, "adversarial_risk": {"1.41421": gd_adv}},
                "signgd": {"standard_risk": 6e-6, "adversarial_risk": {"1.41421": 143.2}},
                "adam": {"standard_risk": 1e-30, "adversarial_risk": {"1.41421": 145.7}},
            }
        },
    }


def test_linear_theory_holds_only_when_gd_has_converged():
    (ok,) = claim_linear_theory(_theory_summary(3.8e-8, 124.9))
    assert ok.label == "holds", ok.verdict.reason
    (slow,) = claim_linear_theory(_theory_summary(0.18, 60.0))
    assert slow.label == "inconclusive"
    assert "not converged" in slow.verdict.reason and "GD" in slow.verdict.reason


@pytest.mark.parametrize("variances", [[0.001, 0.005, 0.01]])
def test_figure1_compares_at_the_smallest_eps_and_the_largest_variance(variances):
    runs = []
    for opt in ("sgd", "adam"):
        r = _run(opt, 0, clean=0.9, attacked={"l2": 0.8}, gauss=0.8)
        curve = r.summary["eval"]["robust_accuracy"]["attacks"]["autoattack-l2"]
        curve["eps"], curve["robust_accuracy"] = [0.1, 0.5, 0.7], [0.8, 0.3, 0.1]
        curve["correct"] = curve["correct"] * 3
        g = r.summary["eval"]["gaussian_noise"]
        g["variances"], g["accuracy"], g["correct"] = variances, [0.8, 0.7, 0.6], g["correct"] * 3
        runs.append(r)
    setting = figure1_setting(_sweep(runs), "fashion_mnist")
    assert setting.eps_l2 == 0.1 and setting.variance == 0.01
