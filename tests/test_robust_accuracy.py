"""Tests of the robust_accuracy evaluation: closed-form robust accuracy and per-image masks on a linear
model, AutoAttack through the evaluation against the package called directly, the paper's default grids,
only-correct-samples attacked, threat-model checks on user attacks, sanity flags, tracker artefacts, the
shipped YAML configs and presets; and the clean evaluation's mask."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from robustopt.attacks import ATTACKS, PAPER_EPS_GRIDS, build_attack, default_eps_grid
from robustopt.bits import decode_mask
from robustopt.errors import ConfigError
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData
from robustopt.evaluation.robust_accuracy import _sanity, evaluate_robust_accuracy, results_table, side_by_side
from tests.conftest import compose

REPO = Path(__file__).resolve().parents[1]
D = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see tests/conftest.py


def linear_problem(n=120, seed=0):
    """A 2-class linear model (numpy weights) and images in [0.3, 0.7] (no box clipping for small eps)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.0, size=(2, D)) * rng.choice([-1.0, 1.0], size=(2, D)) / 8
    b = np.array([0.05, -0.05])
    lin = nn.Linear(D, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
        lin.bias.copy_(torch.from_numpy(b))
    x = rng.uniform(0.3, 0.7, size=(n, D))
    y = rng.integers(0, 2, size=n)
    model = nn.Sequential(nn.Flatten(), lin).eval()
    data = EvalData(torch.from_numpy(x).float().view(n, 1, 1, D), torch.from_numpy(y).long(), "synthetic")
    return model, data, w, b, x.astype(np.float32), y


def closed_form_robust_mask(w, b, x, y, eps, norm):
    """A sample is robust iff its margin exceeds eps times the dual norm of w_y - w_other."""
    diff = w[y] - w[1 - y]
    margin = (diff * x).sum(1) + (b[y] - b[1 - y])
    dual = np.abs(diff).sum(1) if norm == "linf" else np.linalg.norm(diff, axis=1)
    return margin > eps * dual


def closed_form_robust_accuracy(w, b, x, y, eps, norm):
    return float(np.mean(closed_form_robust_mask(w, b, x, y, eps, norm)))


def test_registered():
    assert "robust_accuracy" in EVALUATIONS


def test_linear_model_matches_closed_form():
    model, data, w, b, x, y = linear_problem()
    grids = {"linf": [0.0, 0.02, 0.05, 0.1], "l2": [0.1, 0.3, 0.6]}
    cfg = {
        "attacks": [
            {"name": "fgsm", "norm": "linf"},
            {"name": "pgd", "norm": "linf", "steps": 10},
            {"name": "fgsm", "norm": "l2"},
            {"name": "pgd", "norm": "l2", "steps": 10, "random_start": False},
        ],
        "eps": grids,
    }
    result = evaluate_robust_accuracy(model, data, cfg, EvalContext(batch_size=32))
    assert result["n"] == 120
    assert result["clean_accuracy"] == pytest.approx(closed_form_robust_accuracy(w, b, x, y, 0.0, "linf"), abs=1e-9)
    clean_mask = decode_mask(result["clean_correct"])
    np.testing.assert_array_equal(clean_mask, closed_form_robust_mask(w, b, x, y, 0.0, "linf"))
    for label, c in result["attacks"].items():
        assert c["eps"] == grids[c["norm"]]
        expected = [closed_form_robust_accuracy(w, b, x, y, e, c["norm"]) for e in c["eps"]]
        np.testing.assert_allclose(c["robust_accuracy"], expected, atol=1e-9, err_msg=label)
        assert all(acc <= result["clean_accuracy"] for acc in c["robust_accuracy"])
        assert len(c["correct"]) == len(c["eps"])
        for e, acc, text in zip(c["eps"], c["robust_accuracy"], c["correct"]):
            mask = decode_mask(text)  # per image, over all n images (clean mistakes are wrong)
            np.testing.assert_array_equal(
                mask, closed_form_robust_mask(w, b, x, y, e, c["norm"]), err_msg=f"{label} {e}"
            )
            assert mask.mean() == acc and not (mask & ~clean_mask).any()
    assert 0 < result["attacks"]["pgd-linf"]["robust_accuracy"][-1] < result["clean_accuracy"]  # grid is informative
    sanity = result["sanity"]
    assert sanity["ok"] and sanity["warnings"] == [] and sanity["large_eps"]["linf"]["robust_accuracy"] == 0.0
    assert sanity["large_eps"]["l2"]["eps"] == pytest.approx(math.sqrt(D))
    json.dumps(result)  # plain, JSON-serialisable


def test_paper_grids_are_the_defaults():
    model, data, *_ = linear_problem(n=8)
    data = EvalData(data.x, data.y, "mnist")
    cfg = {
        "attacks": [{"name": "fgsm", "norm": "linf"}, {"name": "fgsm", "norm": "l2"}],
        "eps": {"linf": None, "l2": []},
        "sanity": False,
    }
    result = evaluate_robust_accuracy(model, data, cfg, EvalContext())
    assert result["attacks"]["fgsm-linf"]["eps"] == [0.05, 0.07, 0.1]
    assert result["attacks"]["fgsm-l2"]["eps"] == [0.5, 0.7, 1.0]
    assert default_eps_grid("CIFAR-10", "Linf") == pytest.approx([1 / 255, 2 / 255, 4 / 255])
    assert default_eps_grid("fashion_mnist", "l2") == [0.1, 0.5, 0.7]
    assert default_eps_grid("imagenette", "l2") == [0.5, 1.0, 1.5]
    assert {"mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette", "synthetic"} <= set(
        PAPER_EPS_GRIDS
    )
    with pytest.raises(
        ConfigError, match="no default linf eps grid for data set 'mystery'.*eval.robust_accuracy.eps.linf"
    ):
        evaluate_robust_accuracy(
            model, EvalData(data.x, data.y, "mystery"), {"attacks": [{"name": "fgsm"}]}, EvalContext()
        )


class Spy:
    """A user attack (plain callable) that records what the evaluation hands it."""

    calls: list = []

    def __init__(self, eps, norm="linf", shift=0.0):
        self.eps, self.norm, self.shift = eps, norm, shift

    def __call__(self, model, x, y):
        Spy.calls.append((self.eps, self.norm, x.shape[0]))
        return (x + self.shift).clamp(0, 1)


def test_only_correct_samples_are_attacked_and_target_specs_work():
    model, data, *_ = linear_problem(n=50)
    Spy.calls = []
    cfg = {
        "attacks": [{"_target_": f"{__name__}.Spy", "norm": "l2", "label": "spy"}],
        "eps": {"l2": [0.1, 0.2]},
        "batch_size": 16,
    }
    result = evaluate_robust_accuracy(model, data, cfg, EvalContext())
    n_correct = round(result["clean_accuracy"] * 50)
    assert [c[:2] for c in Spy.calls][:: len(Spy.calls) // 2] == [(0.1, "l2"), (0.2, "l2")]
    assert sum(c[2] for c in Spy.calls) == 2 * n_correct and max(c[2] for c in Spy.calls) <= 16
    assert result["attacks"]["spy"]["robust_accuracy"] == [result["clean_accuracy"]] * 2


def test_attack_leaving_the_ball_is_an_error():
    model, data, *_ = linear_problem(n=10)
    cfg = {"attacks": [{"_target_": f"{__name__}.Spy", "norm": "linf", "shift": 0.2}], "eps": {"linf": [0.1]}}
    with pytest.raises(ConfigError, match="outside its linf eps-ball"):
        evaluate_robust_accuracy(model, data, cfg, EvalContext())


class Rounded(nn.Module):
    """Gradient masking: quantised inputs have zero gradient, so gradient attacks cannot move."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 4) / 4)


def test_gradient_masking_is_flagged_not_hidden():
    model, data, *_ = linear_problem(n=60)
    cfg = {"attacks": [{"name": "fgsm", "norm": "linf"}], "eps": {"linf": [0.05]}, "large_eps_steps": 3}
    with pytest.warns(RuntimeWarning, match="possible gradient masking"):
        result = evaluate_robust_accuracy(Rounded(model), data, cfg, EvalContext())
    assert not result["sanity"]["ok"] and not result["sanity"]["large_eps_to_zero"]
    assert result["sanity"]["large_eps"]["linf"]["robust_accuracy"] > 0.02


def test_sanity_flag_logic():
    curves = {
        "fgsm-linf": {"name": "fgsm", "norm": "linf", "eps": [0.1, 0.2], "robust_accuracy": [0.5, 0.6]},
        "pgd-linf": {"name": "pgd", "norm": "linf", "eps": [0.1, 0.2], "robust_accuracy": [0.55, 0.3]},
        "pgd-l2": {"name": "pgd", "norm": "l2", "eps": [0.1], "robust_accuracy": [0.9]},  # no l2 FGSM to compare
    }
    s = _sanity(curves, {"linf": {"eps": 1.0, "robust_accuracy": 0.0}}, 0.02)
    assert not s["ok"] and not s["monotone_in_eps"] and not s["pgd_not_weaker_than_fgsm"] and s["large_eps_to_zero"]
    assert s["autoattack_not_weaker_than_pgd"] is None  # no AutoAttack curve: nothing compared, not "true"
    assert len(s["warnings"]) == 2
    assert any("fgsm-linf: robust accuracy rises" in w for w in s["warnings"])
    assert any("pgd-linf is weaker than fgsm-linf at eps=0.1" in w for w in s["warnings"])


def test_autoattack_above_pgd_is_flagged():
    """A stronger attack must not do worse: AutoAttack above PGD at the same eps and norm is a warning."""
    curves = {
        "pgd-l2": {"name": "pgd", "norm": "l2", "eps": [0.1, 0.2, 0.3], "robust_accuracy": [0.6, 0.4, 0.2]},
        "autoattack-l2": {"name": "autoattack", "norm": "l2", "eps": [0.1, 0.3], "robust_accuracy": [0.55, 0.25]},
        "autoattack-linf": {
            "name": "autoattack",
            "norm": "linf",
            "eps": [0.1],
            "robust_accuracy": [0.9],
        },  # no PGD-linf
    }
    s = _sanity(curves, {}, 0.02)
    assert s["autoattack_not_weaker_than_pgd"] is False and s["pgd_not_weaker_than_fgsm"] is None  # no FGSM ran
    assert not s["ok"] and s["monotone_in_eps"]
    assert s["warnings"] == [
        "autoattack-l2 is weaker than pgd-l2 at eps=0.3 (0.2500 > 0.2000; possible gradient masking)"
    ]
    curves["autoattack-l2"]["robust_accuracy"] = [0.6, 0.2]  # equal is fine
    assert _sanity(curves, {}, 0.02)["ok"]


def test_a_comparison_flag_is_none_when_an_attack_did_not_run():
    """Issue 20: the shipped Fashion-MNIST runs ran PGD and FGSM only, yet read autoattack_not_weaker_than_pgd: true;
    the zoo ran AutoAttack only, yet read pgd_not_weaker_than_fgsm: true.  A flag that compared nothing is None."""
    pgd_only = {
        "fgsm-linf": {"name": "fgsm", "norm": "linf", "eps": [0.01], "robust_accuracy": [0.81]},
        "pgd-linf": {"name": "pgd", "norm": "linf", "eps": [0.01], "robust_accuracy": [0.80]},
    }
    s = _sanity(pgd_only, {}, 0.02)
    assert s["autoattack_not_weaker_than_pgd"] is None and s["pgd_not_weaker_than_fgsm"] is True and s["ok"]
    aa_only = {"autoattack-linf": {"name": "autoattack", "norm": "linf", "eps": [0.05], "robust_accuracy": [0.44]}}
    s = _sanity(aa_only, {}, 0.02)
    assert s["autoattack_not_weaker_than_pgd"] is None and s["pgd_not_weaker_than_fgsm"] is None
    # both ran, but at different eps or norms: still nothing compared
    apart = {
        **pgd_only,
        "autoattack-linf": {"name": "autoattack", "norm": "linf", "eps": [0.03], "robust_accuracy": [0.5]},
        "autoattack-l2": {"name": "autoattack", "norm": "l2", "eps": [0.01], "robust_accuracy": [0.9]},
    }
    assert _sanity(apart, {}, 0.02)["autoattack_not_weaker_than_pgd"] is None
    json.dumps(s)


def direct_apgd_ce(model, x, y, norm, eps, seed):
    """pyautoattack called directly (custom version: APGD-CE only) on all images: per-image correctness."""
    from pyautoattack import AutoAttack as PackageAutoAttack

    adversary = PackageAutoAttack(
        model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, version="custom", attacks=["apgd-ce"], seed=seed
    )
    adversary.verbose = False
    with torch.random.fork_rng():
        _, y_adv = adversary.run_standard_evaluation(x, y, batch_size=x.shape[0])
    return (y_adv == y).numpy()


def test_autoattack_through_the_evaluation_equals_the_package():
    """The evaluation runs the real AutoAttack on the correctly classified images only, seeded with the
    evaluation's seed, and its accuracy (over all n images) and per-image mask equal the package's own call
    on all n images; on a 2-class linear model both equal the closed-form worst case.  (APGD-CE alone, so
    that survivors stay cheap; the standard ensemble is compared with the package in test_attacks.py.)"""
    model, data, w, b, x, y = linear_problem(n=60)
    grids = {"linf": [0.02, 0.05], "l2": [0.3]}
    aa = {"name": "autoattack", "version": "custom", "attacks": ["apgd-ce"]}
    cfg = {
        "attacks": [{"name": "pgd", "norm": "linf", "steps": 10}, {**aa, "norm": "linf"}, {**aa, "norm": "l2"}],
        "eps": grids,
        "large_eps_steps": 3,
    }
    result = evaluate_robust_accuracy(model, data, cfg, EvalContext(seed=7))
    clean = decode_mask(result["clean_correct"])
    assert 0 < clean.sum() < 60  # some images are wrong before any attack
    for label in ("autoattack-linf", "autoattack-l2"):
        c = result["attacks"][label]
        assert c["eps"] == grids[c["norm"]]
        for e, acc, text in zip(c["eps"], c["robust_accuracy"], c["correct"]):
            expected = direct_apgd_ce(model, data.x, data.y, c["norm"], e, seed=7)
            np.testing.assert_array_equal(decode_mask(text), expected, err_msg=f"{label} {e}")
            np.testing.assert_array_equal(expected, closed_form_robust_mask(w, b, x, y, e, c["norm"]))
            assert acc == expected.mean()
        assert 0 < c["robust_accuracy"][-1] < clean.mean()  # the test's grid is informative
    assert result["sanity"]["autoattack_not_weaker_than_pgd"] and result["sanity"]["ok"]
    json.dumps(result)


def test_clean_evaluation_records_its_mask():
    from robustopt.evaluation.clean import evaluate_clean

    model, data, w, b, x, y = linear_problem(n=50)
    result = evaluate_clean(model, data, {"n_samples": 40}, EvalContext(batch_size=16))
    mask = decode_mask(result["correct"])
    np.testing.assert_array_equal(mask, closed_form_robust_mask(w, b, x, y, 0.0, "linf")[:40])
    logits = x[:40] @ w.T + b
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert result["n"] == 40 and result["accuracy"] == mask.mean()
    assert result["loss"] == pytest.approx(-log_softmax[np.arange(40), y[:40]].mean(), rel=1e-5)
    robust = evaluate_robust_accuracy(model, data, {"n_samples": 40, "attacks": [], "sanity": False}, EvalContext())
    assert robust["clean_correct"] == result["correct"]  # the same images, the same mask


class FakeTracker:
    def __init__(self):
        self.tables, self.figures = [], []

    def log_table(self, key, columns, rows):
        self.tables.append((key, columns, rows))

    def log_figure(self, key, fig):
        self.figures.append((key, fig))


def test_c2_end_to_end_with_tracker_and_determinism():
    from matplotlib.figure import Figure

    from robustopt.models import build_model

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model("c2", 1, 10, 28).eval()
        x = torch.rand(24, 1, 28, 28)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:4] = (y[:4] + 1) % 10  # a few wrong ones
    data = EvalData(x, y, "mnist")
    cfg = {
        "n_samples": 20,
        "attacks": [
            {"name": "fgsm", "norm": "linf"},
            {"name": "pgd", "norm": "linf", "steps": 3},
            {"name": "pgd", "norm": "l2", "steps": 3},
        ],
        "large_eps_steps": 3,
    }
    tracker = FakeTracker()
    rng = torch.get_rng_state()
    first = evaluate_robust_accuracy(model, data, cfg, EvalContext(batch_size=8, tracker=tracker))
    second = evaluate_robust_accuracy(model, data, cfg, EvalContext(batch_size=8))
    assert torch.equal(torch.get_rng_state(), rng)
    assert first["n"] == 20 and first["clean_accuracy"] == pytest.approx(16 / 20)
    assert {k: v["robust_accuracy"] for k, v in first["attacks"].items()} == {
        k: v["robust_accuracy"] for k, v in second["attacks"].items()
    }
    assert first["attacks"]["pgd-l2"]["eps"] == [0.5, 0.7, 1.0]
    [(key, columns, rows)] = tracker.tables
    assert key == "robust_accuracy/table" and columns[:5] == ["attack", "name", "norm", "eps", "robust_accuracy"]
    assert len(rows) == 9 and rows == results_table(first)[1]
    [(fkey, fig)] = tracker.figures
    assert fkey == "robust_accuracy/vs_eps" and isinstance(fig, Figure) and len(fig.axes) == 2
    table = side_by_side({"sgd": first, "adam": second}).splitlines()
    assert table[0].split()[-2:] == ["sgd", "adam"] and table[2].split()[:1] == ["clean"]
    assert table[3].split()[:2] == ["fgsm-linf", "0.05"] and len(table) == 2 + 1 + 9


def test_single_attack_option_and_bad_options():
    model, data, *_ = linear_problem(n=10)
    result = evaluate_robust_accuracy(
        model, data, {"attack": {"name": "fgsm", "norm": "l2"}, "eps": {"l2": [0.1]}, "sanity": False}, EvalContext()
    )
    assert list(result["attacks"]) == ["fgsm-l2"]
    with pytest.raises(
        ConfigError, match="evaluation 'robust_accuracy' has no option\\(s\\) epz; its options are: n_samples"
    ):
        evaluate_robust_accuracy(model, data, {"epz": 1}, EvalContext())
    with pytest.raises(ConfigError, match="unknown attack 'pgdd'"):
        evaluate_robust_accuracy(model, data, {"attacks": [{"name": "pgdd"}]}, EvalContext())
    with pytest.raises(ConfigError, match="eps values must be numbers >= 0"):
        evaluate_robust_accuracy(model, data, {"attacks": [{"name": "fgsm", "eps": [-1]}]}, EvalContext())


def test_plugins_option_imports_a_user_file(tmp_path):
    plugin = tmp_path / "noop_attack.py"
    plugin.write_text(
        "from robustopt.attacks import register_attack\n"
        "@register_attack('test_noop')\n"
        "def noop(eps, norm='linf'):\n"
        "    return lambda model, x, y: x.clone()\n"
    )
    model, data, *_ = linear_problem(n=10)
    try:
        cfg = {"plugins": [str(plugin)], "attacks": [{"name": "test_noop"}], "eps": {"linf": [0.1]}, "sanity": False}
        result = evaluate_robust_accuracy(model, data, cfg, EvalContext())
        evaluate_robust_accuracy(model, data, cfg, EvalContext())  # importing twice is harmless
    finally:
        ATTACKS.unregister("test_noop")
    assert result["attacks"]["test_noop-linf"]["robust_accuracy"] == [result["clean_accuracy"]]


def test_shipped_configs_are_valid():
    from omegaconf import OmegaConf

    ra = compose("train", [])["eval"]["robust_accuracy"]  # conf/eval/robust_accuracy.yaml: the evaluation's DEFAULTS
    assert (REPO / "conf/eval/robust_accuracy.yaml").read_text().startswith("# @package eval.robust_accuracy")
    assert ra["n_samples"] == 1000
    assert {(s["name"], s["norm"], s.get("steps")) for s in ra["attacks"]} >= {("pgd", "linf", 100), ("pgd", "l2", 100)}
    model, data, *_ = linear_problem(n=6)
    small = {
        **ra,
        "attacks": [{**s, "steps": 2} if s["name"] == "pgd" else s for s in ra["attacks"]],
        "large_eps_steps": 2,
    }
    result = evaluate_robust_accuracy(model, data, small, EvalContext())
    assert set(result["attacks"]) == {"fgsm-linf", "pgd-linf", "fgsm-l2", "pgd-l2"}
    shipped = subprocess.run(
        ["git", "ls-files", "conf/attack"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    paths = [REPO / p for p in shipped] or sorted(
        (REPO / "conf/attack").glob("*.yaml")
    )  # a user's own files are not shipped
    for path in paths:
        assert path.read_text().startswith("# @package eval.robust_accuracy.attack"), path.name
        spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        attack = build_attack(spec, eps=0.1)
        assert attack.norm == spec["norm"], path.name
    specs = {p.stem: OmegaConf.to_container(OmegaConf.load(p)) for p in (REPO / "conf/attack").glob("autoattack*.yaml")}
    assert {k: (v["name"], v["norm"], v["version"]) for k, v in specs.items()} == {
        "autoattack": ("autoattack", "linf", "standard"),
        "autoattack_linf": ("autoattack", "linf", "standard"),
        "autoattack_l2": ("autoattack", "l2", "standard"),
    }


def test_hydra_attack_group_composes():
    """``attack=<name>`` selects conf/attack/<name>.yaml into eval.robust_accuracy.attack."""
    cfg = compose("evaluate", ["run_dir=x", "attack=pgd_l2"])
    assert cfg["eval"]["robust_accuracy"]["attack"]["norm"] == "l2"
    assert cfg["eval"]["robust_accuracy"]["n_samples"] == 1000


@pytest.mark.parametrize(
    "dataset", ["mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette"]
)
def test_paper_presets_evaluate_autoattack_next_to_pgd(dataset):
    """Every paper_* preset runs robust_accuracy with standard AutoAttack and PGD-100 for both norms on the first
    1000 test images, over the paper's grid (eps left to the data set's default)."""
    cfg = compose("train", [f"experiment=paper_{dataset}"])
    assert "robust_accuracy" in cfg["evaluations"]
    ra = cfg["eval"]["robust_accuracy"]
    assert ra["n_samples"] == 1000 and not ra["eps"]["linf"] and not ra["eps"]["l2"]
    kinds = {(a["name"], a["norm"], a.get("version"), a.get("steps")) for a in ra["attacks"]}
    for norm in ("linf", "l2"):
        assert ("autoattack", norm, "standard", None) in kinds and ("pgd", norm, None, 100) in kinds
    assert PAPER_EPS_GRIDS[dataset] and cfg["dataset"]["name"] == dataset
