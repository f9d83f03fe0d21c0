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
    image_interval,
    log_interval,
    mcnemar,
    mean_interval,
    paired,
    proportion_interval,
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
    both = (
        sum(
            combine({"adam": decide(rng.normal(0, 1, 3)), "rmsprop": decide(rng.normal(0, 1, 3))}).label == HOLDS
            for _ in range(trials)
        )
        / trials
    )
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


# -- issue 20: the images' own error, log-scale intervals, the family-wise rate of a combined claim ----------------


def _pair(n: int, only_a: int, only_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of two classifiers on ``n`` images: ``only_a`` images only a gets right, ``only_b`` only b, half the rest
    both."""
    a = np.zeros(n, bool)
    b = np.zeros(n, bool)
    a[:only_a] = True
    b[only_a : only_a + only_b] = True
    both = np.arange(only_a + only_b, n)[::2]
    a[both] = b[both] = True
    return a, b


def test_a_zero_width_seed_interval_never_decides_on_few_images():
    """Two seeds with identical effects (sd = 0): the old rule said 'holds' from a zero-width interval; measured on 25
    images (3 discordant, all for a) the effect carries the images' error, which McNemar's exact test also sees."""
    a, b = _pair(25, 3, 0)
    effect = float(a.mean() - b.mean())
    assert effect == pytest.approx(0.12)
    zero = decide([effect, effect])  # the seed interval alone has zero width: it never decides (the old rule: 'holds')
    assert zero.label == INCONCLUSIVE and "sd = 0" in zero.reason, zero.reason
    diffs = [a.astype(float) - b, a.astype(float) - b]
    v = decide([effect, effect], outcomes=diffs)
    assert v.label == INCONCLUSIVE and "25 images" in v.reason, v.reason
    assert (
        mean_interval([effect, effect], outcomes=diffs).low < 0 < mean_interval([effect, effect], outcomes=diffs).high
    )
    assert mcnemar(a, b).p_value > 0.05
    # the same effect on 10,000 images is far beyond the images' error: it holds
    a, b = _pair(10_000, 1200, 0)
    diffs = [a.astype(float) - b] * 2
    assert decide([0.12, 0.12], outcomes=diffs).label == HOLDS
    # the seed interval is kept when it is the wider one
    wide = mean_interval([0.0, 0.24], outcomes=diffs)
    assert (wide.low, wide.high) == pytest.approx((mean_interval([0.0, 0.24]).low, mean_interval([0.0, 0.24]).high))


def test_the_image_interval_is_never_bolder_than_mcnemars_exact_test():
    """On one seed, the per-image interval excludes 0 only where scipy's exact binomial (McNemar) test has p < 0.05,
    on every split of up to 60 images (and 200 images, every 3rd count), and agrees with it almost everywhere."""
    from scipy.stats import binomtest

    agree = total = 0
    for n in (5, 10, 25, 60, 200):
        step = 3 if n == 200 else 1
        for only_a in range(0, n + 1, step):
            for only_b in range(0, n + 1 - only_a, step):
                if only_a + only_b == 0:
                    continue
                d = np.r_[np.ones(only_a), -np.ones(only_b), np.zeros(n - only_a - only_b)]
                iv = image_interval([d])
                assert iv.mean == pytest.approx((only_a - only_b) / n)
                p = binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
                excludes_0 = iv.low > 0 or iv.high < 0
                if excludes_0:
                    assert p < 0.05, (n, only_a, only_b, p)
                agree += excludes_0 == (p < 0.05)
                total += 1
    assert agree / total > 0.99


def test_the_image_interval_averages_seeds_per_image():
    d0 = np.array([1.0, 0, 0, -1, 1, 0, 1, 0])
    d1 = np.array([1.0, 1, 0, 0, 1, 0, 0, 0])
    iv = image_interval([d0, d1])
    d = (d0 + d1) / 2
    from scipy.stats import t as student_t

    half = student_t.ppf(0.975, 7) * math.sqrt(np.mean(d**2)) / math.sqrt(8) + 1 / 16
    assert (iv.mean, iv.low, iv.high, iv.n_images) == (
        pytest.approx(d.mean()),
        pytest.approx(d.mean() - half),
        pytest.approx(d.mean() + half),
        8,
    )
    with pytest.raises(ValueError):
        image_interval([d0, d1[:-1]])


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for k, n in ((0, 25), (15, 25), (25, 25), (3, 1000), (640, 1000)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert proportion_interval(k, n) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))
    low, high = proportion_interval(25, 25)
    assert low < 1 and high == pytest.approx(1.0)  # all right on 25 images: not a zero-width interval


def test_positive_skewed_values_get_a_log_scale_interval_that_stays_above_zero():
    from scipy.stats import gmean
    from scipy.stats import t as student_t

    values = [12.0, 30.0, 290.0]  # like the zoo's Hessian eigenvalues: symmetric t-interval goes below 0
    assert mean_interval(values).low < 0
    iv = log_interval(values)
    logs = np.log(values)
    half = student_t.ppf(0.975, 2) * np.std(logs, ddof=1) / math.sqrt(3)
    assert iv.mean == pytest.approx(gmean(values))
    assert (iv.low, iv.high) == (
        pytest.approx(math.exp(logs.mean() - half)),
        pytest.approx(math.exp(logs.mean() + half)),
    )
    assert 0 < iv.low < iv.mean < iv.high and iv.log
    assert iv.low * iv.high == pytest.approx(iv.mean**2)  # multiplicative: gm / f, gm * f
    assert not log_interval([5.0]).defined
    with pytest.raises(ValueError):
        log_interval([1.0, 0.0])


def _false_rates(make_effects, parts: int, trials: int, rng) -> tuple[float, float, float]:
    """Rates of (holds, contradicted) of a combined claim whose parts' effects come from ``make_effects(i, rng)``,
    and the old union rule's contradicted rate (any part contradicted at 95%)."""
    holds = contradicted = old = 0
    for _ in range(trials):
        verdicts = {f"part {i}": decide(make_effects(i, rng)) for i in range(parts)}
        label = combine(verdicts).label
        holds += label == HOLDS
        contradicted += label == CONTRADICTED
        old += any(v.label == CONTRADICTED for v in verdicts.values())
    return holds / trials, contradicted / trials, old / trials


def test_combine_keeps_a_false_contradicted_rate_of_one_part():
    """Six parts (three perturbations x two adaptive methods), pure noise over three seeds: the old union rule said
    'contradicted' about 1 - 0.975^6 = 14% of the time; the Bonferroni rule stays under the single-part 2.5%."""
    rng = np.random.default_rng(3)
    holds, contradicted, old = _false_rates(lambda i, r: r.normal(0, 1, 3), 6, 4000, rng)
    assert 0.11 < old < 0.17
    assert contradicted < 0.03
    assert holds < 0.001


def test_combine_keeps_a_false_holds_rate_of_one_part():
    """Five parts truly in the paper's direction and one pure noise: the claim is false, and 'holds' comes at most
    as often as that one part's false 'holds' (2.5%)."""
    rng = np.random.default_rng(4)
    holds, contradicted, _ = _false_rates(lambda i, r: r.normal(0 if i == 0 else 20, 1, 3), 6, 4000, rng)
    assert holds < 0.03 and contradicted < 0.03


def test_combine_still_finds_a_clear_contradiction_and_opens_up_nested_parts():
    rng = np.random.default_rng(5)
    found = 0
    for _ in range(300):
        inner = {"adam": decide(rng.normal(-10, 1, 5)), "rmsprop": decide(rng.normal(3, 1, 5))}
        outer = combine(
            {"gaussian": combine(inner), "l2": decide(rng.normal(3, 1, 5)), "linf": decide(rng.normal(3, 1, 5))}
        )
        found += outer.label == CONTRADICTED
    assert found / 300 > 0.9
    assert "Bonferroni over 4 parts" in outer.reason and "gaussian / adam" in outer.reason
    # contradicted at 95% but not at the corrected level: inconclusive, and says so
    weak = decide([-0.9, -1.0, -1.1, -0.95])
    assert weak.label == CONTRADICTED and weak.redecide(1 - 0.05 / 6).label == CONTRADICTED
    borderline = decide([-0.8, -1.0, -1.2])
    assert borderline.label == CONTRADICTED and borderline.redecide(1 - 0.05 / 6).label != CONTRADICTED
    v = combine({f"p{i}": borderline if i == 0 else decide([1.0, 1.1, 0.9]) for i in range(6)})
    assert v.label == INCONCLUSIVE and "not at the family-wise level" in v.reason


def test_identical_values_over_seeds_never_decide_without_the_images_error():
    """Issue 20, "or sd = 0 must never decide": where no per-image outcomes carry the images' error, identical per-seed
    effects (sd = 0, also up to floating-point rounding) give a zero-width interval, and no verdict comes from it."""
    for effects in ([0.12, 0.12], [0.12] * 3, [0.1 + 0.2, 0.3, 0.30000000000000004], [-0.05, -0.05]):
        v = decide(effects)
        assert v.label == INCONCLUSIVE and "sd = 0" in v.reason and "would say" in v.reason, (effects, v.reason)
        e = decide_equivalent(effects, 0.2)
        assert e.label == INCONCLUSIVE and "sd = 0" in e.reason, (effects, e.reason)
    assert decide([0.12, 0.13, 0.125]).label == HOLDS  # a spread, however small against the effect, decides
    assert decide_equivalent([0.001, 0.002, 0.0015], 0.02).label == HOLDS
    assert decide([0.12, 0.12], exact=True).label == HOLDS  # a deterministic quantity needs no interval
    # the combined rule's corrected re-decision keeps the reason once
    c = combine([("a", decide([0.12, 0.12])), ("b", decide([0.2, 0.3, 0.25]))])
    assert c.label == INCONCLUSIVE and c.reason.count("sd = 0") == 1
