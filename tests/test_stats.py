"""The decision rule behind every verdict (robustopt.stats), checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustopt.stats import (
    CONTRADICTED,
    HOLDS,
    INCONCLUSIVE,
    combine,
    decide,
    decide_equivalent,
    mcnemar,
    mean_interval,
    paired,
)

# Student-t 97.5% quantiles: df=2 in closed form ((2p-1) / sqrt(2p(1-p))), df=4 from printed tables (4 digits)
T_975 = {2: 0.95 / math.sqrt(2 * 0.975 * 0.025), 4: 2.7764}


def test_interval_matches_the_textbook_t_interval():
    values = [0.10, 0.14, 0.09]
    iv = mean_interval(values)
    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    half = T_975[2] * sd / math.sqrt(3)
    assert iv.mean == pytest.approx(mean, abs=1e-15)
    assert (iv.low, iv.high) == (pytest.approx(mean - half, rel=1e-12), pytest.approx(mean + half, rel=1e-12))
    five = mean_interval([1, 2, 3, 4, 6])
    assert five.high - five.mean == pytest.approx(T_975[4] * np.std([1, 2, 3, 4, 6], ddof=1) / math.sqrt(5), rel=1e-4)


def test_one_seed_has_no_interval_and_is_inconclusive():
    iv = mean_interval([0.3])
    assert not iv.defined and iv.side() == 0
    v = decide([0.3])
    assert v.label == INCONCLUSIVE and "one seed" in v.reason


def test_a_clear_effect_over_three_seeds_holds_and_its_mirror_is_contradicted():
    assert decide([0.051, 0.048, 0.053]).label == HOLDS
    assert decide([-0.051, -0.048, -0.053]).label == CONTRADICTED
    assert decide([0.051, 0.048, 0.053], direction=-1).label == CONTRADICTED


def test_noise_around_zero_is_inconclusive_and_says_why():
    for effects in ([0.5, -0.5, 0.1], [0.02, -0.01, 0.03], [1e-3, -1e-3]):
        v = decide(effects)
        assert v.label == INCONCLUSIVE and "contains 0" in v.reason


def test_pure_noise_gives_holds_no_more_often_than_the_nominal_rate():
    """Effects drawn with mean 0: the 95% interval excludes 0 on the paper's side in 2.5% of cases by design;
    a claim of two parts (SGD vs Adam and SGD vs RMSprop) needs both, which pure noise almost never gives."""
    rng = np.random.default_rng(0)
    trials = 4000
    single = sum(decide(rng.normal(0, 1, 3)).label == HOLDS for _ in range(trials)) / trials
    assert single < 0.035
    both = sum(
        combine({"adam": decide(rng.normal(0, 1, 3)), "rmsprop": decide(rng.normal(0, 1, 3))}).label == HOLDS
        for _ in range(trials)
    ) / trials
    assert both < 0.005


def test_a_real_effect_is_found_most_of_the_time():
    rng = np.random.default_rng(1)
    found = sum(decide(rng.normal(5, 1, 3)).label == HOLDS for _ in range(500)) / 500
    assert found > 0.95


def test_caveats_make_any_verdict_inconclusive_and_are_quoted():
    v = decide([0.05, 0.06, 0.055], caveats=["standard accuracies 9.0 points apart (tolerance 2)"])
    assert v.label == INCONCLUSIVE
    assert "9.0 points apart" in v.reason and "would say 'holds'" in v.reason


def test_exact_quantities_need_no_seeds():
    assert decide([0.2], exact=True).label == HOLDS
    assert decide([-0.2], exact=True).label == CONTRADICTED
    assert decide([0.2], exact=True, caveats=["GD not converged"]).label == INCONCLUSIVE


def test_equivalence_needs_the_interval_inside_the_margin():
    assert decide_equivalent([0.001, -0.002, 0.0], margin=0.01).label == HOLDS
    assert decide_equivalent([0.05, 0.06, 0.055], margin=0.01).label == CONTRADICTED
    assert decide_equivalent([0.02, -0.02, 0.0], margin=0.01).label == INCONCLUSIVE
    assert decide_equivalent([0.0], margin=0.01).label == INCONCLUSIVE


def test_combine_is_a_conjunction():
    h, c, i = decide([1, 1.1, 0.9]), decide([-1, -1.1, -0.9]), decide([1, -1])
    assert combine({"a": h, "b": h}).label == HOLDS
    assert combine({"a": h, "b": i}).label == INCONCLUSIVE
    assert "b:" in combine({"a": h, "b": i}).reason
    assert combine({"a": h, "b": c, "c": i}).label == CONTRADICTED
    assert combine({}).label == INCONCLUSIVE


def test_paired_differences_match_seeds():
    assert paired({0: 0.9, 1: 0.8, 2: 0.7}, {1: 0.5, 0: 0.6, 3: 0.1}) == pytest.approx([0.3, 0.3])


def test_mcnemar_exact_p_value_by_hand():
    # 1 image only a gets right, 9 only b gets right: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024
    a = np.array([1] * 1 + [0] * 9 + [1] * 50 + [0] * 40, bool)
    b = np.array([0] * 1 + [1] * 9 + [1] * 50 + [0] * 40, bool)
    res = mcnemar(a, b)
    assert (res.n, res.only_a, res.only_b) == (100, 1, 9)
    assert res.p_value == pytest.approx(22 / 1024, rel=1e-12)
    assert res.difference == pytest.approx(-0.08)
    assert mcnemar(a, a).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar(a, b[:-1])
