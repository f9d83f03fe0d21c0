"""Optimizers and schedules against hand-written updates and closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from robustopt.errors import ConfigError
from robustopt.optim import OPTIMIZERS, SignSGD, build_optimizer, build_scheduler


def test_registry_has_the_six_optimizers():
    assert set(OPTIMIZERS.names()) >= {"sgd", "adam", "adamw", "rmsprop", "adagrad", "signsgd"}


def test_unknown_name_and_hparam_are_config_errors():
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ConfigError, match="unknown optimizer 'adamm'.*adam.*Did you mean 'adam'"):
        build_optimizer("adamm", p, lr=0.1)
    with pytest.raises(ConfigError, match=r"optimizer 'adam' has no option\(s\) momentum; its options are: lr, betas"):
        build_optimizer("adam", p, lr=0.1, momentum=0.9)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        build_optimizer("sgd", p, lr=-1)


def test_signsgd_matches_the_sign_update_and_signum():
    torch.manual_seed(0)
    w0 = torch.randn(5)
    grads = [torch.randn(5) for _ in range(4)]
    w = torch.nn.Parameter(w0.clone())
    opt = SignSGD([w], lr=0.1)
    ref = w0.clone()
    for g in grads:
        w.grad = g.clone()
        opt.step()
        ref -= 0.1 * torch.sign(g)
    assert torch.allclose(w.detach(), ref)
    w = torch.nn.Parameter(w0.clone())
    opt = build_optimizer("signsgd", [w], lr=0.1, momentum=0.9)
    ref, m = w0.clone(), torch.zeros(5)
    for g in grads:
        w.grad = g.clone()
        opt.step()
        m = 0.9 * m + 0.1 * g
        ref -= 0.1 * torch.sign(m)
    assert torch.allclose(w.detach(), ref)


def _lrs(name, epochs=10, **kw):
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=1.0)
    sched = build_scheduler(name, opt, epochs, **kw)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedules_follow_their_formulas():
    assert _lrs("constant") == [1.0] * 10
    assert _lrs("multistep", milestones=[3, 7], gamma=0.1) == pytest.approx(
        [1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]
    )
    assert _lrs("step", step_size=4, gamma=0.5) == pytest.approx([1] * 4 + [0.5] * 4 + [0.25] * 2)
    assert _lrs("exponential", gamma=0.9) == pytest.approx([0.9**e for e in range(10)])
    assert _lrs("cosine") == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(10)])
    warm = _lrs("multistep", milestones=[6], gamma=0.1, warmup_epochs=3, warmup_start_factor=0.1)
    assert (
        warm[:3] == pytest.approx([0.1, 0.4, 0.7])
        and warm[3:6] == pytest.approx([1, 1, 1])
        and warm[6:] == pytest.approx([0.1] * 4)
    )
    with pytest.raises(ConfigError, match="scheduler 'cosine' has no option"):
        _lrs("cosine", gamma=0.1)


def test_scheduler_state_survives_weights_only_checkpoints(tmp_path):
    """Every schedule's state must load with torch.load(weights_only=True)."""
    for name in ("constant", "step", "multistep", "cosine", "exponential"):
        p = [torch.nn.Parameter(torch.zeros(1))]
        opt = build_optimizer("adam", p, lr=0.1)
        sched = build_scheduler(name, opt, 10, warmup_epochs=2)
        for _ in range(3):
            opt.step()
            sched.step()
        torch.save({"s": sched.state_dict(), "o": opt.state_dict()}, tmp_path / f"{name}.pt")
        state = torch.load(tmp_path / f"{name}.pt", weights_only=True)
        fresh = build_scheduler(
            name, build_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=0.1), 10, warmup_epochs=2
        )
        fresh.load_state_dict(state["s"])
        assert fresh.last_epoch == sched.last_epoch
