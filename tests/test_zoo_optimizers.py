"""The optimizer zoo: every conf/optimizer/*.yaml composes, builds and steps; the pytorch-optimizer entries step
exactly like the package's classes called directly; SAM's step equals its closed form and fit's closure path equals
the package's documented loop; a run killed mid-epoch resumes bitwise identical with every optimizer."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import pytorch_optimizer as po
import torch
import torch.nn.functional as F

from robustopt.errors import ConfigError
from robustopt.optim import OPTIMIZERS, build_optimizer, build_optimizer_spec, needs_closure
from robustopt.train.fit import fit
from tests.conftest import REPO, compose

CONF_OPTIMIZERS = sorted(p.stem for p in (REPO / "conf" / "optimizer").glob("*.yaml"))
ZOO = [
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamw",
    "nadam",
    "adamax",
    "radam",
    "signsgd",
    "lamb",
    "lion",
    "shampoo",
    "scalable_shampoo",
    "lookahead",
    "sam",
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opt_cfg(name: str, *extra: str) -> dict:
    cfg = compose("train", [f"optimizer={name}", *extra])["optimizer"]
    return cfg


def _tiny(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    x = torch.randn(16, 6, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    return model, x, y


def _step(model, opt, x, y):
    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    closure()
    opt.step(closure) if needs_closure(opt) else opt.step()


def test_every_optimizer_config_is_in_the_zoo_and_registered():
    assert set(ZOO) <= set(CONF_OPTIMIZERS) and set(CONF_OPTIMIZERS) <= set(OPTIMIZERS.names())


@pytest.mark.parametrize("name", CONF_OPTIMIZERS)
def test_each_optimizer_config_composes_builds_and_steps(name):
    cfg = _opt_cfg(name)
    assert cfg["name"] == name
    model, x, y = _tiny()
    before = [p.detach().clone() for p in model.parameters()]
    opt = build_optimizer_spec(cfg, model.parameters())
    for _ in range(2):
        _step(model, opt, x, y)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters())), f"{name} did not move the weights"


def test_existing_optimizer_defaults_are_unchanged():
    """The running 200-epoch sweep relies on these (robustopt/cli/schema.py before the zoo)."""
    assert _opt_cfg("sgd") == {
        "name": "sgd",
        "lr": 0.01,
        "momentum": 0.0,
        "dampening": 0.0,
        "nesterov": False,
        "weight_decay": 0.0,
    }
    # fused (torch's one-pass kernel, same update) was added off: an old run's config without it resumes unchanged
    assert _opt_cfg("adam") == {
        "name": "adam",
        "lr": 1e-3,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": False,
        "fused": False,
    }
    assert _opt_cfg("adamw")["weight_decay"] == 0.01 and _opt_cfg("adamw")["lr"] == 1e-3
    assert _opt_cfg("rmsprop") == {
        "name": "rmsprop",
        "lr": 1e-3,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    }
    assert _opt_cfg("adagrad") == {
        "name": "adagrad",
        "lr": 1e-2,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    }
    assert _opt_cfg("signsgd") == {"name": "signsgd", "lr": 1e-4, "momentum": 0.0, "weight_decay": 0.0}


# -- the package-backed entries against the package's classes, constructed here with literal arguments -----------
PACKAGE_DIRECT = {
    "lamb": lambda p: po.Lamb(
        p,
        lr=1e-3,
        betas=(0.9, 0.999),
        weight_decay=0.0,
        weight_decouple=True,
        fixed_decay=False,
        rectify=False,
        degenerated_to_sgd=False,
        n_sma_threshold=5,
        grad_averaging=True,
        max_grad_norm=1.0,
        adam=False,
        pre_norm=False,
        eps=1e-6,
    ),
    "lion": lambda p: po.Lion(p, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False),
    "shampoo": lambda p: po.Shampoo(
        p, lr=1e-3, momentum=0.0, weight_decay=0.0, preconditioning_compute_steps=1, matrix_eps=1e-6
    ),
    "scalable_shampoo": lambda p: po.ScalableShampoo(
        p, lr=1e-3, start_preconditioning_step=2, preconditioning_compute_steps=2, block_size=4
    ),
    "lookahead": lambda p: po.Lookahead(torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8), k=2, alpha=0.5),
    "sam": lambda p: po.SAM(p, torch.optim.SGD, rho=0.05, lr=0.01),
}
ZOO_OVERRIDES = {
    "scalable_shampoo": [
        "optimizer.start_preconditioning_step=2",
        "optimizer.preconditioning_compute_steps=2",
        "optimizer.block_size=4",
    ],
    "lookahead": ["optimizer.k=2"],
}


@pytest.mark.parametrize("name", sorted(PACKAGE_DIRECT))
def test_package_backed_entries_step_like_the_package_called_directly(name):
    model, x, y = _tiny(1)
    ref = copy.deepcopy(model)
    ours = build_optimizer_spec(_opt_cfg(name, *ZOO_OVERRIDES.get(name, [])), model.parameters())
    direct = PACKAGE_DIRECT[name](ref.parameters())
    for _ in range(5):  # several steps: Lookahead's slow-weight pull, Shampoo's preconditioner refresh
        _step(model, ours, x, y)
        if name == "sam":

            def closure():
                direct.zero_grad()
                loss = F.cross_entropy(ref(x), y)
                loss.backward()
                return loss

            closure()
            direct.step(closure)
        else:
            direct.zero_grad()
            F.cross_entropy(ref(x), y).backward()
            direct.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b), name
    moved = _tiny(1)[0]
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), moved.parameters()))


def test_sam_step_is_the_closed_form():
    """Foret et al. (2021), eq. 2-3 with SGD: w <- w - lr * grad L(w + rho g / ||g||), g = grad L(w)."""
    model, x, y = _tiny(2)
    params = list(model.parameters())
    w0 = [p.detach().clone() for p in params]
    g = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    norm = torch.sqrt(sum((gi**2).sum() for gi in g))
    with torch.no_grad():
        for p, gi in zip(params, g):
            p.add_(gi * (0.1 / (norm + 1e-12)))
    g_adv = torch.autograd.grad(F.cross_entropy(model(x), y), params)
    with torch.no_grad():
        for p, w in zip(params, w0):
            p.copy_(w)
    opt = build_optimizer("sam", model.parameters(), base={"name": "sgd", "lr": 0.5}, rho=0.1)
    _step(model, opt, x, y)
    for p, w, ga in zip(model.parameters(), w0, g_adv):
        torch.testing.assert_close(p.detach(), w - 0.5 * ga, rtol=1e-6, atol=1e-7)


class _Batches:
    """A stand-in for TensorBatches: fixed batches in a fixed order."""

    def __init__(self, x, y, bs):
        self.x, self.y, self.bs = x, y, bs

    def __len__(self):
        return len(self.x) // self.bs

    def epoch(self, epoch):
        for i in range(len(self)):
            yield self.x[i * self.bs : (i + 1) * self.bs], self.y[i * self.bs : (i + 1) * self.bs]


def test_fit_closure_path_is_the_packages_documented_sam_loop():
    model, x, y = _tiny(3)
    ref = copy.deepcopy(model)
    opt = build_optimizer("sam", model.parameters(), base={"name": "sgd", "lr": 0.1, "momentum": 0.9}, rho=0.05)
    result = fit(model, opt, _Batches(x, y, 4), epochs=2, progress=False)
    direct = po.SAM(ref.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9)
    losses = []
    for _ in range(2):
        for i in range(4):
            xb, yb = x[i * 4 : (i + 1) * 4], y[i * 4 : (i + 1) * 4]
            direct.zero_grad()

            def closure(xb=xb, yb=yb):
                direct.zero_grad()
                loss = F.cross_entropy(ref(xb), yb)
                loss.backward()
                return loss

            losses.append(closure().item())
            direct.step(closure)
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    assert result.history[-1]["train_loss"] == pytest.approx(sum(losses[4:]) / 4, rel=1e-6)


def test_closure_optimizers_refuse_amp_and_wrappers_are_checked():
    model, x, y = _tiny()
    opt = build_optimizer("sam", model.parameters(), base="sgd")
    if torch.cuda.is_available():
        with pytest.raises(ConfigError, match="amp=false"):
            fit(model.cuda(), opt, _Batches(x.cuda(), y.cuda(), 4), epochs=1, progress=False, amp=True, device="cuda")
    with pytest.raises(ConfigError, match="sam's base must be a plain optimizer"):
        build_optimizer("sam", model.parameters(), base="lookahead")
    with pytest.raises(ConfigError, match=r"optimizer 'adam' has no option\(s\) momentum"):
        build_optimizer("lookahead", model.parameters(), base={"name": "adam", "momentum": 0.9})
    with pytest.raises(ConfigError, match=r"optimizer 'lookahead' has no option\(s\) lr"):
        build_optimizer("lookahead", model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="lookahead's base must be an optimizer name or a dict"):
        build_optimizer("lookahead", model.parameters(), base=3)
    with pytest.raises(ConfigError, match="its base .* is invalid.*lrr"):
        _opt_cfg("sam", "optimizer.base={name:adam,lrr:0.1}")
    assert needs_closure(build_optimizer("lookahead", model.parameters(), base="sam"))
    assert not needs_closure(build_optimizer("lookahead", model.parameters(), base="adam"))


# -- resume after a kill, every optimizer ------------------------------------------------------------------------
class _Killed(Exception):
    pass


RESUME_OVERRIDES = {
    "scalable_shampoo": [
        "optimizer.start_preconditioning_step=2",
        "optimizer.preconditioning_compute_steps=3",
        "optimizer.block_size=8",
    ],
    "lookahead": ["optimizer.k=3"],  # slow weights at the epoch-1 checkpoint (step 4) differ from the fast ones
    "sam": ["optimizer.base={name:sgd,momentum:0.9}"],
    "adam": ["optimizer.amsgrad=true"],
}


def _training(name: str, tmp_path: Path):
    from robustopt.train.pipeline import build_training

    cfg = compose(
        "train",
        [
            "dataset=synthetic",
            "model=mlp",
            "+model.options.hidden=[16]",
            "dataset.train_subset=64",
            "dataset.test_subset=32",
            "batch_size=16",
            "epochs=2",
            "scheduler=multistep",
            "scheduler.milestones=[1]",
            "logger=none",
            "progress=false",
            f"optimizer={name}",
            f"paths.output_dir={tmp_path}",
            *RESUME_OVERRIDES.get(name, []),
        ],
    )
    return build_training(cfg, torch.device("cpu"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ZOO)
def test_run_killed_mid_epoch_resumes_bitwise_identical_with_every_optimizer(name, tmp_path):
    """fit() is stopped by an exception from on_step in the middle of epoch 2 (after its epoch-1 checkpoint), a
    fresh model and optimizer resume from the checkpoint, and the weights and optimizer state end bitwise equal
    to an uninterrupted run's (4 steps per epoch; a multistep schedule changes the lr after epoch 1)."""

    def run(ckpt, on_step=None):
        t = _training(name, tmp_path)
        kw = dict(epochs=2, scheduler=t.scheduler, checkpoint_path=ckpt, progress=False, on_step=on_step)
        return t, fit(t.model, t.optimizer, t.batches, t.test, **kw)

    ref, ref_result = run(tmp_path / "ref.pt")

    def kill(step):
        if step == 6:
            raise _Killed

    with pytest.raises(_Killed):
        run(tmp_path / "killed.pt", kill)
    resumed, result = run(tmp_path / "killed.pt")
    assert result.resumed_from_epoch == 1
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{name}: {k} differs after resume"
    assert _flat(ref.optimizer.state_dict()) == _flat(resumed.optimizer.state_dict())
    assert [m["test_loss"] for m in ref_result.history] == [m["test_loss"] for m in result.history]
    assert ref_result.history[1]["lr"] != ref_result.history[0]["lr"]


def _flat(obj, prefix=""):
    """Nested state as {path: value}, tensors as (dtype, shape, bytes) so that equality is bitwise."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}/"))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flat(v, f"{prefix}{i}/"))
        return out
    if isinstance(obj, torch.Tensor):
        return {prefix: (obj.dtype, tuple(obj.shape), obj.detach().cpu().numpy().tobytes())}
    return {prefix: obj}
