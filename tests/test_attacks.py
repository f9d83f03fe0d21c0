"""Tests of robustopt.attacks: closed-form worst cases, threat-model membership, invariances,
determinism, errors, the registry, the AutoAttack adapter (against the real package) and the extension
example of docs/plugins.md."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from robustopt.attacks import ATTACKS, FGSM, PGD, build_attack, register_attack
from robustopt.attacks.base import margin_objective
from robustopt.errors import ConfigError, DataError, DependencyError
from robustopt.models import build_model

REPO = Path(__file__).resolve().parents[1]
D = 48  # features of the linear test model


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see tests/conftest.py


def dist(a, b, norm):
    return (a - b).flatten(1).norm(p=float("inf") if norm == "linf" else 2, dim=1)


def linear_model(seed=0, d=D, classes=2):
    """Flatten + Linear with weights drawn in numpy: entries of +-[0.5, 1] (no zeros, no ties)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.0, size=(classes, d)) * rng.choice([-1.0, 1.0], size=(classes, d))
    b = rng.normal(size=classes) * 0.1
    lin = nn.Linear(d, classes)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
        lin.bias.copy_(torch.from_numpy(b))
    return nn.Sequential(nn.Flatten(), lin), w, b


def middle_images(n, seed=1, d=D):
    """Images in [0.3, 0.7]: small eps never hits the [0, 1] box."""
    g = torch.Generator().manual_seed(seed)
    return 0.3 + 0.4 * torch.rand(n, 1, 1, d, generator=g)


@pytest.fixture(scope="module")
def c2():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model("c2", 1, 10, 28)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(3)
    return torch.rand(6, 1, 28, 28, generator=g), torch.randint(0, 10, (6,), generator=g)


# --- closed-form worst case on a linear model -------------------------------------------------


def closed_form_delta(w, y, eps, norm):
    """Worst case for a 2-class linear model: move against w_y - w_other (numpy, independent)."""
    diff = w[y] - w[1 - y]  # (n, d)
    if norm == "linf":
        return -eps * np.sign(diff)
    return -eps * diff / np.linalg.norm(diff, axis=1, keepdims=True)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
@pytest.mark.parametrize("make", ["fgsm", "pgd", "pgd_margin", "pgd_targeted", "pgd_restarts"])
def test_linear_model_closed_form(norm, eps, make):
    model, w, _ = linear_model()
    x = middle_images(16)
    y = torch.arange(16) % 2
    target = None
    if make == "fgsm":
        attack = FGSM(eps=eps, norm=norm)
    elif make == "pgd":  # L-inf from a random start still saturates at the corner; L2 needs a clean start
        attack = PGD(eps=eps, steps=10, norm=norm, random_start=(norm == "linf"))
    elif make == "pgd_margin":
        attack = PGD(eps=eps, steps=10, norm=norm, loss="margin", random_start=False)
    elif make == "pgd_targeted":
        attack, target = PGD(eps=eps, steps=10, norm=norm, targeted=True, random_start=False), 1 - y
    else:
        attack = (
            PGD(eps=eps, steps=20, norm=norm, restarts=3)
            if norm == "linf"
            else PGD(eps=eps, steps=10, norm=norm, random_start=False)
        )
    x_adv = attack(model, x, y, target=target)
    expected = x.flatten(1).double().numpy() + closed_form_delta(w, y.numpy(), eps, norm)
    np.testing.assert_allclose(x_adv.flatten(1).double().numpy(), expected, atol=1e-5)


def test_linear_model_linf_with_box_clipping():
    """With eps large enough to hit [0, 1], the L-inf worst case is clip(x - eps sign(diff), 0, 1)."""
    model, w, _ = linear_model(seed=4)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(12, 1, 1, D, generator=g)
    y = torch.arange(12) % 2
    x_adv = PGD(eps=0.3, steps=20, norm="linf")(model, x, y)
    expected = np.clip(x.flatten(1).double().numpy() + closed_form_delta(w, y.numpy(), 0.3, "linf"), 0, 1)
    np.testing.assert_allclose(x_adv.flatten(1).double().numpy(), expected, atol=1e-5)


