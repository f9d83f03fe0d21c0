"""The optimizer-zoo table, correlations and verdict on a synthetic results store (paper_figures/optimizer_zoo.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from paper_figures import optimizer_zoo as zoo
from paper_figures.common import load_sweep
from robustopt.rundir import RunDir
from robustopt.stats import CONTRADICTED, HOLDS, INCONCLUSIVE

OPTS = {  # label -> optimizer config, base robust L-inf accuracy, base top eigenvalue
    "sgd": ({"name": "sgd", "lr": 0.01}, 0.60, 5.0),
    "adam": ({"name": "adam", "lr": 1e-3}, 0.40, 50.0),
    "lookahead(adam)": ({"name": "lookahead", "base": {"name": "adam", "lr": 1e-3}, "k": 5}, 0.50, 20.0),
}


def _store(root, sign=-1, sharpness=True):
    for label, (opt, robust, eig) in OPTS.items():
        for seed in range(3):
            run = RunDir(root / f"{label}-{seed}")
            run.write_config({"dataset": {"name": "fashion_mnist"}, "model": {"name": "c2"}, "seed": seed,
                              "optimizer": opt, "epochs": 2})
            rob = robust + 0.01 * seed
            top = eig * (1 + 0.1 * seed) if sign < 0 else 1000 * rob
            ev = {
                "clean": {"accuracy": 0.9 + 0.001 * seed},
                "robust_accuracy": {"attacks": {
                    "autoattack-linf": {"name": "autoattack", "norm": "linf", "eps": [0.1], "robust_accuracy": [rob]},
                    "autoattack-l2": {"name": "autoattack", "norm": "l2", "eps": [1.0], "robust_accuracy": [rob + 0.1]},
                }},
                "gaussian_noise": {"variances": [0.01, 0.1], "accuracy": [0.8, 0.7 + 0.01 * seed]},
                "band_noise": {"dct": {"drop": [0.0, 0.0, 0.1, 0.2 + 0.01 * seed]}},
                "lipschitz": {"paper_bound": 100.0 * top, "certified_upper_bound": 10.0},
            }
            if sharpness:
                ev["sharpness"] = {"top_eigenvalue": top, "trace": 10 * top, "trace_stderr": 1.0}
            run.update_summary({"eval": ev, "epochs_done": 2, "test_accuracy": 0.9,
                                "matched": {"epoch": 1, "eval": {k: v for k, v in ev.items() if k != "lipschitz"}}})
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
    assert by["sgd"]["high-band noise drop (points)"].startswith("15.50 ± ")
    assert by["sgd"]["Hessian top eigenvalue"] == zoo.MISSING and by["adam"]["Hessian trace"] == zoo.MISSING
    verdict = zoo.verdict_sharper_less_robust(
        zoo.correlation(sweep.runs, *[c for c in zoo.columns(sweep, "fashion_mnist") if c.key in ("top_eigenvalue", "robust_linf")]))
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
    assert zoo.MISSING in matched_table.split("\n\n")[1], "lipschitz is missing at the matched epoch: shown as —"
    assert (tmp_path / "fig" / "optimizer_zoo.md").exists()
    assert (tmp_path / "fig" / "zoo_final_fashion_mnist_robust_linf_vs_top_eigenvalue.png").exists()
    assert "Budget: 2 epochs of 512 images (test)" in text
