"""paper_figures/: every figure and caption on small hand-made results stores, and the report's all-or-nothing rule.

The stores are written by hand with the files the pipeline writes (config.yaml, meta.json, summary.json with the
evaluations' result formats, per-image outcome masks from :mod:`robustopt.bits`), from outcomes drawn here, so the
expected numbers are computed here with numpy / scipy, independently of the code under test.  The slow test
produces a store by really training and evaluating on the synthetic data set, which guards against drift between
the pipeline's result formats and what the figures read.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from paper_figures import band_noise, figure1, figure2, linear_theory, report, table1
from paper_figures.figure1_data import figure1_setting
from paper_figures.wandb_log import log_images_to_wandb
from robustopt.bits import encode_mask
from robustopt.errors import MissingResultsError
from robustopt.rundir import RunDir
from robustopt.tracking.store import Run, Sweep, load_sweep
from tests.conftest import clean_env

REPO = Path(__file__).resolve().parents[1]

N = 200  # images of the per-image outcomes
OPTS = ("sgd", "adam", "rmsprop")
SEEDS = (0, 1, 2)
VARIANCES = [0.001, 0.005, 0.01]
EPS = {"l2": [0.1, 0.3, 0.5], "linf": [1 / 255, 2 / 255, 4 / 255]}
# Per optimizer: accuracies at the Figure-1 sizes (largest variance, smallest eps), the paper's pattern (same
# standard accuracy, SGD more robust, adaptive methods hurt by the high bands).
PROFILE = {
    "sgd": {"clean": 0.90, "gauss": 0.84, "l2": 0.82, "linf": 0.66, "high": 0.01, "lip": 124.0},
    "adam": {"clean": 0.91, "gauss": 0.78, "l2": 0.70, "linf": 0.54, "high": 0.20, "lip": 5e5},
    "rmsprop": {"clean": 0.905, "gauss": 0.79, "l2": 0.72, "linf": 0.62, "high": 0.10, "lip": 1e4},
}
# Lipschitz quantities per optimizer (seed s multiplies them by 1 + 0.1 s)
LIP = {
    "sgd": {"paper": 42.0, "norms": 102.0, "upper": 124.0, "lower": 4.0},
    "adam": {"paper": 2.1e5, "norms": 4.5e5, "upper": 5e5, "lower": 25.0},
    "rmsprop": {"paper": 3150.0, "norms": 8500.0, "upper": 1e4, "lower": 11.0},
}
T975_DF2 = 0.95 / np.sqrt(
    2 * 0.975 * 0.025
)  # Student-t 97.5% quantile, 2 degrees of freedom (three seeds), closed form


def outcomes(opt: str, seed: int, profile: dict = PROFILE) -> dict:
    """Per-image outcomes of one run: clean, per variance, per (norm, eps) -- each perturbed mask within the clean
    one."""
    rng = np.random.default_rng([seed, OPTS.index(opt), 7])
    p = profile[opt]
    clean = rng.random(N) < p["clean"]

    def under(acc):
        return clean & (rng.random(N) < acc / p["clean"])

    gauss = [under(min(p["clean"], p["gauss"] + 0.03 * (len(VARIANCES) - 1 - k))) for k in range(len(VARIANCES))]
    attacks = {norm: [under(p[norm] * 0.8**k) for k in range(3)] for norm in ("l2", "linf")}
    return {"clean": clean, "gauss": gauss, "attacks": attacks}


def _summary(opt: str, seed: int, profile: dict = PROFILE, masks: bool = True, dataset: str = "fashion_mnist") -> dict:
    o, p = outcomes(opt, seed, profile), profile[opt]
    clean_acc = float(o["clean"].mean())
    gauss = {
        "variances": VARIANCES,
        "accuracy": [float(m.mean()) for m in o["gauss"]],
        "clean_accuracy": clean_acc,
        "n": N,
    }
    attacks = {}
    for norm in ("l2", "linf"):
        curve = {
            "name": "autoattack",
            "norm": norm,
            "eps": EPS[norm],
            "robust_accuracy": [float(m.mean()) for m in o["attacks"][norm]],
        }
        if masks:
            curve["correct"] = [encode_mask(m) for m in o["attacks"][norm]]
        attacks[f"autoattack-{norm}"] = curve
        # a weaker attack, stored too: Figure 1 must take AutoAttack
        attacks[f"pgd-{norm}"] = {
            "name": "pgd",
            "norm": norm,
            "eps": EPS[norm],
            "robust_accuracy": [min(1.0, a + 0.05) for a in curve["robust_accuracy"]],
        }
    robust = {"dataset": dataset, "n": N, "clean_accuracy": clean_acc, "attacks": attacks}
    if masks:
        gauss["correct"] = [encode_mask(m) for m in o["gauss"]]
        gauss["clean_correct"] = robust["clean_correct"] = encode_mask(o["clean"])
    drops = [0.3, 0.2, 0.1, 0.05, 0.02] + [p["high"] + 0.01 * seed] * 5
    rows = cols = [-4, -2, 0, 2]
    grid = [
        [
            min(
                1.0,
                1 - clean_acc + 0.05 * (abs(r) + abs(c)) / 4 + (0.2 if opt != "sgd" else 0.0) * (abs(r) + abs(c)) / 8,
            )
            for c in cols
        ]
        for r in rows
    ]
    return {
        "test_accuracy": clean_acc,
        "test_loss": 0.3,
        "epochs_done": 200,
        "status": "completed",
        "eval": {
            "clean": {"accuracy": clean_acc, "loss": 0.3, "n": N},
            "gaussian_noise": gauss,
            "robust_accuracy": robust,
            "band_noise": {
                "variance": 0.1,
                "clean_accuracy": clean_acc,
                "n": 500,
                **{
                    b: {"drop": drops, "drop_stderr": [None] * 10, "noisy_accuracy": [clean_acc - d for d in drops]}
                    for b in ("dct", "fft")
                },
            },
            "fourier_heatmap": {
                "error": grid,
                "rows": rows,
                "cols": cols,
                "clean_error": 1 - clean_acc,
                "eps": 4.0,
                "stride": 2,
                "n": N,
            },
            "lipschitz": {
                "paper_bound": LIP[opt]["paper"] * (1 + 0.1 * seed),
                "operator_norm_product": LIP[opt]["norms"] * (1 + 0.1 * seed),
                "certified_upper_bound": LIP[opt]["upper"] * (1 + 0.1 * seed),
                "empirical_lower_bound": LIP[opt]["lower"] * (1 + 0.1 * seed),
            },
        },
    }


def write_run(path: Path, config: dict, summary: dict, status: str = "completed") -> RunDir:
    """A run directory with the files experiments/train.py writes."""
    run = RunDir(path)
    run.write_config(config)
    run.update_meta(status=status, seed=config.get("seed"))
    run.update_summary(summary)
    run.write_metrics([{"epoch": 1, "test_accuracy": summary.get("test_accuracy")}])
    return run


def _config(opt: str, seed: int, dataset: str = "fashion_mnist", **extra) -> dict:
    lr = {"sgd": 0.01, "adam": 5e-4, "rmsprop": 5e-5}[opt]
    return {
        "seed": seed,
        "epochs": 200,
        "experiment_name": "reproduce_quick",
        "dataset": {"name": dataset},
        "model": {"name": "c2"},
        "optimizer": {"name": opt, "lr": lr},
        **extra,
    }


def write_sweep(root: Path, profile: dict = PROFILE, masks: bool = True, seeds=SEEDS) -> Path:
    for opt in OPTS:
        for s in seeds:
            write_run(root / f"optimizer-{opt}_seed-{s}", _config(opt, s), _summary(opt, s, profile, masks))
    return root


IRR_ACC = {
    ("none", 1.0): [0.90, 0.91],
    ("high_frequency", 0.9): [0.90, 0.905],
    ("high_frequency", 0.5): [0.895, 0.90],
    ("high_frequency", 0.1): [0.70, 0.72],
    ("low_energy", 0.9): [0.90, 0.90],
    ("low_energy", 0.5): [0.86, 0.87],
    ("low_energy", 0.1): [0.50, 0.55],
}


def write_irrelevant_freq(root: Path, accs: dict = IRR_ACC) -> Path:
    for (name, keep), per_seed in accs.items():
        for seed, acc in enumerate(per_seed):
            filt = {"name": None if name == "none" else name, "keep_fraction": keep}
            write_run(
                root / f"{name}-keep{keep}" / f"seed{seed}",
                _config("sgd", seed, data_filter=filt),
                {"test_accuracy": acc},
            )
    return root


def write_linear_theory(
    path: Path, adam_standard: float = 1e-12, variances=(0.0, 1e-4, 1e-3), eps=(0.5, 1.0, 2.0), gd_final: float = 124.9
) -> Path:
    """A linear-theory run directory as experiments/linear_theory.py writes it, with chosen numbers."""
    run = RunDir(path)
    run.write_config({"experiment_name": "linear_theory_quick"})
    run.update_meta(status="completed")
    steps = [0, 10, 100, 1000]
    key = "1.41421"
    final = {
        "gd": {"standard_risk": 4e-8, "adversarial_risk": {key: gd_final}, "weight_norm": 11.18},
        "signgd": {"standard_risk": 6.6e-6, "adversarial_risk": {key: 143.2}, "weight_norm": 11.96},
        "adam": {"standard_risk": adam_standard, "adversarial_risk": {key: 145.7}, "weight_norm": 12.07},
    }
    irrelevant_final = {"gd": 0.02, "signgd": 4.14, "adam": 4.55}
    traj = {
        "steps": steps,
        "lr": 0.1,
        "n_steps": 1000,
        "w0_tilde": [0.01, -0.01, 0.02],
        "gradient": "population",
        "model": {"sigma_tilde": [0.1, 0.05, 0.0], "w_star_tilde": [5.0, 10.0, 0.0], "noise_std": 0.0},
        "optimizers": {
            n: {
                "abs_error_tilde": [
                    [4.99, 10.01, 0.02],
                    [3.0, 8.0, 0.02 + (irrelevant_final[n] - 0.02) / 2],
                    [1.0, 2.0, irrelevant_final[n]],
                    [1e-4, 1e-3, irrelevant_final[n]],
                ],
                "standard_risk": [0.25, 0.1, 0.01, f["standard_risk"]],
                "adversarial_risk": {key: [0.5, 40.0, 100.0, f["adversarial_risk"][key]]},
            }
            for n, f in final.items()
        },
    }
    (path / "trajectories_population.json").write_text(json.dumps(traj))
    ratio = [[1.15 - 0.05 * i + 0.01 * j for j in range(len(eps))] for i in range(len(variances))]
    (path / "surface.json").write_text(
        json.dumps(
            {
                "eps": list(eps),
                "variances": list(variances),
                "ratio": {"signgd": ratio},
                "reference": "gd",
                "irrelevant_index": 2,
                "n_steps": 1000,
                "gradient": "population",
            }
        )
    )
    run.update_summary(
        {
            "n_steps": 1000,
            "lr": 0.1,
            "eps": [math.sqrt(2)],
            "initial_standard_risk": 0.25,
            "final": {"population": final},
            "gd_limit": {"adversarial_risk": {key: 125.0}},
            "status": "completed",
        }
    )
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("store")
    sweep = write_sweep(root / "multiruns" / "reproduce_quick")
    write_run(sweep / "optimizer-sgd_seed-9", _config("sgd", 9), {}, status="running")  # left out: not completed
    irr = write_irrelevant_freq(root / "multiruns" / "irrelevant_freq")
    lt = write_linear_theory(root / "runs" / "linear_theory_quick" / "default")
    return {"root": root, "sweep": sweep, "irr": irr, "lt": lt}


def _check_png(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.exists() and path.stat().st_size > 10_000, path
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 500
    assert float(np.std(img[..., :3])) > 0.05  # not a blank canvas
    assert path.with_suffix(".pdf").stat().st_size > 5_000


def _ci(values) -> float:
    """Half-width of the 95% Student-t interval of the mean, by hand."""
    v = np.asarray(values, dtype=float)
    return float(st.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def _by_gid(fig, gid: str):
    found = [a for ax in fig.axes for a in [*ax.lines, *ax.images, *ax.collections] if a.get_gid() == gid]
    assert len(found) == 1, (gid, len(found))
    return found[0]


# -- the figure scripts ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_figure_scripts_write_images(store, tmp_path):
    out = tmp_path / "figs"
    assert figure1.main([str(store["sweep"]), "--out", str(out)]) == 0
    assert band_noise.main([str(store["sweep"]), "--out", str(out)]) == 0
    assert figure2.main([str(store["irr"]), "--out", str(out)]) == 0
    assert table1.main([str(store["sweep"]), "--out", str(out)]) == 0
    assert linear_theory.main([str(store["lt"]), "--out", str(out / "lt")]) == 0
    for name in ("figure1", "robustness_curves", "band_noise", "fourier_heatmaps", "figure2"):
        _check_png(out / f"{name}.png")
    for name in ("weight_error_population", "risks_population", "weight_norms", "risk_ratio_heatmap"):
        assert (out / "lt" / f"{name}.png").stat().st_size > 10_000
    assert not (out / "lt" / "risk_ratio_surface.png").exists()  # no 3-D surface over categorical variances
    md, tex = (out / "table1.md").read_text(), (out / "table1.tex").read_text()
    # each quantity named in its header, in this order
    header = md.splitlines()[0]
    names = (
        "paper's quantity: reshaped-kernel product (authors' code)",
        "product of exact layer operator norms",
        "certified upper bound",
        "empirical lower bound",
    )
    assert [header.index(n) for n in names] == sorted(header.index(n) for n in names)

    # geometric mean [95% interval] over the three seeds, on the log scale (issue 20: a symmetric t-interval of a
    # positive skewed quantity reached below zero); t quantile in closed form
    def cell(base):
        logs = np.log(base * np.array([1.0, 1.1, 1.2]))
        hw = T975_DF2 * logs.std(ddof=1) / np.sqrt(3)
        gm, lo, hi = np.exp(logs.mean()), np.exp(logs.mean() - hw), np.exp(logs.mean() + hw)
        assert lo > 0
        return f"{gm:.3g} [{lo:.3g}, {hi:.3g}]"

    sgd = [LIP["sgd"][k] for k in ("paper", "norms", "upper", "lower")]
    assert "| Fashion-MNIST | SGD | 3 | " + " | ".join(cell(v) for v in sgd) + " |" in md
    assert r"\begin{tabular}" in tex and "geometric mean [95\\% interval]" in tex and "t-interval" not in tex


def test_figure1_takes_the_smallest_eps_the_largest_variance_and_autoattack(store):
    sweep = load_sweep(store["sweep"])
    assert len(sweep.runs) == 9 and len(sweep.incomplete) == 1
    s = figure1_setting(sweep, "fashion_mnist")
    assert (s.variance, s.eps_l2, s.eps_linf, s.attack_l2, s.attack_linf, s.n_images) == (
        0.01,
        0.1,
        1 / 255,
        "autoattack",
        "autoattack",
        N,
    )
    fig = figure1.figure1(sweep, {"fashion_mnist": s}, {})
    for opt in OPTS:
        masks = [outcomes(opt, seed) for seed in SEEDS]
        x = [m["attacks"]["linf"][0].mean() for m in masks]
        y = [m["clean"].mean() for m in masks]
        line = _by_gid(fig, f"ours:fashion_mnist:linf:{opt}")
        assert line.get_xdata()[0] == pytest.approx(100 * np.mean(x)) and line.get_ydata()[0] == pytest.approx(
            100 * np.mean(y)
        )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Gaussian noise, variance 0.01", "L2 AutoAttack, ε = 0.1", "L∞ AutoAttack, ε = 1/255"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def _same_image_runs(masks: bool) -> Sweep:
    """Runs whose stored whole-test-set accuracies differ from their outcomes on the first N images."""
    runs = []
    for opt, (clean_first, gauss_first) in {"sgd": (0.80, 0.70), "adam": (0.85, 0.50)}.items():
        for seed in (0, 1):
            rng = np.random.default_rng([seed, len(opt)])
            clean = np.r_[
                rng.random(N) < clean_first + 0.02 * seed, np.ones(9 * N, bool)
            ]  # whole test set: 10 N images
            gauss = np.r_[clean[:N] & (rng.random(N) < gauss_first / clean_first), np.ones(9 * N, bool)]
            attacked = {norm: clean[:N] & (rng.random(N) < 0.6) for norm in ("l2", "linf")}
            g = {"variances": [0.01], "accuracy": [float(gauss.mean())], "n": 10 * N}
            ra = {
                "n": N,
                "clean_accuracy": float(clean[:N].mean()),
                "attacks": {
                    f"autoattack-{norm}": {
                        "name": "autoattack",
                        "norm": norm,
                        "eps": [0.5],
                        "robust_accuracy": [float(m.mean())],
                    }
                    for norm, m in attacked.items()
                },
            }
            if masks:
                g["correct"], g["clean_correct"] = [encode_mask(gauss)], encode_mask(clean)
                ra["clean_correct"] = encode_mask(clean[:N])
                for norm, m in attacked.items():
                    ra["attacks"][f"autoattack-{norm}"]["correct"] = [encode_mask(m)]
            summ = {
                "test_accuracy": float(clean.mean()),
                "eval": {
                    "clean": {"accuracy": float(clean.mean()), "n": 10 * N},
                    "gaussian_noise": g,
                    "robust_accuracy": ra,
                },
            }
            cfg = _config(opt, seed)
            runs.append(Run(Path(f"/x/{opt}{seed}"), "fashion_mnist", opt, seed, cfg, summ, "completed"))
            runs[-1].masks = {"clean": clean, "gauss": gauss, **attacked}
    return Sweep([Path("/x")], runs)


def test_figure1_x_and_y_come_from_the_same_images():
    """Each panel's two coordinates on the same images: the noise (evaluated on all 10 N images) beside the standard
    accuracy on those 10 N, the attacks (on the first N) beside the standard accuracy on the first N (issue 20: a
    standard accuracy on 10,000 images was plotted against attacks on 1,000)."""
    import matplotlib.pyplot as plt

    sweep = _same_image_runs(masks=True)
    setting = figure1_setting(sweep, "fashion_mnist")
    assert (setting.n_images, setting.n_noise) == (N, 10 * N)
    fig = figure1.figure1(sweep, {"fashion_mnist": setting}, {})
    for opt in ("sgd", "adam"):
        runs = sweep.select("fashion_mnist", opt)
        y_first = np.mean([r.masks["clean"][:N].mean() for r in runs])
        x_first = np.mean([r.masks["gauss"][:N].mean() for r in runs])
        y_whole = np.mean([r.masks["clean"].mean() for r in runs])
        x_whole = np.mean([r.masks["gauss"].mean() for r in runs])
        assert abs(y_first - y_whole) > 0.05 and abs(x_first - x_whole) > 0.05  # the store would show the difference
        line = _by_gid(fig, f"ours:fashion_mnist:gaussian_noise:{opt}")  # every image the noise was evaluated on
        assert line.get_xdata()[0] == pytest.approx(100 * x_whole) and line.get_ydata()[0] == pytest.approx(
            100 * y_whole
        )
        for norm in ("l2", "linf"):
            attacked = _by_gid(fig, f"ours:fashion_mnist:{norm}:{opt}")  # the attacks' first N images, both coordinates
            assert attacked.get_xdata()[0] == pytest.approx(100 * np.mean([r.masks[norm].mean() for r in runs]))
            assert attacked.get_ydata()[0] == pytest.approx(100 * y_first)
    title = fig._suptitle.get_text()
    assert f"first {10 * N} test images" in title and f"attacks and theirs on the first {N}" in title, title
    plt.close(fig)

    # without the per-image outcomes: the stored accuracies, each beside its evaluation's own clean accuracy
    sweep = _same_image_runs(masks=False)
    setting = figure1_setting(sweep, "fashion_mnist")
    assert (setting.n_images, setting.n_noise) == (None, None)
    fig = figure1.figure1(sweep, {"fashion_mnist": setting}, {})
    runs = sweep.select("fashion_mnist", "adam")
    line = _by_gid(fig, "ours:fashion_mnist:gaussian_noise:adam")
    assert line.get_ydata()[0] == pytest.approx(100 * np.mean([r.masks["clean"].mean() for r in runs]))
    assert line.get_xdata()[0] == pytest.approx(100 * np.mean([r.masks["gauss"].mean() for r in runs]))
    attacked = _by_gid(fig, "ours:fashion_mnist:l2:adam")  # robust_accuracy's own clean accuracy, on its N images
    assert attacked.get_ydata()[0] == pytest.approx(100 * np.mean([r.masks["clean"][:N].mean() for r in runs]))
    assert "per-image outcomes not stored" in fig._suptitle.get_text()
    plt.close(fig)


def test_figure1_error_bars_are_95_percent_intervals_and_paper_points_are_open(store):
    import matplotlib.pyplot as plt

    sweep = load_sweep(store["sweep"])
    ref = {"fashion_mnist": {"standard": {"sgd": 91.2, "adam": 91.0}, "l2": {"sgd": 82.3, "adam": 70.3}}}
    fig = figure1.figure1(sweep, None, ref)
    ax = fig.axes[1]
    masks = [outcomes("sgd", s) for s in SEEDS]
    x = [100 * m["attacks"]["l2"][0].mean() for m in masks]
    caps = [
        ln
        for ln in ax.lines
        if ln.get_marker() == "|" and np.allclose(ln.get_ydata(), 100 * np.mean([m["clean"].mean() for m in masks]))
    ]
    # the horizontal error bar's caps sit at mean ± the t-interval half-width
    xs = sorted(float(v) for ln in caps for v in ln.get_xdata())
    assert xs[0] == pytest.approx(np.mean(x) - _ci(x)) and xs[-1] == pytest.approx(np.mean(x) + _ci(x))
    paper = _by_gid(fig, "paper:fashion_mnist:l2:sgd")
    assert (paper.get_xdata()[0], paper.get_ydata()[0]) == (82.3, 91.2) and paper.get_markerfacecolor() == "none"
    assert paper.get_marker() == "*" and _by_gid(fig, "paper:fashion_mnist:l2:adam").get_marker() == "o"
    plt.close(fig)


def test_robustness_curves_have_every_attack_and_a_band_over_seeds(store):
    import matplotlib.pyplot as plt

    sweep = load_sweep(store["sweep"])
    fig = figure1.curves_figure(sweep)
    titles = {ax.get_title() for ax in fig.axes}
    assert titles == {"Gaussian noise", "L2 AutoAttack", "L2 PGD", "L∞ AutoAttack", "L∞ PGD"}
    line = _by_gid(fig, "curve:fashion_mnist:l2:autoattack:adam")
    masks = [outcomes("adam", s) for s in SEEDS]
    expected = [np.mean([m["clean"].mean() for m in masks])] + [
        np.mean([m["attacks"]["l2"][k].mean() for m in masks]) for k in range(3)
    ]
    assert list(line.get_xdata()) == [0.0] + EPS["l2"] and np.allclose(line.get_ydata(), 100 * np.array(expected))
    band = _by_gid(fig, "curve-interval:fashion_mnist:l2:autoattack:adam")
    l2 = [100 * m["attacks"]["l2"][2].mean() for m in masks]
    top = max(p[1] for path in band.get_paths() for p in path.vertices if abs(p[0] - EPS["l2"][2]) < 1e-12)
    assert top == pytest.approx(np.mean(l2) + _ci(l2))  # the band is the 95% interval over seeds
    plt.close(fig)


# -- band noise and the Fourier heat maps --------------------------------------------------------------------


def test_fourier_heatmap_shows_error_minus_clean_error():
    import matplotlib.pyplot as plt

    rows = cols = [-2, 0, 2]
    runs = []
    # SGD: higher clean error but a smaller increase; Adam: lower clean error, larger raw error in places
    spec = {"sgd": (0.20, [[0.25, 0.22, 0.30]] * 3), "adam": (0.05, [[0.20, 0.06, 0.40]] * 3)}
    for opt, (clean_error, err) in spec.items():
        for seed in (0, 1):
            e = (np.asarray(err) + 0.01 * seed).tolist()
            res = {
                "error": e,
                "rows": rows,
                "cols": cols,
                "clean_error": clean_error + 0.01 * seed,
                "eps": 4.0,
                "stride": 2,
                "n": 100,
            }
            runs.append(
                Run(
                    Path(f"/x/{opt}{seed}"),
                    "cifar10",
                    opt,
                    seed,
                    _config(opt, seed, "cifar10"),
                    {"test_accuracy": 0.5, "eval": {"fourier_heatmap": res}},
                    "completed",
                )
            )
    sweep = Sweep([Path("/x")], runs)
    fig = band_noise.fourier_heatmap_figure(sweep)
    for opt, (clean_error, err) in spec.items():
        shown = np.asarray(_by_gid(fig, f"heatmap:cifar10:{opt}").get_array())
        assert np.allclose(shown, 100 * (np.asarray(err) - clean_error))  # the seeds' +0.01 cancel
    assert any("clean error" in ax.get_ylabel() for ax in fig.axes)  # the colour bar says what is shown
    plt.close(fig)
    text = band_noise.fourier_heatmap_caption(sweep)
    assert (
        "SGD: clean error 20.5%, increase 5.7 on average and 10.0 at most" in text
    )  # (0.05 + 0.02 + 0.10) / 3, 0.30 - 0.20
    assert "Adam: clean error 5.5%, increase 17.0 on average and 35.0 at most" in text


def test_band_noise_bands_are_95_percent_intervals(store):
    import matplotlib.pyplot as plt

    sweep = load_sweep(store["sweep"])
    fig = band_noise.band_noise_figure(sweep)
    line = _by_gid(fig, "band:fashion_mnist:dct:adam")
    high = [PROFILE["adam"]["high"] + 0.01 * s for s in SEEDS]
    assert line.get_ydata()[-1] == pytest.approx(100 * np.mean(high))
    band = _by_gid(fig, "band-interval:fashion_mnist:dct:adam")
    top = max(p[1] for path in band.get_paths() for p in path.vertices if p[0] == 10)  # the last band
    assert top == pytest.approx(100 * (np.mean(high) + _ci(high)))
    plt.close(fig)


# -- Figure 2 ---------------------------------------------------------------------------------------------------


def _irr_rows(accs: dict, dataset: str = "fashion_mnist") -> list[dict]:
    return [
        {
            "dataset": dataset,
            "filter": name,
            "removed_percent": round(100 * (1 - keep)),
            "optimizer": "sgd",
            "seed": s,
            "test_accuracy": a,
        }
        for (name, keep), per in accs.items()
        for s, a in enumerate(per)
    ]


@pytest.mark.parametrize("dataset, chance", [("fashion_mnist", 10.0), ("cifar100", 1.0)])
def test_figure2_y_range_includes_chance_level(dataset, chance):
    import matplotlib.pyplot as plt

    fig = figure2.figure2(_irr_rows(IRR_ACC, dataset))
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo <= chance and hi >= 100 and lo >= 0
    assert any(np.allclose(ln.get_ydata(), chance) for ln in ax.lines)  # the chance line is drawn
    base = IRR_ACC[("none", 1.0)]
    bars = [c for c in ax.containers if len(c.lines) > 2 and c.lines[2]]
    assert bars  # error bars: the 95% interval of the unfiltered point (x = 0)
    segs = [s for c in bars for col in c.lines[2] for s in col.get_segments() if s[0][0] == 0]
    assert segs and abs(segs[0][1][1] - segs[0][0][1]) == pytest.approx(2 * 100 * _ci(base))
    plt.close(fig)


# -- captions are computed from the numbers --------------------------------------------------------------------


def test_captions_change_with_the_numbers(tmp_path):
    other = {o: dict(p) for o, p in PROFILE.items()}
    other["adam"].update(high=0.4)
    a = load_sweep(write_sweep(tmp_path / "a"))
    b = load_sweep(write_sweep(tmp_path / "b", other))
    ca, cb = band_noise.band_noise_caption(a), band_noise.band_noise_caption(b)
    assert ca != cb
    high = [100 * (PROFILE["adam"]["high"] + 0.01 * s) for s in SEEDS]
    assert f"Adam {np.mean(high):.1f} ± {_ci(high):.1f}" in ca and "bands 6-10" in ca and "3 seeds" in ca
    assert f"Adam {100 * (0.4 + 0.01):.1f} ± " in cb
    # the heat map and curves captions follow the store, too
    b2 = load_sweep(write_sweep(tmp_path / "c", masks=False, seeds=(0,)))
    assert band_noise.fourier_heatmap_caption(a) != band_noise.fourier_heatmap_caption(b2)
    assert "1 seed" in figure1.curves_caption(b2) and "(3 seeds" in figure1.curves_caption(a)
    assert "none (one seed: no interval)" in figure1.curves_caption(b2)

    # Figure 2
    rows = _irr_rows(IRR_ACC)
    text = figure2.caption(rows)
    base = [100 * v for v in IRR_ACC[("none", 1.0)]]
    assert (
        f"unfiltered {np.mean(base):.1f} ± {_ci(base):.1f}%" in text
        and "2 seeds" in text
        and "chance level 10%" in text
    )
    assert "90% removed 71.0 ± 12.7 (-19.5)" in text  # (0.70, 0.72): t(1) * 1.414 / sqrt(2) = 12.7
    worse = {**IRR_ACC, ("none", 1.0): [0.80, 0.81]}
    assert figure2.caption(_irr_rows(worse)) != text and "unfiltered 80.5" in figure2.caption(_irr_rows(worse))


def test_linear_theory_captions_follow_the_numbers(tmp_path):
    good = linear_theory.captions(write_linear_theory(tmp_path / "good"))
    slow = linear_theory.captions(write_linear_theory(tmp_path / "slow", adam_standard=0.01, gd_final=100.0))
    assert set(good) == {"weight_error_population", "risks_population", "weight_norms", "risk_ratio_heatmap"}
    assert (
        "every method is below it" in good["risks_population"] and "0.001 of it is 0.00025" in good["risks_population"]
    )
    assert "not below it: Adam" in slow["risks_population"] and "Adam 0.01" in slow["risks_population"]
    assert "GD ends 0.08% from it (converged)" in good["risks_population"]
    assert "GD ends 20% from it (not converged" in slow["risks_population"]
    assert "Larger than GD's (and its limit): Adam and signGD" in good["risks_population"]
    assert "initial error 0.02, final GD 0.02, Adam 4.55, signGD 4.14" in good["weight_error_population"]
    assert "Unchanged for GD; Adam and signGD moved it" in good["weight_error_population"]
    # the risk ratio: a heat map only, on any grid -- the variances are categories, between which a 3-D surface would
    # draw meaningless slopes
    assert "the gap shrinks" in good["risk_ratio_heatmap"] and "9 of 9 cells" in good["risk_ratio_heatmap"]
    small = tmp_path / "small"
    write_linear_theory(small, variances=(0.0, 1e-3))
    text = linear_theory.captions(small)
    assert "risk_ratio_surface" not in text and "3-D" not in text["risk_ratio_heatmap"]
    paths = linear_theory.make_figures(small, tmp_path / "figs")
    names = {p.stem for p in paths}
    assert "risk_ratio_heatmap" in names and "risk_ratio_surface" not in names
    assert "risk_ratio_surface" not in {
        p.stem for p in linear_theory.make_figures(tmp_path / "good", tmp_path / "figs_good")
    }
    md = (tmp_path / "figs" / "linear_theory.md").read_text()
    assert "3-D" not in md and "All methods reach about zero" not in md


# -- the report --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_report_with_every_part(store, tmp_path):
    out = tmp_path / "report"
    assert (
        report.main(
            [
                "--sweep",
                str(store["sweep"]),
                "--irrelevant-freq",
                str(store["irr"]),
                "--linear-theory",
                str(store["lt"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = (out / "report.md").read_text()
    assert "PARTIAL" not in text and "## Missing results" not in text and "## Verdicts" in text
    for name in (
        "figure1",
        "robustness_curves",
        "figure2",
        "band_noise",
        "fourier_heatmaps",
        "linear_theory/risks_population",
    ):
        assert f"figures/{name}.png" in text and (out / "figures" / f"{name}.png").exists()
    # our mean ± 95% interval (on the same images) beside the paper's value
    g = [100 * outcomes("sgd", s)["gauss"][-1].mean() for s in SEEDS]
    line = next(ln for ln in text.splitlines() if ln.startswith("| Fashion-MNIST | Gaussian noise"))
    assert f"| {np.mean(g):.1f} ± {_ci(g):.1f} | 84.4 |" in line
    # captions computed from the numbers are in the report
    assert band_noise.band_noise_caption(load_sweep(store["sweep"])) in text
    assert linear_theory.captions(store["lt"])["risks_population"] in text


@pytest.mark.slow
def test_report_with_a_missing_part_writes_nothing_unless_partial(store, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["--sweep", str(store["sweep"]), "--irrelevant-freq", str(store["irr"]), "--out", str(out)]
    assert report.main(args) == 2
    err = capsys.readouterr().err
    assert "Linear theory" in err and "experiments/linear_theory.py" in err and "--allow-partial" in err
    assert not out.exists()  # nothing written, not even the figures of the parts that exist

    assert report.main(args + ["--allow-partial"]) == 0
    head = (out / "report.md").read_text().splitlines()[:4]
    assert any("PARTIAL" in line for line in head), head
    text = (out / "report.md").read_text()
    assert "## Missing results" in text and "Linear theory" in text[text.index("## Missing results") :]
    assert (out / "figures" / "figure1.png").exists()


def test_missing_results_name_the_piece_and_the_command(store, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert figure1.main([str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no run directories" in err and "experiments/train.py -m" in err

    assert figure1.main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err

    partial = tmp_path / "partial"
    for opt in ("sgd", "adam"):
        summ = _summary(opt, 0)
        if opt == "adam":
            del summ["eval"]["band_noise"]
        write_run(partial / f"optimizer-{opt}_seed-0", _config(opt, 0), summ)
    assert band_noise.main([str(partial), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "'band_noise' is missing from 1 of 2 runs" in err and "optimizer-adam_seed-0" in err
    assert f"experiments/evaluate.py run_dir={partial / 'optimizer-adam_seed-0'} evaluations=[band_noise]" in err
    assert band_noise.main([str(partial), "--out", str(tmp_path / "o"), "--allow-partial"]) == 0  # draws SGD alone
    capsys.readouterr()

    assert figure1.main([str(store["sweep"]), "--eps-linf", "0.5"]) == 2  # not in the stored grid
    assert "L-inf eps 0.5 is not stored" in capsys.readouterr().err

    only_base = tmp_path / "irr"
    write_run(
        only_base / "none-keep1.0" / "default",
        _config("sgd", 0, data_filter={"name": None, "keep_fraction": 1.0}),
        {"test_accuracy": 0.9},
    )
    assert figure2.main([str(only_base)]) == 2
    assert "only the baseline is complete" in capsys.readouterr().err

    assert report.main(["--sweep", str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "no run directories" in capsys.readouterr().err


# -- packaging, style, W&B ---------------------------------------------------------------------------------------

# table1.py is edited elsewhere; remove it from here once its sys.path preamble is gone
PREAMBLE_PENDING: set[str] = set()


def test_no_script_edits_sys_path_and_the_package_is_installed():
    for path in sorted((REPO / "paper_figures").glob("*.py")):
        if path.name not in PREAMBLE_PENDING:
            assert "sys.path" not in path.read_text(), path.name
    text = (REPO / "pyproject.toml").read_text()
    assert 'include = ["robustopt*", "paper_figures*"]' in text and '"paper_reference.json"' in text


@pytest.mark.slow
def test_scripts_run_by_path_and_as_modules(store, tmp_path):
    """``python paper_figures/x.py`` (scripts/reproduce.sh, the README) and ``python -m paper_figures.x``, from any
    folder."""
    env = clean_env(
        MPLBACKEND="Agg"
    )  # paper_figures comes from the installed package (pip install -e .), not from sys.path edits
    by_path = subprocess.run(
        [sys.executable, str(REPO / "paper_figures" / "figure2.py"), str(store["irr"]), "--out", str(tmp_path / "a")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert by_path.returncode == 0, by_path.stderr[-2000:]
    as_module = subprocess.run(
        [sys.executable, "-m", "paper_figures.report", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert as_module.returncode == 0 and "--allow-partial" in as_module.stdout
    assert (tmp_path / "a" / "figure2.png").exists()


@pytest.mark.slow
def test_log_images_to_wandb_offline(tmp_path, monkeypatch):
    import wandb

    from tests.wandb_offline import read_offline_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    png = tmp_path / "figs" / "figure2.png"
    figure2.savefig(figure2.figure2(_irr_rows(IRR_ACC)), png.with_suffix(""))
    try:
        run_dir = log_images_to_wandb([png, png.with_suffix(".pdf")], name="test", dir=tmp_path)
    finally:
        wandb.teardown()
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    assert run_dir == path.parent
    logged = read_offline_run(path)
    assert logged["run"]["job_type"] == "figures"
    (row,) = [r for r in logged["history"] if "figure2/_type" in r]
    assert row["figure2/_type"] == "image-file" and row["figure2/format"] == "png" and "figure2.pdf" not in str(logged)
    assert (path.parent / "files" / row["figure2/path"]).stat().st_size > 10_000  # the image itself is in the run


def test_style_gives_one_colour_and_marker_per_optimizer_and_the_papers_dataset_colours():
    from paper_figures import style

    colours = [style.color(o) for o in ("sgd", "adam", "rmsprop", "adamw", "adagrad", "signsgd")]
    assert len(set(colours)) == len(colours) and style.color("SGD") == style.color("sgd")
    assert (style.marker("sgd"), style.marker("adam"), style.marker("rmsprop")) == ("*", "o", "D")  # the blog post
    assert style.dataset_color("cifar10") == "#2ca02c" and len(set(style.DATASET_COLORS.values())) == len(
        style.DATASET_COLORS
    )


@pytest.mark.slow
def test_reproduce_script_rejects_unknown_target():
    res = subprocess.run(
        ["bash", str(REPO / "scripts" / "reproduce.sh"), "nope"], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 2 and "usage: scripts/reproduce.sh quick|fashion-mnist|paper" in res.stderr


@pytest.mark.slow
def test_report_on_a_really_trained_store(tmp_path):
    """Train SGD and Adam for one epoch on the synthetic set, run every evaluation, then draw the report."""
    env = clean_env(ROBUSTOPT_OUTPUT_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    args = [
        "-m",
        "dataset=synthetic",
        "epochs=1",
        "optimizer=sgd,adam",
        "seed=0",
        "logger=none",
        "progress=false",
        "scheduler=constant",
        "experiment_name=pf",
        "evaluations=[clean,robust_accuracy,gaussian_noise,band_noise,fourier_heatmap]",
        "eval.robust_accuracy.n_samples=32",
        "eval.robust_accuracy.attacks=[{name: fgsm, norm: linf},{name: fgsm, norm: l2}]",
        "eval.robust_accuracy.sanity=false",
        "eval.band_noise.n_samples=64",
        "eval.band_noise.n_bands=4",
        "eval.fourier_heatmap.n_samples=32",
        "eval.fourier_heatmap.stride=8",
        "hydra.sweep.subdir=${optimizer.name}",
    ]
    res = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "train.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    sweep = tmp_path / "multiruns" / "pf"
    path, missing, written, claims = report.build_report([str(sweep)], tmp_path / "report", allow_partial=True)
    text = path.read_text()
    assert "PARTIAL" in text.splitlines()[2]
    for opt in ("sgd", "adam"):
        summ = json.loads((sweep / opt / "summary.json").read_text())
        acc = summ["eval"]["robust_accuracy"]["attacks"]["fgsm-l2"]["robust_accuracy"][0]  # the smallest eps, one seed
        assert f"| {100 * acc:.1f} |" in text
    assert all(("Table 1" in m or "Figure 2" in m or "Linear theory" in m) for m in missing)
    for name in ("figure1", "robustness_curves", "band_noise", "fourier_heatmaps"):
        _check_png(tmp_path / "report" / "figures" / f"{name}.png")


@pytest.mark.slow
def test_runs_still_training_are_read_under_the_matched_protocol_only(tmp_path):
    """A store of runs still training that were evaluated at matched accuracy (evaluate.py in_progress=true): the
    report reads them under the matched protocol, says they are unfinished, and never as final-epoch results."""
    root = tmp_path / "in_progress"
    for opt in ("sgd", "adam"):
        done = _summary(opt, 0)
        summary = {
            "epochs_done": 85,
            "matched": {
                "epoch": 40 if opt == "sgd" else 4,
                "target_accuracy": 0.88,
                "test_accuracy_at_epoch": done["test_accuracy"],
                "run_status": "running",
                "epochs_done": 85,
                "epochs": 200,
                "eval": done["eval"],
            },
        }
        write_run(root / f"optimizer-{opt}_seed-0", _config(opt, 0), summary, status="running")
    with pytest.raises(MissingResultsError, match="no completed run"):
        load_sweep(root)
    sweep = load_sweep(root, require_completed=False)
    assert sweep.runs == [] and [r.optimizer for r in sweep.in_progress] == ["sgd", "adam"]
    matched = load_sweep(root, protocol="matched")
    assert [(r.optimizer, r.epoch) for r in matched.runs] == [("sgd", 40), ("adam", 4)]
    out = tmp_path / "report"
    assert report.main(["--sweep", str(root), "--out", str(out), "--allow-partial"]) == 0
    text = (out / "report.md").read_text()
    assert "Runs still training, evaluated at matched accuracy only" in text and "epoch 85 of 200 done" in text
    assert "**final**" not in text and "**matched**" in text  # evaluated under: the matched protocol only
    assert "(the paper's protocol)" not in text.split("## Verdicts")[1].split("##")[0]


def test_band_noise_title_names_the_band_definition_stored(store):
    sweep = load_sweep(store["sweep"])
    assert band_noise.band_definition(sweep) == "bands of equal numbers of coefficients by radius"
    for run in sweep.runs:
        run.summary = {
            **run.summary,
            "eval": {**run.summary["eval"], "band_noise": {**run.summary["eval"]["band_noise"], "edges": "paper"}},
        }
    assert "authors' 10 bands" in band_noise.band_definition(sweep)