def test_margin_objective_matches_numpy():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(7, 5, generator=g), torch.randint(0, 5, (7,), generator=g)
    z, yy = logits.numpy(), y.numpy()
    others = np.array([np.max(np.delete(z[i], yy[i])) for i in range(7)])
    np.testing.assert_allclose(margin_objective(logits, y, False).numpy(), others - z[np.arange(7), yy], rtol=1e-6)
    np.testing.assert_allclose(margin_objective(logits, y, True).numpy(), z[np.arange(7), yy] - others, rtol=1e-6)


# --- threat-model membership, batching, per-sample eps -----------------------------------------


@pytest.mark.parametrize("norm,eps", [("linf", 0.03), ("linf", 0.3), ("l2", 0.5), ("l2", 3.0)])
def test_adversarial_examples_in_ball_and_box(c2, images, norm, eps):
    x, y = images
    for attack in (FGSM(eps=eps, norm=norm), PGD(eps=eps, steps=3, norm=norm, restarts=2)):
        x_adv = attack(c2, x, y)
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
        assert (dist(x_adv, x, norm) <= eps + 1e-6).all()
        assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 1.0)])
def test_batch_equals_single_sample_runs(c2, images, norm, eps):
    x, y = images
    attack = PGD(eps=eps, steps=4, norm=norm, random_start=False)
    batch = attack(c2, x, y)
    singles = torch.cat([attack(c2, x[i : i + 1], y[i : i + 1]) for i in range(x.shape[0])])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_per_sample_eps_tensor(c2, images, norm):
    x, y = images
    small, large = (0.02, 0.06) if norm == "linf" else (0.3, 1.0)
    eps = torch.tensor([small, large] * 3)
    out = PGD(eps=eps, steps=3, norm=norm, random_start=False)(c2, x, y)
    for value in (small, large):
        mask = eps == value
        ref = PGD(eps=value, steps=3, norm=norm, random_start=False)(c2, x[mask], y[mask])
        torch.testing.assert_close(out[mask], ref, atol=1e-5, rtol=0)
        assert (dist(out[mask], x[mask], norm) <= value + 1e-6).all()
    # a constant tensor is the scalar, random start included (same generator stream)
    const = PGD(eps=torch.full((6,), large), steps=3, norm=norm)(c2, x, y)
    torch.testing.assert_close(const, PGD(eps=large, steps=3, norm=norm)(c2, x, y), atol=1e-6, rtol=0)


def test_eps_zero_returns_input(c2, images):
    x, y = images
    for attack in (FGSM(eps=0.0), PGD(eps=0, norm="l2"), PGD(eps=torch.zeros(6), steps=2)):
        assert torch.equal(attack(c2, x, y), x)


def test_restarts_never_worse_than_one_start(c2, images):
    x, y = images
    one = PGD(eps=0.02, steps=2, seed=3)(c2, x, y)
    many = PGD(eps=0.02, steps=2, seed=3, restarts=4)(c2, x, y)
    with torch.no_grad():
        lo, lm = c2(one), c2(many)
    fooled_one, fooled_many = lo.argmax(1) != y, lm.argmax(1) != y
    assert (fooled_many >= fooled_one).all()
    ce = nn.functional.cross_entropy
    keep = ~fooled_one & ~fooled_many
    assert (ce(lm, y, reduction="none")[keep] >= ce(lo, y, reduction="none")[keep] - 1e-6).all()


def test_targeted_reaches_target_with_large_eps():
    model, _, _ = linear_model(seed=2, classes=10)
    x, y = middle_images(10), torch.zeros(10, dtype=torch.long)
    target = torch.arange(10)
    x_adv = PGD(eps=1.0, steps=20, targeted=True)(model, x, y, target=target)
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(1), target)


