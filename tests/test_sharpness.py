"""robustopt.sharpness and the ``sharpness`` evaluation, against dense Hessians and closed forms.

The oracle is the dense Hessian of the mean cross-entropy over a flattened parameter vector
(``torch.autograd.functional.hessian`` through ``torch.func.functional_call``), in float64, on tiny models.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from robustopt.errors import CheckpointError, ConfigError, DataError
from robustopt.sharpness import hessian_eigenvalues, hessian_trace, sam_sharpness

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors (tests/conftest.py)


def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def tiny_convnet() -> nn.Module:
    """Conv -> BatchNorm -> softplus -> max-pool -> linear; BatchNorm with non-trivial running statistics."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.BatchNorm2d(2),
        nn.Softplus(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * 2 * 2, 3),
    ).double()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.1, -0.2]))
        net[1].running_var.copy_(torch.tensor([0.5, 2.0]))
        net[1].weight.copy_(torch.tensor([1.3, 0.7]))
    return net


def data(n: int = 30, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


def dense_hessian(model: nn.Module, x, y) -> torch.Tensor:
    """The Hessian of the mean cross-entropy w.r.t. all parameters (flattened, in ``parameters()`` order), model in
    eval mode."""
    model = model.eval()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(w):
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = w[i : i + shape.numel()].reshape(shape)
            i += shape.numel()
        return nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


MODELS = {"mlp": tiny_mlp, "convnet": tiny_convnet}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_top_eigenvalues_match_the_dense_hessian(name):
    model, (x, y) = MODELS[name](), data()
    true = torch.linalg.eigvalsh(dense_hessian(model, x, y)).flip(0)[:3].tolist()
    model.train()  # the function must evaluate in eval mode and restore this
    got = hessian_eigenvalues(model, x, y, k=3, tol=0, batch_size=7)
    assert model.training and all(m.training for m in model.modules())
    assert got == sorted(got, reverse=True)
    np.testing.assert_allclose(got, true, rtol=1e-6)
    unchunked = hessian_eigenvalues(model, x, y, k=3, tol=0, batch_size=len(y))
    np.testing.assert_allclose(unchunked, got, rtol=1e-9)


def test_float64_option_casts_a_float32_model():
    model32, (x, y) = tiny_mlp().float(), data()
    true = torch.linalg.eigvalsh(dense_hessian(tiny_mlp(), x, y)).flip(0)[:1].tolist()  # same weights, float64
    got = hessian_eigenvalues(model32, x.float(), y, k=1, tol=0, dtype=torch.float64)
    np.testing.assert_allclose(got, true, rtol=1e-6)
    assert next(model32.parameters()).dtype == torch.float32  # the caller's model is not cast


def test_hutchinson_trace_is_unbiased_and_its_stderr_is_right():
    model, (x, y) = tiny_convnet(), data()
    h = dense_hessian(model, x, y)
    true = float(h.trace())
    # Rademacher probes: Var(v^T H v) = 2 * sum_{i != j} H_ij^2
    sd = math.sqrt(2 * (float((h**2).sum()) - float((h.diagonal() ** 2).sum())))
    big = hessian_trace(model, x, y, n_samples=1600, seed=3, probe_batch=400)
    assert abs(big.trace - true) < 4 * big.stderr
    assert big.stderr == pytest.approx(sd / math.sqrt(1600), rel=0.15)
    small = hessian_trace(model, x, y, n_samples=100, seed=3, probe_batch=100)
    assert small.stderr / big.stderr == pytest.approx(4.0, rel=0.3)  # 1/sqrt(n)
    assert abs(small.trace - true) < 4 * small.stderr and small.n_samples == 100


def test_hutchinson_trace_is_deterministic_and_does_not_depend_on_chunking():
    model, (x, y) = tiny_mlp(), data()
    state = torch.get_rng_state()
    a = hessian_trace(model, x, y, n_samples=12, seed=5, probe_batch=12, batch_size=len(y))
    b = hessian_trace(model, x, y, n_samples=12, seed=5, probe_batch=5, batch_size=7)
    c = hessian_trace(model, x, y, n_samples=12, seed=6, probe_batch=12)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert a.trace == pytest.approx(b.trace, rel=1e-10) and a.stderr == pytest.approx(b.stderr, rel=1e-9)
    assert a.trace != c.trace


def test_sam_sharpness_matches_the_closed_form_on_a_linear_softmax_model():
    """Linear model on flattened images: the gradient of the mean cross-entropy is X^T (softmax - onehot) / N."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    x, y = data(25)
    rho = 0.1
    X = x.reshape(25, -1).numpy()
    W, b = model[1].weight.detach().numpy().copy(), model[1].bias.detach().numpy().copy()
    onehot = np.eye(3)[y.numpy()]

    def ce(W, b):
        z = X @ W.T + b
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - (z * onehot).sum(axis=1)))

    z = X @ W.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    gW, gb = (p - onehot).T @ X / 25, (p - onehot).mean(axis=0)
    g_norm = math.sqrt((gW**2).sum() + (gb**2).sum())
    radius = rho * math.sqrt((W**2).sum() + (b**2).sum())
    expected = ce(W + radius * gW / g_norm, b + radius * gb / g_norm) - ce(W, b)
    before = [q.detach().clone() for q in model.parameters()]
    got = sam_sharpness(model, x, y, rho=rho, batch_size=6)
    assert got["sharpness"] == pytest.approx(expected, rel=1e-10) and expected > 0
    assert got["loss"] == pytest.approx(ce(W, b), rel=1e-12)
    assert got["radius"] == pytest.approx(radius, rel=1e-12) and got["grad_norm"] == pytest.approx(g_norm, rel=1e-10)
    assert all(torch.equal(a, q) for a, q in zip(before, model.parameters()))  # weights untouched


@pytest.mark.parametrize(
    "call, error, words",
    [
        (
            lambda m, x, y: hessian_eigenvalues(m, x, y, k=0),
            ConfigError,
            "k (how many Hessian eigenvalues) must be an integer >= 1",
        ),
        (lambda m, x, y: hessian_eigenvalues(m, x, y, k=500), ConfigError, "use k < "),
        (lambda m, x, y: hessian_eigenvalues(m, x[:0], y[:0]), DataError, "no images given"),
        (lambda m, x, y: hessian_eigenvalues(m, x, y + 1), DataError, "labels must lie in [0, 2]"),
        (lambda m, x, y: hessian_eigenvalues(m, x, y[:-1]), DataError, "one label per image"),
        (
            lambda m, x, y: hessian_trace(m, x.index_fill(0, torch.tensor([3]), float("nan")), y),
            DataError,
            "NaN or inf",
        ),
        (lambda m, x, y: hessian_trace(m, (x * 255).to(torch.uint8), y), DataError, "divide uint8 images by 255"),
        (lambda m, x, y: hessian_trace(m, x, y, n_samples=1), ConfigError, "n_samples >= 2"),
        (
            lambda m, x, y: hessian_eigenvalues(m, x, y, batch_size=0),
            ConfigError,
            "batch_size must be a positive integer",
        ),
        (lambda m, x, y: sam_sharpness(m, x, y, rho=-1.0), ConfigError, "rho"),
    ],
)
def test_bad_input_raises_one_readable_error(call, error, words):
    model, (x, y) = tiny_mlp(), data()
    with pytest.raises(error) as exc:
        call(model, x, y)
    assert words in str(exc.value)


def test_non_finite_weights_are_a_checkpoint_error():
    model, (x, y) = tiny_mlp(), data()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or inf"):
        hessian_eigenvalues(model, x, y)


def test_sharpness_evaluation_through_the_registry():
    from robustopt.evaluation import EVALUATIONS, EvalContext, EvalData, evaluation_defaults

    model, (x, y) = tiny_convnet(), data(40)
    evaluate = EVALUATIONS.get("sharpness")
    assert set(evaluation_defaults("sharpness")) >= {"n_samples", "k", "trace_probes", "seed", "batch_size"}
    cfg = {"n_samples": 30, "k": 2, "tol": 0.0, "trace_probes": 64, "batch_size": 8, "sam_rho": 0.05}
    out = evaluate(model, EvalData(x, y), cfg, EvalContext(seed=4))
    json.dumps(out, allow_nan=False)
    true = torch.linalg.eigvalsh(dense_hessian(model, x[:30], y[:30])).flip(0)
    np.testing.assert_allclose(out["eigenvalues"], true[:2].tolist(), rtol=1e-6)
    assert out["top_eigenvalue"] == out["eigenvalues"][0] and out["n_samples"] == 30 and out["seed"] == 4
    assert abs(out["trace"] - float(true.sum())) < 5 * out["trace_stderr"]
    assert out["sam_sharpness"] == out["sam"]["sharpness"] and out["matvecs"] > 0
    off = evaluate(model, EvalData(x, y), {"n_samples": 30, "trace_probes": 0, "sam_rho": None}, EvalContext())
    assert off["trace"] is None and off["trace_stderr"] is None and off["sam_sharpness"] is None
    with pytest.raises(ConfigError, match="evaluation 'sharpness' has no option"):
        evaluate(model, EvalData(x, y), {"n_probes": 3}, EvalContext())
    with pytest.raises(ConfigError, match="trace_probes"):
        evaluate(model, EvalData(x, y), {"trace_probes": 1}, EvalContext())


def test_no_convergence_is_a_config_error():
    model, (x, y) = tiny_mlp(), data()
    with pytest.raises(ConfigError, match="did not converge"):
        hessian_eigenvalues(model, x, y, k=3, tol=0, max_iter=1)


def test_front_door_runs_the_sharpness_evaluation():
    import robustopt

    model, (x, y) = tiny_mlp().float(), data(20)
    state = torch.get_rng_state()
    out = robustopt.evaluate(
        model,
        dataset=(x.float(), y),
        evaluations=["sharpness"],
        device="cpu",
        seed=1,
        options={"sharpness": {"k": 2, "trace_probes": 4, "batch_size": 6}},
    )
    assert torch.equal(torch.get_rng_state(), state)
    res = out["sharpness"]
    json.dumps(res, allow_nan=False)
    assert len(res["eigenvalues"]) == 2 and res["eigenvalues"][0] >= res["eigenvalues"][1] and res["n_samples"] == 20
    true = torch.linalg.eigvalsh(dense_hessian(tiny_mlp(), x, y)).flip(0)[:2].tolist()  # float64 oracle, same weights
    np.testing.assert_allclose(res["eigenvalues"], true, rtol=1e-4)  # float32, tol 1e-4
