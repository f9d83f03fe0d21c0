"""Independent checks of robustopt.theory (the linear least-squares theory of arXiv:2308.06703).

Every numeric check compares against something computed another way: scipy's DCT, Monte-Carlo
estimates, an explicit inner maximisation, GD's closed form, numpy's least squares, analytic
moments (Isserlis), and a from-scratch numpy Adam / RMSprop.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from robustopt.errors import ConfigError
from robustopt.theory import (
    PAPER_LR,
    PAPER_SIGMA_TILDE,
    PAPER_W0_TILDE,
    PAPER_W_STAR_TILDE,
    THEORY_OPTIMIZERS,
    DatasetGradient,
    FrequencyLinearModel,
    PopulationGradient,
    SampledGradient,
    adversarial_risk,
    dct_matrix,
    gd_closed_form,
    gd_limit,
    record_steps,
    risk_ratio_surface,
    simulate,
    standard_risk,
    to_frequency,
    to_pixel,
)

SQRT2 = float(np.sqrt(2.0))


def _random_model(rng, d=6, irrelevant=(1, 4), noise_std=0.0):
    sigma = rng.uniform(0.3, 1.0, d)
    sigma[list(irrelevant)] = 0.0
    w_star = rng.normal(size=d) * 2
    w_star[list(irrelevant)] = 0.0
    return FrequencyLinearModel(sigma, w_star, noise_std=noise_std)


# -- DCT -------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 3, 8])
def test_dct_matrix_matches_scipy_and_is_orthonormal(d):
    rng = np.random.default_rng(d)
    x = rng.normal(size=(5, d))
    mat = dct_matrix(d)
    np.testing.assert_allclose(x @ mat.T, scipy.fft.dct(x, norm="ortho", axis=-1), atol=1e-12)
    np.testing.assert_allclose(mat @ mat.T, np.eye(d), atol=1e-12)
    np.testing.assert_allclose(to_pixel(to_frequency(x)), x, atol=1e-12)
    np.testing.assert_allclose(to_pixel(x), scipy.fft.idct(x, norm="ortho", axis=-1), atol=1e-12)


def test_sampled_inputs_have_the_frequency_covariance():
    model = FrequencyLinearModel(np.array([1.0, 0.5, 0.0, 0.2]), np.array([1.0, -2.0, 0.0, 3.0]))
    x, y = model.sample(200_000, np.random.default_rng(0))
    x_tilde = scipy.fft.dct(x, norm="ortho", axis=-1)
    np.testing.assert_allclose(x_tilde.std(axis=0), model.sigma_tilde, atol=0.01)
    assert np.all(x_tilde[:, 2] == pytest.approx(0.0, abs=1e-12))  # the irrelevant frequency is empty
    np.testing.assert_allclose(y, x_tilde @ model.w_star_tilde, atol=1e-10)


# -- closed-form risks -----------------------------------------------------------------------
@pytest.mark.parametrize("noise_std", [0.0, 0.3])
def test_standard_risk_matches_monte_carlo(noise_std):
    rng = np.random.default_rng(1)
    model = _random_model(rng, noise_std=noise_std)
    w_tilde = model.w_star_tilde + rng.normal(size=model.d)
    x, y = model.sample(400_000, np.random.default_rng(2))
    loss = 0.5 * (x @ to_pixel(w_tilde) - y) ** 2
    closed = standard_risk(w_tilde, model.w_star_tilde, model.sigma_tilde, noise_std=noise_std)
    assert isinstance(closed, float)
    assert abs(loss.mean() - closed) < 3 * loss.std() / np.sqrt(loss.size)


@pytest.mark.parametrize("eps", [0.1, 1.0, SQRT2, 3.0])
def test_adversarial_risk_matches_monte_carlo_with_worst_perturbation(eps):
    rng = np.random.default_rng(3)
    model = _random_model(rng)
    w_tilde = model.w_star_tilde + 0.5 * rng.normal(size=model.d)
    w = to_pixel(w_tilde)
    x, y = model.sample(200_000, np.random.default_rng(4))
    r = x @ w - y
    # the estimand E[(|r| + eps ||w||)^2 / 2] ...
    target = 0.5 * (np.abs(r) + eps * np.linalg.norm(w)) ** 2
    # ... realised by the explicit worst perturbation delta = eps sign(r) w / ||w|| in pixel space
    delta = eps * np.sign(r)[:, None] * w / np.linalg.norm(w)
    attacked = 0.5 * ((x + delta) @ w - y) ** 2
    np.testing.assert_allclose(attacked, target, rtol=1e-10)
    closed = adversarial_risk(w_tilde, model.w_star_tilde, model.sigma_tilde, eps)
    assert abs(target.mean() - closed) < 3 * target.std() / np.sqrt(target.size)


def test_worst_perturbation_equals_numerical_inner_maximisation():
    """Projected gradient ascent over ||delta||_2 <= eps reaches (|r| + eps ||w||)^2 / 2, never more."""
    rng = np.random.default_rng(5)
    model = _random_model(rng, d=5, irrelevant=(3,))
    w = to_pixel(model.w_star_tilde + rng.normal(size=5))
    x, y = model.sample(50, np.random.default_rng(6))
    eps = 0.7
    delta = rng.normal(size=x.shape) * 1e-3
    for _ in range(200):  # ascent on 0.5 (w.(x + delta) - y)^2, then project onto the ball
        resid = (x + delta) @ w - y
        delta = delta + 0.5 * resid[:, None] * w[None, :]
        norms = np.linalg.norm(delta, axis=1, keepdims=True)
        delta = delta * np.minimum(1.0, eps / norms)
    pgd = 0.5 * ((x + delta) @ w - y) ** 2
    closed = 0.5 * (np.abs(x @ w - y) + eps * np.linalg.norm(w)) ** 2
    np.testing.assert_allclose(pgd, closed, rtol=1e-9)
    # random feasible perturbations never beat it
    rand = rng.normal(size=(2000, 5))
    rand *= eps * rng.uniform(0, 1, (2000, 1)) ** (1 / 5) / np.linalg.norm(rand, axis=1, keepdims=True)
    vals = 0.5 * ((x[:, None, :] + rand[None]) @ w - y[:, None]) ** 2
    assert np.all(vals <= closed[:, None] * (1 + 1e-12))


def test_risks_vectorise_over_a_trajectory_and_reject_bad_shapes():
    w = np.array([[5.0, 10.0, 0.0], [4.0, 9.0, 1.0]])
    s = standard_risk(w, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE)
    assert s.shape == (2,) and s[0] == 0.0
    assert s[1] == pytest.approx(0.5 * (0.01 * 1 + 0.0025 * 1))
    a = adversarial_risk(w, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, 1.0)
    assert a[0] == pytest.approx(0.5 * 125.0)  # S = 0: only the eps^2 ||w||^2 / 2 term
    with pytest.raises(ConfigError):
        standard_risk([1.0, 2.0], PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE)
    with pytest.raises(ConfigError):
        adversarial_risk(PAPER_W_STAR_TILDE, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, -1.0)


# -- GD: closed form, irrelevant frequencies, minimum norm -----------------------------------
def test_gd_on_population_loss_equals_closed_form_every_step():
    rng = np.random.default_rng(7)
    model = _random_model(rng, d=6, irrelevant=(1, 4))
    w0_tilde = rng.normal(size=6)
    n_steps, lr = 20_000, 0.05
    steps = np.arange(n_steps + 1)
    traj = THEORY_OPTIMIZERS.get("gd")(
        to_pixel(w0_tilde), PopulationGradient(model), lr=lr, n_steps=n_steps, record_at=steps
    )
    closed = gd_closed_form(w0_tilde, model.w_star_tilde, model.sigma_tilde, lr, steps)
    np.testing.assert_allclose(to_frequency(traj), closed, rtol=0, atol=1e-10)
    # the closed form keeps the irrelevant frequencies exactly; the pixel-space iteration to rounding
    assert np.all(closed[:, [1, 4]] == w0_tilde[[1, 4]])
    np.testing.assert_allclose(
        to_frequency(traj)[:, [1, 4]], np.broadcast_to(w0_tilde[[1, 4]], (n_steps + 1, 2)), atol=1e-13
    )
    # relevant frequencies converge; the limit keeps w0 on the irrelevant ones
    np.testing.assert_allclose(closed[-1], gd_limit(w0_tilde, model.w_star_tilde, model.sigma_tilde, lr), atol=1e-8)


def test_gd_from_zero_reaches_the_minimum_norm_population_solution():
    model = FrequencyLinearModel(np.array([1.0, 0.8, 0.0, 0.5, 0.0]), np.array([1.0, -2.0, 3.0, 0.5, -1.0]))
    res = simulate(model, np.zeros(5), optimizers=["gd"], lr=0.5, n_steps=3000, record_at=[0, 3000])
    w = to_pixel(res.weights_tilde["gd"][-1])
    min_norm = np.linalg.pinv(model.input_covariance) @ model.input_label_covariance
    np.testing.assert_allclose(w, min_norm, atol=1e-10)


def test_gd_from_zero_reaches_lstsq_min_norm_on_an_underdetermined_data_set():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(5, 12)), rng.normal(size=5)
    lr = 1.0 / np.linalg.eigvalsh(x.T @ x / 5).max()
    w = THEORY_OPTIMIZERS.get("gd")(np.zeros(12), DatasetGradient(x, y), lr=lr, n_steps=20_000, record_at=[20_000])[-1]
    np.testing.assert_allclose(w, np.linalg.lstsq(x, y, rcond=None)[0], atol=1e-8)


# -- the paper's instance ----------------------------------------------------------------------
def test_paper_instance_gd_and_signgd_population():
    res = simulate(optimizers=["gd", "signgd"], gradient="population", n_steps=200_001, record_at=[0, 200_001])
    final = res.final([SQRT2])
    closed = gd_closed_form(PAPER_W0_TILDE, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, PAPER_LR, 200_001)
    closed_risk = adversarial_risk(closed, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, SQRT2)
    limit = gd_limit(PAPER_W0_TILDE, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, PAPER_LR)
    assert closed_risk == pytest.approx(123.70, abs=0.01)
    assert adversarial_risk(limit, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, SQRT2) == pytest.approx(125.0, abs=1e-3)
    gd, sign = final["gd"], final["signgd"]
    assert gd["standard_risk"] < 1e-3 and sign["standard_risk"] < 1e-3
    assert gd["adversarial_risk"]["1.41421"] == pytest.approx(closed_risk, abs=1e-8)
    assert gd["w_tilde"][2] == pytest.approx(0.02, abs=1e-12)  # GD never moves the irrelevant frequency
    assert abs(sign["w_tilde"][2]) > 1.0  # signGD does
    assert sign["weight_norm"] > gd["weight_norm"]
    assert sign["adversarial_risk"]["1.41421"] > gd["adversarial_risk"]["1.41421"] + 10


@pytest.mark.slow
def test_paper_instance_sampled_batches_gd_and_signgd():
    res = simulate(optimizers=["gd", "signgd"], gradient="sampled", n_steps=200_001, seed=3, record_at=[0, 200_001])
    final = res.final([SQRT2])
    assert final["gd"]["standard_risk"] < 1e-3 and final["signgd"]["standard_risk"] < 1e-3
    assert final["gd"]["adversarial_risk"]["1.41421"] == pytest.approx(123.70, abs=0.05)
    assert final["signgd"]["adversarial_risk"]["1.41421"] > 130


def test_paper_instance_adam_and_rmsprop_population():
    # both have converged long before 10,001 steps (their 200,001-step weights are the same; see the
    # entry point), and 200,001 torch steps would take about a minute here
    res = simulate(optimizers=["adam", "rmsprop"], gradient="population", n_steps=10_001, record_at=[0, 10_001])
    for name, row in res.final([SQRT2]).items():
        assert row["standard_risk"] < 1e-3, name
        assert abs(row["w_tilde"][2] - 0.02) > 1.0, name  # adaptive methods move the irrelevant frequency
        assert row["adversarial_risk"]["1.41421"] > 130, name


# -- the torch optimizers are driven correctly ---------------------------------------------
def _numpy_adam(w, oracle, lr, n, b1=0.9, b2=0.999, eps=1e-8):
    w = w.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, n + 1):
        g = oracle(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    return w


def _numpy_rmsprop(w, oracle, lr, n, alpha=0.99, eps=1e-8):
    w = w.copy()
    v = np.zeros_like(w)
    for _ in range(n):
        g = oracle(w)
        v = alpha * v + (1 - alpha) * g * g
        w = w - lr * g / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("gradient", ["population", "sampled"])
def test_torch_adam_and_rmsprop_match_numpy_reference(gradient):
    model = FrequencyLinearModel.paper()
    w0 = to_pixel(np.array(PAPER_W0_TILDE))
    n = 1500

    def oracle():
        return PopulationGradient(model) if gradient == "population" else SampledGradient(model, 50, seed=11)

    for name, reference in [("adam", _numpy_adam), ("rmsprop", _numpy_rmsprop)]:
        got = THEORY_OPTIMIZERS.get(name)(w0, oracle(), lr=1e-2, n_steps=n, record_at=[n])[-1]
        np.testing.assert_allclose(got, reference(w0, oracle(), 1e-2, n), rtol=1e-10, atol=1e-12)


def test_signgd_steps_by_lr_in_pixel_coordinates():
    model = FrequencyLinearModel.paper()
    w0 = to_pixel(np.array(PAPER_W0_TILDE))
    traj = THEORY_OPTIMIZERS.get("signgd")(w0, PopulationGradient(model), lr=1e-2, n_steps=50, record_at=np.arange(51))
    steps = np.diff(traj, axis=0)
    np.testing.assert_allclose(np.abs(steps), 1e-2, rtol=1e-12)
    expected = -1e-2 * np.sign(np.array([model.population_gradient(w) for w in traj[:-1]]))
    np.testing.assert_allclose(steps, expected, atol=1e-15)


# -- sampled gradients ---------------------------------------------------------------------
def test_wishart_and_explicit_batches_have_the_analytic_gradient_distribution():
    model = FrequencyLinearModel(np.array([1.0, 0.5, 0.0]), np.array([1.0, -2.0, 0.0]), noise_std=0.3)
    w = to_pixel(np.array([0.2, 0.3, 0.5]))
    n, draws = 8, 20_000
    sigma2 = np.diag(model.sigma_tilde**2)
    e = model.dct @ w - model.w_star_tilde
    mean = sigma2 @ e
    s = e @ sigma2 @ e + model.noise_std**2
    cov = (sigma2 * s + np.outer(mean, mean)) / n  # Isserlis: E[x x^T r^2] = Sigma s + 2 (Sigma e)(Sigma e)^T
    for sampler in ("wishart", "explicit"):
        oracle = SampledGradient(model, n, seed=12, sampler=sampler, chunk=1000)
        g = np.array([oracle(w) for _ in range(draws)]) @ model.dct.T  # frequency domain
        se = np.sqrt(np.diag(cov) / draws)
        assert np.all(np.abs(g.mean(axis=0) - mean) <= 4 * se + 1e-15), sampler
        np.testing.assert_allclose(np.cov(g.T), cov, atol=0.05 * np.abs(cov).max(), err_msg=sampler)
        assert np.all(np.abs(g[:, 2]) < 1e-12), sampler  # no signal along the irrelevant frequency


def test_sampled_oracles_are_reproducible_and_independent_of_global_rng():
    model = FrequencyLinearModel.paper()
    w = np.ones(3)
    a = SampledGradient(model, 100, seed=5)
    np.random.seed(0)
    first = [a(w) for _ in range(3)]
    b = SampledGradient(model, 100, seed=5)
    np.random.seed(1)
    np.testing.assert_array_equal(first, [b(w) for _ in range(3)])
    assert not np.allclose(first[0], SampledGradient(model, 100, seed=6)(w))


# -- surface, recording, errors ------------------------------------------------------------
def test_risk_ratio_surface_against_direct_simulation():
    eps = [0.5, 1.0, 2.0]
    out = risk_ratio_surface(variances=[0.0, 1e-2], eps=eps, adaptive=["signgd"], n_steps=3000)
    ratio = np.asarray(out["ratio"]["signgd"])
    assert ratio.shape == (2, 3)
    for i, var in enumerate([0.0, 1e-2]):
        model = FrequencyLinearModel.paper(irrelevant_std=np.sqrt(var))
        gd = gd_closed_form(PAPER_W0_TILDE, model.w_star_tilde, model.sigma_tilde, PAPER_LR, 3000)
        sign = simulate(model, optimizers=["signgd"], n_steps=3000, record_at=[3000]).weights_tilde["signgd"][-1]
        for j, e in enumerate(eps):
            expected = adversarial_risk(sign, model.w_star_tilde, model.sigma_tilde, e) / adversarial_risk(
                gd, model.w_star_tilde, model.sigma_tilde, e
            )
            assert ratio[i, j] == pytest.approx(expected, rel=1e-9)


def test_record_steps():
    steps = record_steps(200_001, points=300)
    assert steps[0] == 0 and steps[-1] == 200_001 and np.all(np.diff(steps) > 0)
    assert 200 < steps.size <= 302  # log-spaced counts below ~100 coincide after rounding
    assert np.array_equal(record_steps(10, spacing="all"), np.arange(11))
    lin = record_steps(1000, points=10, spacing="linear")
    assert lin[1] == 100 and lin[-1] == 1000


def test_user_mistakes_raise_config_error():
    with pytest.raises(ConfigError, match="known theory optimizers"):
        simulate(optimizers=["adamm"], n_steps=1)
    with pytest.raises(ConfigError, match="d = 3"):
        simulate(w0_tilde=[0.0, 1.0], n_steps=1)
    with pytest.raises(ConfigError):
        simulate(optimizers=["gd"], gradient="minibatch", n_steps=1)
    with pytest.raises(ConfigError, match=r"theory optimizer 'adam' has no option\(s\) betaz; its options are: betas"):
        simulate(optimizers={"adam": {"betaz": [0.9, 0.99]}}, n_steps=1)
    with pytest.raises(ConfigError, match=r"theory optimizer 'gd' has no option\(s\) momentum; its options are: none"):
        simulate(optimizers={"gd": {"momentum": 0.9}}, n_steps=1)
    with pytest.raises(ConfigError):
        FrequencyLinearModel(np.array([1.0, -1.0]), np.array([0.0, 0.0]))


def test_divergent_run_is_reported_as_nan():
    model = FrequencyLinearModel(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    res = simulate(model, [0.0, 0.0], optimizers=["gd"], lr=3.0, n_steps=5000, record_at=[0, 10, 5000])
    assert np.all(np.isfinite(res.weights_tilde["gd"][1])) and np.all(np.isnan(res.weights_tilde["gd"][-1]))


# -- entry point and figures (subprocesses) ------------------------------------------------
@pytest.mark.slow
def test_entry_point_writes_the_results_store_and_figures_draw_from_it(tmp_path):
    import json

    from paper_figures.linear_theory import make_figures
    from robustopt.rundir import RunDir, find_runs
    from tests.conftest import run_entry

    proc = run_entry(
        "linear_theory.py",
        ["theory=quick", "logger=none", "progress=false", "n_steps=301", f"paths.output_dir={tmp_path}"],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = find_runs(tmp_path)
    assert run.meta()["status"] == "completed"
    summary = run.summary()
    traj = json.loads((run.path / "trajectories_population.json").read_text())
    steps = np.asarray(traj["steps"])
    assert steps[0] == 0 and steps[-1] == 301
    lr = summary["lr"]
    assert lr == 0.1  # the quick instance: 10x the paper's steps (conf/theory/quick.yaml)
    closed = gd_closed_form(PAPER_W0_TILDE, PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, lr, steps)
    np.testing.assert_allclose(traj["optimizers"]["gd"]["w_tilde"], closed, atol=1e-10)
    gd_final = summary["final"]["population"]["gd"]
    expected = adversarial_risk(closed[-1], PAPER_W_STAR_TILDE, PAPER_SIGMA_TILDE, SQRT2)
    assert gd_final["adversarial_risk"]["1.41421"] == pytest.approx(expected, rel=1e-10)
    assert summary["gd_closed_form"]["adversarial_risk"]["1.41421"] == pytest.approx(expected, rel=1e-10)
    assert set(summary["final"]) == {"population"}  # the quick instance: exact gradients only
    assert len(RunDir(run.path).metrics()) == steps.size
    surface = json.loads((run.path / "surface.json").read_text())
    assert np.asarray(surface["ratio"]["signgd"]).shape == (4, 4)

    paths = make_figures(run.path, tmp_path / "figs")
    names = {p.name for p in paths}
    for stem in ("weight_error_population", "risks_population", "weight_norms", "risk_ratio_heatmap"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert not any(
        "surface" in n for n in names
    )  # the risk ratio over categorical variances: a heat map, no 3-D surface
    assert all(p.stat().st_size > 1000 for p in paths)
    assert "risk_ratio_heatmap" in (tmp_path / "figs" / "linear_theory.md").read_text()


@pytest.mark.slow
def test_entry_point_user_mistake_prints_one_line(tmp_path):
    from tests.conftest import run_entry

    proc = run_entry(
        "linear_theory.py", ["theory=quick", "logger=none", "+optimizers.adamm={}", f"paths.output_dir={tmp_path}"]
    )
    assert proc.returncode != 0
    assert "unknown theory optimizer 'adamm'" in proc.stderr and "Traceback" not in proc.stderr