# --- invariances -------------------------------------------------------------------------------


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.bn(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("attack", [FGSM(eps=0.1), PGD(eps=0.1, steps=3, restarts=2), PGD(eps=1.0, steps=2, norm="l2")])
def test_attack_leaves_everything_as_found(attack):
    torch.manual_seed(11)
    model = BNNet().train()
    model.conv.bias.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    x = torch.rand(5, 1, 8, 8, requires_grad=True)
    x_copy, y = x.detach().clone(), torch.tensor([0, 1, 2, 0, 1])
    rng = torch.get_rng_state()
    x_adv = attack(model, x, y)
    assert torch.equal(torch.get_rng_state(), rng), "global RNG touched"
    assert torch.equal(x.detach(), x_copy) and x.grad is None and x.requires_grad
    assert model.training and all(m.training for m in model.modules())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters()), "parameter gradients were computed"
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n]), f"buffer {n} changed"
    assert not x_adv.requires_grad
    model.eval()  # ... and an eval-mode model stays in eval mode, also under no_grad
    with torch.no_grad():
        attack(model, x_copy, y)
    assert not model.training


def test_deterministic_given_seed(c2, images):
    x, y = images
    a = PGD(eps=0.05, steps=2, seed=7)
    first, second = a(c2, x, y), a(c2, x, y)
    assert torch.equal(first, second)
    assert torch.equal(first, PGD(eps=0.05, steps=2, seed=7)(c2, x, y))
    assert not torch.equal(first, PGD(eps=0.05, steps=2, seed=8)(c2, x, y))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(a(c2, x, y, generator=g1), a(c2, x, y, generator=g2))


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eps": -0.1}, "eps must be"),
        ({"eps": float("nan")}, "eps must be"),
        ({"eps": 0.1, "norm": "l3"}, "unknown norm 'l3'; use one of: linf, l2"),
        ({"eps": 0.1, "steps": 0}, "steps must be an integer >= 1"),
        ({"eps": 0.1, "steps": 2.5}, "steps must be an integer"),
        ({"eps": 0.1, "loss": "hinge"}, "unknown attack loss 'hinge'"),
        ({"eps": 0.1, "restarts": 3, "random_start": False}, "restarts > 1 needs random_start=True"),
        ({"eps": 0.1, "alpha": 0.0}, "alpha"),
    ],
)
def test_bad_options_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        PGD(**kwargs)


def test_bad_inputs_raise_clear_errors(c2, images):
    x, y = images
    with pytest.raises(DataError, match=r"in \[0, 1\]"):
        PGD(eps=0.1)(c2, x * 255, y)
    with pytest.raises(DataError, match="float images"):
        PGD(eps=0.1)(c2, (x * 255).to(torch.uint8), y)
    with pytest.raises(DataError, match="one label per image"):
        PGD(eps=0.1)(c2, x, y[:3])
    with pytest.raises(ConfigError, match="pass target="):
        PGD(eps=0.1, targeted=True)(c2, x, y)
    with pytest.raises(ConfigError, match="one value per image"):
        PGD(eps=torch.full((3,), 0.1))(c2, x, y)
    with pytest.raises(ConfigError, match="eps must be >= 0 for every sample"):
        PGD(eps=torch.tensor([0.1, -0.1, 0, 0, 0, 0]))(c2, x, y)


# --- registry ----------------------------------------------------------------------------------


def test_registry_and_build_attack():
    assert {"fgsm", "pgd", "autoattack"} <= set(ATTACKS.names())
    a = build_attack({"name": "pgd", "norm": "L2", "steps": 7}, eps=0.5)
    assert isinstance(a, PGD) and a.norm == "l2" and a.steps == 7 and a.eps == 0.5
    assert isinstance(build_attack({"_target_": "robustopt.attacks.fgsm.FGSM", "eps": 0.1}), FGSM)
    with pytest.raises(
        ConfigError, match="unknown attack 'pdg'.*known attacks: autoattack, fgsm, pgd.*Did you mean 'pgd'"
    ):
        build_attack("pdg", eps=0.1)
    with pytest.raises(
        ConfigError, match="attack 'pgd' has no option\\(s\\) stepz; its options are: eps, alpha, steps"
    ):
        build_attack({"name": "pgd", "stepz": 3}, eps=0.1)
    with pytest.raises(ConfigError, match="needs option\\(s\\) eps"):
        build_attack("fgsm")


