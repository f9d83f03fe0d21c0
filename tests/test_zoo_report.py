"""The optimizer-zoo table, correlations and verdict on a synthetic results store (paper_figures/optimizer_zoo.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, gmean, rankdata, spearmanr
from scipy.stats import t as student_t

from paper_figures import optimizer_zoo as zoo
from robustopt.rundir import RunDir
from robustopt.stats import CONTRADICTED, HOLDS, INCONCLUSIVE, log_interval
from robustopt.tracking.store import load_sweep

OPTS = {  # label -> optimizer config, base robust L-inf accuracy, base top eigenvalue
    "sgd": ({"name": "sgd", "lr": 0.01}, 0.60, 5.0),
    "adam": ({"name": "adam", "lr": 1e-3}, 0.40, 50.0),
    "lookahead(adam)": ({"name": "lookahead", "base": {"name": "adam", "lr": 1e-3}, "k": 5}, 0.50, 20.0),
}


def _store(root, sign=-1, sharpness=True):
    for label, (opt, robust, eig) in OPTS.items():
        for seed in range(3):
            run = RunDir(root / f"{label}-{seed}")
            run.write_config(
                {
                    "dataset": {"name": "fashion_mnist"},
                    "model": {"name": "c2"},
                    "seed": seed,
                    "optimizer": opt,
                    "epochs": 2,
                }
            )
            rob = robust + 0.01 * seed
            top = eig * (1 + 0.1 * seed) if sign < 0 else 1000 * rob
            ev = {
                "clean": {"accuracy": 0.9 + 0.001 * seed},
                "robust_accuracy": {
                    "attacks": {
                        "autoattack-linf": {
                            "name": "autoattack",
                            "norm": "linf",
                            "eps": [0.1],
                            "robust_accuracy": [rob],
                        },
                        "autoattack-l2": {
                            "name": "autoattack",
                            "norm": "l2",
                            "eps": [1.0],
                            "robust_accuracy": [rob + 0.1],
                        },
                    }
                },
                "gaussian_noise": {"variances": [0.01, 0.1], "accuracy": [0.8, 0.7 + 0.01 * seed]},
                "band_noise": {"dct": {"drop": [0.0, 0.0, 0.1, 0.2 + 0.01 * seed]}},
                "lipschitz": {"paper_bound": 100.0 * top, "certified_upper_bound": 10.0},
            }
            if sharpness:
                ev["sharpness"] = {"top_eigenvalue": top, "trace": 10 * top, "trace_stderr": 1.0}
            run.update_summary(
                {
                    "eval": ev,
                    "epochs_done": 2,
                    "test_accuracy": 0.9,
                    "matched": {"epoch": 1, "eval": {k: v for k, v in ev.items() if k != "lipschitz"}},
                }
            )
            run.set_status("completed")
    return root


def test_table_cells_are_means_with_t_intervals_and_dashes_when_missing(tmp_path):
    sweep = zoo.relabel(load_sweep(_store(tmp_path / "s", sharpness=False)))
    header, rows = zoo.table(sweep, "fashion_mnist")
    assert header[:3] == ["optimizer", "seeds", "standard acc. (%)"]
    assert "var 0.1" in header[3] and "eps 1" in header[4] and "eps 25.5/255" in header[5]
    by = {row[0]: dict(zip(header, row)) for row in rows}
    assert set(by) == {"sgd", "adam", "lookahead(adam)"}
    # L-inf robust accuracy of sgd: 60, 61, 62 % -> mean 61, half-width t_{0.975,2} * sd / sqrt(3)
    half = student_t.ppf(0.975, 2) * np.std([60, 61, 62], ddof=1) / math.sqrt(3)
    assert by["sgd"][header[5]] == f"61.00 ± {half:.2f}"
    # high-band drop: mean of the upper half of 4 bands (bands 3, 4): seed 0 -> 15 points
    drop = "high-band noise drop (points, bands 3-4 of 4)"
    assert by["sgd"][drop].startswith("15.50 ± ")
    assert by["sgd"]["Hessian top eigenvalue (geometric mean)"] == zoo.MISSING
    assert by["adam"]["Hessian trace (geometric mean)"] == zoo.MISSING
    # Lipschitz paper_bound of sgd: 100 * 5 * (1, 1.1, 1.2) -> a geometric mean and its log-scale interval
    vals = [100.0 * 5.0 * (1 + 0.1 * s) for s in range(3)]
    iv = log_interval(vals)
    assert by["sgd"]["Lipschitz: paper_bound (geometric mean)"] == f"{gmean(vals):.3g} [{iv.low:.3g}, {iv.high:.3g}]"
    verdict = zoo.verdict_sharper_less_robust(
        zoo.correlation(
            sweep.runs, *[c for c in zoo.columns(sweep, "fashion_mnist") if c.key in ("top_eigenvalue", "robust_linf")]
        )
    )
    assert verdict.label == INCONCLUSIVE and "sharpness evaluation" in verdict.reason


def test_spearman_and_its_bootstrap_interval():
    class R:
        def __init__(self, x, y):
            self.x, self.y, self.optimizer = x, y, "o"

    runs = [R(x, -x + 0.01 * ((7 * x) % 3)) for x in range(12)]
    cx = zoo.Column("x", "x", lambda r: r.x)
    cy = zoo.Column("y", "y", lambda r: r.y)
    corr = zoo.correlation(runs, cx, cy)
    assert corr.rho == pytest.approx(-1.0) and corr.high <= -0.9 and corr.n == 12
    assert zoo.correlation(runs, cx, cy) == corr, "seeded: the same interval every time"
    assert zoo.correlation(runs[:2], cx, cy) is None


@pytest.mark.slow
@pytest.mark.parametrize("sign,expected", [(-1, HOLDS), (1, CONTRADICTED)])
def test_verdict_and_report_under_both_protocols(tmp_path, sign, expected):
    root = _store(tmp_path / "s", sign=sign)
    text = zoo.report([root], tmp_path / "fig", budget="2 epochs of 512 images (test)", plots=True)
    assert text.count(f"**Claim: sharper minima are less robust** (fashion_mnist, final): **{expected}**") == 1
    assert "## fashion_mnist, matched standard accuracy" in text
    matched_table = text.split("## fashion_mnist, matched standard accuracy")[1]
    table = next(part for part in matched_table.split("\n\n") if part.lstrip().startswith("|"))
    assert zoo.MISSING in table, "lipschitz is missing at the matched epoch: shown as —"
    assert (tmp_path / "fig" / "optimizer_zoo.md").exists()
    assert (tmp_path / "fig" / "zoo_final_fashion_mnist_robust_linf_vs_top_eigenvalue.png").exists()
    assert "Budget: 2 epochs of 512 images (test)" in text


# -- issue 20 ----------------------------------------------------------------------------------------------------------


def test_a_cell_never_shows_a_zero_width_interval_from_few_images():
    """The shipped zoo had "60.00 ± 0.00": three seeds with the same accuracy on 25 images.  The cell now carries the
    images' own error (Wilson's interval, checked against scipy), and keeps the seed interval where that is wider."""
    ci = binomtest(15, 25).proportion_ci(confidence_level=0.95, method="wilson")
    half = max(0.6 - ci.low, ci.high - 0.6)
    assert zoo.cell([0.6, 0.6, 0.6], 100) == "60.00 ± 0.00"  # the seeds alone
    assert zoo.cell([0.6, 0.6, 0.6], 100, images=25) == f"60.00 ± {100 * half:.2f}"
    wide = zoo.cell([0.2, 0.6, 1.0], 100, images=10_000)
    assert wide == zoo.cell([0.2, 0.6, 1.0], 100)  # the seed interval is the wider one
    skewed = [5.0, 20.0, 80.0]
    shown = zoo.cell(skewed, log=True, digits=3)
    gm, low, high = (float(v) for v in shown.replace("[", "").replace("]", "").replace(",", "").split())
    iv = log_interval(skewed)
    assert (gm, low, high) == (
        pytest.approx(gmean(skewed), rel=5e-3),
        pytest.approx(iv.low, rel=5e-3),
        pytest.approx(iv.high, rel=5e-3),
    )
    assert 0 < low < gm < high
    assert zoo.cell(skewed).split(" ± ")[0] == "35.00" and float(zoo.cell(skewed).split(" ± ")[1]) > 35  # below 0


def test_the_table_says_on_how_many_images_and_widens_the_cells(tmp_path):
    root = _store(tmp_path / "s", sharpness=False)
    for run_dir in root.iterdir():  # the attacks on 25 images, as shipped
        run = RunDir(run_dir)
        summary = run.summary()
        summary["eval"]["robust_accuracy"]["n"] = 25
        summary["eval"]["robust_accuracy"]["attacks"]["autoattack-linf"]["robust_accuracy"] = [0.6]
        run.update_summary({"eval": summary["eval"]})
    sweep = zoo.relabel(load_sweep(root))
    header, rows = zoo.table(sweep, "fashion_mnist")
    assert "25 images" in header[5]
    by = {row[0]: dict(zip(header, row)) for row in rows}
    assert by["sgd"][header[5]] != "60.00 ± 0.00" and by["sgd"][header[5]].startswith("60.00 ± ")


class _R:
    def __init__(self, x, y, z, optimizer):
        self.x, self.y, self.z, self.optimizer = x, y, z, optimizer


_CX, _CY, _CZ = (zoo.Column(k, k, lambda r, k=k: getattr(r, k)) for k in ("x", "y", "z"))


def _clustered(n_opt=17, seeds=3, seed=0):
    """17 optimizers x 3 seeds whose seeds barely differ: 51 runs, but only 17 independent points."""
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(n_opt):
        x, y = rng.normal(), rng.normal()
        runs += [_R(x + 0.01 * rng.normal(), y + 0.01 * rng.normal(), 0.0, f"opt{k}") for _ in range(seeds)]
    return runs


def test_the_bootstrap_resamples_optimizers_not_runs():
    """An independent cluster bootstrap (scipy's spearmanr on the drawn optimizers' runs, the same draws) gives the
    same interval, and it is wider than resampling the 51 runs as if they were independent."""
    runs = _clustered()
    corr = zoo.correlation(runs, _CX, _CY, samples=500, seed=0)
    assert corr.n == 51 and corr.clusters == 17
    names = sorted({r.optimizer for r in runs})
    members = [[r for r in runs if r.optimizer == n] for n in names]
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(500):
        drawn = [r for k in rng.integers(0, 17, 17) for r in members[k]]
        boot.append(spearmanr([r.x for r in drawn], [r.y for r in drawn]).statistic)
    assert (corr.low, corr.high) == (pytest.approx(np.quantile(boot, 0.025)), pytest.approx(np.quantile(boot, 0.975)))
    rng = np.random.default_rng(0)
    xs, ys = np.array([r.x for r in runs]), np.array([r.y for r in runs])
    naive = []
    for _ in range(500):
        idx = rng.integers(0, 51, 51)
        naive.append(spearmanr(xs[idx], ys[idx]).statistic)
    assert corr.high - corr.low > 1.3 * (np.quantile(naive, 0.975) - np.quantile(naive, 0.025))


def test_partial_spearman_matches_the_residuals_of_the_ranks():
    rng = np.random.default_rng(2)
    z = rng.normal(size=40)
    x, y = z + 0.5 * rng.normal(size=40), z + 0.5 * rng.normal(size=40)
    rx, ry, rz = rankdata(x), rankdata(y), rankdata(z)
    design = np.c_[np.ones(40), rz]
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    assert zoo.partial_spearman(x, y, z) == pytest.approx(np.corrcoef(res_x, res_y)[0, 1], abs=1e-12)


def test_sharpness_that_only_follows_standard_accuracy_is_not_called_less_robust():
    """Robust accuracy and the top eigenvalue both follow standard accuracy (lower accuracy, sharper and less robust):
    the plain rank correlation is strongly negative, the partial one is not, and the verdict follows the partial one."""
    rng = np.random.default_rng(1)
    runs = []
    for k in range(17):
        acc = rng.uniform(0.5, 0.8)
        for _ in range(3):
            a = acc + 0.01 * rng.normal()
            runs.append(_R(100 * (1 - a) + rng.normal(), a - 0.2 + 0.01 * rng.normal(), a, f"opt{k}"))
    corr = zoo.correlation(runs, _CX, _CY, z=_CZ, samples=500)
    assert corr.high < -0.5  # the plain correlation alone would say 'holds'
    assert corr.partial_low < 0 < corr.partial_high
    verdict = zoo.verdict_sharper_less_robust(corr)
    assert verdict.label == INCONCLUSIVE and "partial" in verdict.reason and "17 optimizers" in verdict.reason