def test_register_attack_decorator_and_duplicates():
    @register_attack("test_identity")
    def identity(eps, norm="linf"):
        return lambda model, x, y: x.clone()

    try:
        assert build_attack("test_identity", eps=0.1)(
            None, torch.zeros(1, 1), torch.zeros(1, dtype=torch.long)
        ).shape == (1, 1)
        with pytest.raises(ConfigError, match="already registered"):
            register_attack("test_identity")(lambda eps: None)
    finally:
        ATTACKS.unregister("test_identity")


# --- AutoAttack adapter (the real pyautoattack package) -----------------------------------------


def direct_autoattack(model, x, y, norm, eps, seed, verbose=False):
    """The package called as the authors do (their ``test_AA``), with an explicit seed: ``(x_adv, y_adv)``."""
    from pyautoattack import AutoAttack as PackageAutoAttack

    adversary = PackageAutoAttack(
        model, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, version="standard", seed=seed
    )
    adversary.verbose = verbose
    with torch.random.fork_rng():
        return adversary.run_standard_evaluation(x, y, batch_size=x.shape[0])


def check_adapter_equals_package(model, x, y, norm, eps, seed=5, x_ref=None):
    """The adapter's x_adv is bitwise the package's (``x_ref``, computed when not given), and the caller's
    RNG and model come back untouched."""
    if x_ref is None:
        x_ref, _ = direct_autoattack(model, x, y, norm, eps, seed)
    model.zero_grad(set_to_none=True)  # the bare package's FAB leaves parameter gradients; the adapter must not
    attack = build_attack({"name": "autoattack", "norm": norm, "version": "standard"}, eps=eps, seed=seed)
    torch.manual_seed(123)
    np.random.seed(9)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    x_adv = attack(model, x, y)
    assert torch.equal(torch.get_rng_state(), torch_state), "AutoAttack's reseeding leaked into the global RNG"
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert torch.equal(x_adv, x_ref)
    assert (dist(x_adv, x, norm) <= eps * (1 + 1e-5) + 1e-6).all() and 0 <= x_adv.min() and x_adv.max() <= 1
    return x_adv


@pytest.mark.parametrize("norm,eps", [("linf", 0.02), ("l2", 0.5)])
def test_autoattack_adapter_equals_the_package_on_c2(c2, images, norm, eps):
    """Standard AutoAttack through the adapter = the package called directly (same seed), bitwise, on c2."""
    x, _ = images
    with torch.no_grad():
        y = c2(x).argmax(1)  # all correct: every image is attacked
    x_adv = check_adapter_equals_package(c2, x, y, norm, eps)
    with torch.no_grad():
        assert (c2(x_adv).argmax(1) != y).any(), "the test eps should let AutoAttack fool the untrained c2"


def tiny_linear_classifier():
    """Flatten + Linear(64 -> 10) on 1x8x8 images: cheap enough for the whole standard ensemble."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        lin = nn.Linear(64, 10)
        with torch.no_grad():
            lin.weight.mul_(4)
        x = torch.rand(5, 1, 8, 8)
    model = nn.Sequential(nn.Flatten(), lin).eval()
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.slow  # the whole ensemble (FAB-T, 5000 Square queries) on survivors: ~5-10 s of CPU per run
@pytest.mark.parametrize("norm,eps", [("linf", 0.03), ("l2", 0.2)])  # one of the 5 images is within eps of a boundary
def test_autoattack_adapter_equals_the_package_through_all_four_attacks(caplog, norm, eps):
    model, x, y = tiny_linear_classifier()
    with caplog.at_level("DEBUG", logger="auto-attack"):
        x_ref, y_ref = direct_autoattack(model, x, y, norm, eps, seed=5, verbose=True)
    ran = [m.split()[-1] for m in caplog.messages if m.startswith("running ")]
    assert ran == ["apgd-ce", "apgd-t", "fab-t", "square"], "some images must survive to the last attack"
    assert 0 < int((y_ref == y).sum()) < len(y)  # some fooled, some robust
    check_adapter_equals_package(model, x, y, norm, eps, seed=5, x_ref=x_ref)


def test_autoattack_bad_options_and_missing_package(monkeypatch):
    with pytest.raises(ConfigError, match="'attacks' option goes with version='custom'"):
        build_attack({"name": "autoattack", "attacks": ["apgd-ce"]}, eps=0.1)
    with pytest.raises(ConfigError, match="unknown AutoAttack version 'standart'"):
        build_attack({"name": "autoattack", "version": "standart"}, eps=0.1)
    with pytest.raises(ConfigError, match="one eps for the whole batch"):
        build_attack({"name": "autoattack"}, eps=torch.tensor([0.1, 0.2]))
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    with pytest.raises(DependencyError, match=re.escape("pip install -e .")):
        build_attack({"name": "autoattack", "norm": "linf"}, eps=0.1)


# --- the attack example of docs/plugins.md ("An attack") ------------------------------------------

# The example as it should appear in docs/plugins.md under "## An attack" (python block).
EXAMPLE = '''
import torch
from robustopt.attacks import register_attack


@register_attack("random_corner")
class RandomCorner:
    """Moves every pixel by +-eps at random: a weak baseline that real attacks must beat."""

    def __init__(self, eps, norm="linf", seed=0):
        if norm != "linf":
            raise ValueError("random_corner is an L-inf attack")
        self.eps, self.seed = eps, seed

    def __call__(self, model, x, y):
        gen = torch.Generator().manual_seed(self.seed)  # never the global RNG
        signs = torch.randint(0, 2, x.shape, generator=gen).to(x) * 2 - 1
        return (x + self.eps * signs).clamp(0, 1)
'''


def docs_example() -> str:
    """The python block of docs/plugins.md's "## An attack" section (the test fails when it is missing)."""
    text = (REPO / "docs" / "plugins.md").read_text()
    m = re.search(r"^## An attack[ \t]*$", text, flags=re.M)
    assert m, "docs/plugins.md has no '## An attack' section"
    block = re.search(r"^```python\n(.*?)^```", text[m.end() :], flags=re.M | re.S)  # the first one after it
    assert block, "docs/plugins.md's '## An attack' section has no python block"
    return block.group(1)


def run_example(source: str, tmp_path: Path) -> dict:
    """Write the example to a user file and run it through the robust_accuracy evaluation."""
    from robustopt.evaluation.registry import EvalContext, EvalData
    from robustopt.evaluation.robust_accuracy import evaluate_robust_accuracy

    path = tmp_path / "my_attacks.py"
    path.write_text(source)
    names = re.findall(r"register_attack\(\s*[\"'](\w+)[\"']", source)
    assert names, "the example registers no attack"
    model, _, _ = linear_model()
    x, y = middle_images(40), torch.arange(40) % 2
    cfg = {
        "attacks": [
            {"name": names[0], "module": str(path), "norm": "linf"},
            {"name": "pgd", "norm": "linf", "steps": 5},
        ],
        "eps": {"linf": [0.02, 0.1]},
        "sanity": False,
    }
    try:
        result = evaluate_robust_accuracy(model, EvalData(x, y, "synthetic"), cfg, EvalContext(batch_size=16))
    finally:
        for name in names:
            ATTACKS.unregister(name)
        sys.modules.pop("my_attacks", None)  # loaded under its own name: leave no module behind for other tests
    label = f"{names[0]}-linf"
    assert result["attacks"][label]["eps"] == [0.02, 0.1]
    for acc_user, acc_pgd in zip(
        result["attacks"][label]["robust_accuracy"], result["attacks"]["pgd-linf"]["robust_accuracy"]
    ):
        assert acc_pgd <= acc_user <= result["clean_accuracy"]
    return result


def test_extension_example_through_evaluation(tmp_path):
    run_example(EXAMPLE, tmp_path)


def test_docs_extension_example(tmp_path):
    run_example(docs_example(), tmp_path)
