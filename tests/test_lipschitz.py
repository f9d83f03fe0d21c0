"""Lipschitz bounds against independent computations: dense matrices + LAPACK SVD, Jacobians, closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustopt.errors import ConfigError
from robustopt.lipschitz import (
    ConvGeometry,
    LayerBound,
    certified_upper_bound,
    circular_singular_values,
    conv_norms,
    conv_operator,
    gram_iteration_bound,
    lanczos_norm,
    layer_spectral_norms,
    lower_bound,
    network_bound,
    paper_bound,
    paper_bound_details,
    power_iteration_norm,
    register_rule,
    reshaped_kernel_norm,
    upper_bound,
)
from robustopt.lipschitz.conv import max_block_norm
from robustopt.lipschitz.rules import MODULE_RULES, type_key
from robustopt.models import MODELS, build_model, init_model
from robustopt.models.layers import Normalize
from robustopt.models.resnet import PreActBlock


def dense_matrix(fn, in_shape) -> np.ndarray:
    """Matrix of the linear map ``fn`` (no bias), pushing every basis vector through it in float64."""
    n = math.prod(in_shape)
    with torch.no_grad():
        out = fn(torch.eye(n, dtype=torch.float64).reshape(n, *in_shape)).reshape(n, -1)
    return out.T.numpy()


def dense_conv(conv: nn.Conv2d, in_shape) -> np.ndarray:
    c = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
        bias=False, padding_mode=conv.padding_mode, dtype=torch.float64,
    )  # fmt: skip
    with torch.no_grad():
        c.weight.copy_(conv.weight)
    return dense_matrix(c, in_shape)


def top_sv(mat: np.ndarray) -> float:
    return float(np.linalg.svd(mat, compute_uv=False)[0])


def make_conv(cin, cout, k, stride=1, padding=0, dilation=1, groups=1, mode="zeros", seed=0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(
        cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode, bias=True
    )


#: Models small enough for make test-fast (the others' tests are marked slow: tens of seconds each on a CPU).
SMALL_MODELS = ("c2", "mlp")
CONV_CASES = [
    # (cin, cout, k, stride, padding, dilation, groups, mode, H, W)
    (3, 4, 1, 1, 0, 1, 1, "zeros", 6, 6),
    (3, 4, 3, 1, 0, 1, 1, "zeros", 7, 6),
    (3, 4, 3, 1, 1, 1, 1, "zeros", 6, 6),
    (3, 4, 3, 2, 1, 1, 1, "zeros", 7, 7),
    (2, 4, 5, 1, 2, 1, 1, "zeros", 6, 6),
    (2, 4, 5, 2, 2, 1, 1, "zeros", 8, 7),
    (4, 4, 3, 1, 2, 2, 1, "zeros", 6, 6),
    (4, 6, 3, 2, 1, 1, 2, "zeros", 6, 6),
    (4, 4, 3, 1, 1, 1, 4, "zeros", 6, 6),  # depthwise
    (3, 4, 3, 1, 1, 1, 1, "circular", 6, 6),
    (3, 4, 3, 2, 1, 1, 1, "circular", 6, 6),
    (2, 4, 5, 1, 2, 1, 1, "circular", 6, 5),
    (4, 4, 3, 1, 2, 2, 2, "circular", 6, 6),
    (3, 4, 3, 1, 0, 1, 1, "circular", 6, 6),  # no padding: not a circulant
    (3, 4, 3, 1, 2, 1, 1, "circular", 5, 5),  # more padding than "same"
    (3, 4, 3, 2, 1, 1, 1, "circular", 7, 7),  # stride does not divide the size
    (3, 4, 3, 1, 1, 1, 1, "reflect", 6, 6),
    (3, 4, 3, 2, 2, 1, 1, "replicate", 6, 6),
]
SLOW_CONV_CASES = [(4, 4, 3, 1, 2, 2, 2, "circular", 6, 6)]  # seconds each: only in the full suite


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CONV_CASES else c for c in CONV_CASES],
    ids=lambda c: "-".join(map(str, c)),
)
def test_conv_norms_match_dense_svd(case):
    cin, cout, k, s, p, d, g, mode, h, w = case
    conv = make_conv(cin, cout, k, s, p, d, g, mode)
    shape = (cin, h, w)
    sigma = top_sv(dense_conv(conv, shape))
    res = conv_norms(conv, shape, dense_max_entries=0)  # force the iterative / FFT path
    assert res.method in ("lanczos", "fft")
    assert abs(res.norm - sigma) <= 1e-4 * sigma
    geo = ConvGeometry.from_module(conv, shape)
    for how in ("eigh", "gram"):
        assert certified_upper_bound(conv.weight, geo, how=how) >= sigma * (1 - 1e-12)
    power, _ = power_iteration_norm(conv_operator(conv, shape), n_iter=2000, rtol=1e-10)
    assert power <= sigma * (1 + 1e-9)
    assert abs(power - sigma) <= 1e-3 * sigma


def test_conv_operator_adjoint_and_forward_match_module():
    for mode in ("zeros", "circular", "reflect", "replicate"):
        conv = make_conv(3, 5, 3, stride=2, padding=1, dilation=1, groups=1, mode=mode, seed=1)
        op = conv_operator(conv, (3, 7, 6))
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((2, 3, 7, 6), generator=gen, dtype=torch.float64)
        y = torch.randn((2, *op.out_shape), generator=gen, dtype=torch.float64)
        with torch.no_grad():
            ref = conv.double()(x) - conv.bias.double().view(1, -1, 1, 1)
            conv.float()
        assert torch.allclose(op.forward(x), ref, atol=1e-10)
        assert torch.allclose((op.forward(x) * y).sum(), (x * op.adjoint(y)).sum(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_string():
    conv = nn.Conv2d(2, 3, 4, padding="same", bias=False)
    sigma = top_sv(dense_conv(conv, (2, 6, 6)))
    assert abs(conv_norms(conv, (2, 6, 6), dense_max_entries=0).norm - sigma) <= 1e-4 * sigma


@pytest.mark.parametrize("stride", [1, 2])
def test_fft_gives_every_singular_value_of_circular_conv(stride):
    conv = make_conv(3, 4, 3, stride=stride, padding=1, mode="circular", seed=3)
    geo = ConvGeometry.from_module(conv, (3, 6, 6))
    dense = np.linalg.svd(dense_conv(conv, (3, 6, 6)), compute_uv=False)
    fft = circular_singular_values(conv.weight, geo).numpy()
    assert fft.shape == dense.shape
    np.testing.assert_allclose(fft, dense, rtol=1e-9, atol=1e-12)


def test_reshaped_kernel_is_not_the_operator_norm():
    conv = make_conv(4, 4, 3, padding=1, mode="circular", seed=5)
    norm = conv_norms(conv, (4, 8, 8)).norm
    rk = reshaped_kernel_norm(conv.weight)
    w = conv.weight.detach().double().reshape(4, -1).numpy()
    assert rk == pytest.approx(top_sv(w), rel=1e-12)
    assert rk <= norm * (1 + 1e-9) and norm <= 3 * rk * (1 + 1e-9)  # sqrt(k*k) = 3
    assert norm > 1.05 * rk  # a real difference for a generic kernel


def test_gram_iteration_and_eigh_bound_batches():
    gen = torch.Generator().manual_seed(0)
    mats = torch.randn((6, 7, 4), generator=gen, dtype=torch.float64) + 1j * torch.randn(
        (6, 7, 4), generator=gen, dtype=torch.float64
    )
    true = float(np.linalg.svd(mats.numpy(), compute_uv=False).max())
    for bound in (
        gram_iteration_bound(mats, rtol=1e-6),
        gram_iteration_bound(mats.mT, rtol=1e-6),
        max_block_norm(mats)[0],
    ):
        assert true * (1 - 1e-12) <= bound <= true * (1 + 1e-5)
    assert gram_iteration_bound(mats, max_iter=0) >= true  # a bound after any number of steps


def test_lanczos_matches_dense_for_generic_operator():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn((30, 50), generator=gen, dtype=torch.float64)
    from robustopt.lipschitz import TensorOperator

    op = TensorOperator(lambda x: x.reshape(x.shape[0], 50) @ a.T, (5, 10))
    assert lanczos_norm(op) == pytest.approx(top_sv(a.numpy()), rel=1e-6)


# --------------------------------------------------------------------------------------------- rules


def _module_norm(module: nn.Module, shape) -> float:
    return layer_spectral_norms(nn.Sequential(module), shape)["0"]


def test_batchnorm_rule_matches_dense_operator():
    bn = nn.BatchNorm2d(3).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(3, generator=gen))
        bn.running_var.copy_(torch.rand(3, generator=gen) + 0.1)
        bn.running_mean.copy_(torch.randn(3, generator=gen))
    bn.double()
    shift = bn(torch.zeros(1, 3, 2, 2, dtype=torch.float64))
    dense = dense_matrix(lambda x: bn(x) - shift, (3, 2, 2))
    bn.float().train()
    assert _module_norm(bn, (3, 2, 2)) == pytest.approx(top_sv(dense), rel=1e-6)
    assert bn.training  # mode restored


@pytest.mark.parametrize(
    "pool",
    [
        nn.AvgPool2d(2),
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        nn.AdaptiveAvgPool2d((3, 2)),
        nn.AdaptiveAvgPool2d(1),
    ],
    ids=["avg2", "avg3-overlap", "adaptive-uneven", "global"],
)
def test_average_pooling_rules_match_dense_operator(pool):
    shape = (2, 7, 5)
    sigma = top_sv(dense_matrix(pool, shape))
    bounds = network_bound(nn.Sequential(pool), shape).layers["0"]
    assert bounds.norm == pytest.approx(sigma, rel=1e-6)
    assert bounds.upper >= sigma * (1 - 1e-12)


@pytest.mark.parametrize(
    "pool, m",
    [
        (nn.MaxPool2d(2), 1),
        (nn.MaxPool2d(3, stride=2, padding=1), 4),
        (nn.MaxPool2d(3, stride=1), 9),
        (nn.AdaptiveMaxPool2d(3), 4),
    ],
    ids=["disjoint", "overlap-s2", "overlap-s1", "adaptive"],
)
def test_max_pool_rule_is_attained_by_a_jacobian(pool, m):
    shape = (1, 7, 7)
    assert _module_norm(pool, shape) == pytest.approx(math.sqrt(m))
    # independent check: the Jacobian at a point whose most-covered pixel is the max of all its windows
    best = 0.0
    for i in range(7):
        for j in range(7):
            x = torch.rand((1, *shape), dtype=torch.float64, generator=torch.Generator().manual_seed(i * 7 + j))
            x[0, 0, i, j] = 10.0
            jac = torch.autograd.functional.jacobian(lambda v: pool(v).reshape(-1), x).reshape(-1, 49)
            best = max(best, top_sv(jac.numpy()))
    assert best == pytest.approx(math.sqrt(m), rel=1e-9)


class _Residual(nn.Module):
    def __init__(self, relu: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.shortcut = nn.Conv2d(2, 3, 1)
        self.relu = relu

    def forward(self, x):
        h = self.conv1(x)
        if self.relu:
            h = torch.relu(h)
        return self.conv2(h) + self.shortcut(x)


def test_residual_rule_is_sum_of_paths():
    torch.manual_seed(0)
    block = _Residual(relu=True)
    shape = (2, 5, 5)
    n1, n2, ns = (
        top_sv(dense_conv(c, s)) for c, s in ((block.conv1, shape), (block.conv2, (3, 5, 5)), (block.shortcut, shape))
    )
    nb = network_bound(block, shape)
    assert nb.total.norm == pytest.approx(ns + n1 * n2, rel=1e-4)
    # without the ReLU the block is one linear map, whose norm the bound must dominate
    lin = _Residual(relu=False)
    lin.load_state_dict(block.state_dict())
    with torch.no_grad():
        shift = lin.double()(torch.zeros((1, *shape), dtype=torch.float64))
        dense = dense_matrix(lambda x: lin(x) - shift, shape)
    lin.float()
    assert upper_bound(lin, shape) >= top_sv(dense)


def test_preact_block_composition():
    torch.manual_seed(0)
    block = PreActBlock(2, 4, stride=2, batchnorm=True).eval()
    with torch.no_grad():
        for bn in (block.bn1, block.bn2):
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(-2, 2)
    shape = (2, 6, 6)
    bn_norm = [
        float((bn.weight.detach().abs() / (bn.running_var + bn.eps).sqrt()).max()) for bn in (block.bn1, block.bn2)
    ]
    c1 = top_sv(dense_conv(block.conv1, shape))
    c2 = top_sv(dense_conv(block.conv2, (4, 3, 3)))
    sc = top_sv(dense_conv(block.shortcut, shape))
    expected = bn_norm[0] * (sc + c2 * bn_norm[1] * c1)  # the projection reads the pre-activation
    assert network_bound(block, shape).total.norm == pytest.approx(expected, rel=1e-4)


# ---------------------------------------------------------------------------------------- networks


def _small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        Normalize([0.5, 0.4], [0.3, 0.2]),
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4).eval(),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def test_upper_bound_dominates_jacobian_norm_and_lower_bound():
    net = _small_net()
    shape = (2, 8, 8)
    ub = upper_bound(net, shape)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((8, *shape), generator=gen)
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0)).reshape(-1), xi).reshape(3, -1)
        assert top_sv(jac.double().numpy()) <= ub
    lb = lower_bound(net, x, steps=10)
    assert 0 < lb.value <= ub
    assert lb.value >= lb.jacobian >= lb.logit_gradient * (1 - 1e-6)


def test_linear_network_bounds_coincide():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Identity(), nn.Sequential(nn.Flatten(), nn.Linear(12, 5))).double()
    sigma = top_sv(net[1][1].weight.detach().numpy())
    nb = network_bound(net, (3, 2, 2))
    assert nb.total.norm == pytest.approx(sigma, rel=1e-12)
    assert nb.total.upper == pytest.approx(sigma, rel=1e-8)
    lb = lower_bound(net, torch.rand(4, 3, 2, 2, dtype=torch.float64), steps=3)
    assert lb.value == pytest.approx(sigma, rel=1e-8)
    assert lb.value <= nb.total.upper


@pytest.mark.slow
def test_layer_names_and_shapes_follow_the_forward_pass():
    net = build_model("c2", 1, 10, 12)
    norms = layer_spectral_norms(net, (1, 12, 12))
    assert {"normalize", "net.conv1", "net.relu1", "net.conv2", "net.fc1", "net.fc2"} <= set(norms)
    # net.conv2 sees a (16, 11, 11) input (12 -> 11 with k4 s1 p1): check against that shape's dense matrix
    sigma = top_sv(dense_conv(net.net.conv2, (16, 11, 11)))
    assert norms["net.conv2"] == pytest.approx(sigma, rel=1e-4)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n not in SMALL_MODELS else n for n in MODELS.names()]
)
def test_every_registered_model(name):
    model = build_model(name, 3, 10, 4, normalize=([0.5] * 3, [0.25] * 3))
    nb = network_bound(model, (3, 4, 4))
    assert nb.layers["normalize"].norm == pytest.approx(4.0)
    assert math.isfinite(nb.total.upper) and nb.total.upper >= nb.total.norm * (1 - 1e-9) > 0
    lb = lower_bound(model, torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)), steps=2)
    assert lb.value <= nb.total.upper


class _Scale(nn.Module):
    def forward(self, x):
        return 3.0 * x


class _Opaque(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow cannot be traced
            return x
        return -x


def test_unknown_layer_type_error_and_registration():
    net = nn.Sequential(nn.Flatten(), nn.GELU())
    with pytest.raises(ConfigError, match="GELU.*register_rule"):
        upper_bound(net, (4,))
    with pytest.raises(ConfigError, match="_Opaque.*register_rule"):
        upper_bound(nn.Sequential(nn.Flatten(), _Opaque()), (4,))

    @register_rule(_Opaque)
    def _opaque_rule(module, ctx):
        return LayerBound.constant(1.0)

    try:
        assert upper_bound(nn.Sequential(_Opaque(), _Scale()), (4,)) == pytest.approx(3.0)
    finally:
        MODULE_RULES.unregister(type_key(_Opaque))


def test_cache_is_per_checkpoint(tmp_path):
    net = _small_net()
    first = network_bound(net, (2, 8, 8), cache_dir=tmp_path)
    assert not first.cached and len(list(tmp_path.glob("lipschitz-*.json"))) == 1
    again = network_bound(net, (2, 8, 8), cache_dir=tmp_path)
    assert again.cached and again.total == first.total and again.layers == first.layers
    with torch.no_grad():
        net[1].weight.mul_(2.0)
    changed = network_bound(net, (2, 8, 8), cache_dir=tmp_path)
    assert not changed.cached and changed.total.norm == pytest.approx(2 * first.total.norm, rel=1e-6)


class _Tracker:
    def __init__(self):
        self.tables, self.figures = {}, {}

    def log_table(self, key, columns, rows):
        self.tables[key] = (columns, rows)

    def log_figure(self, key, fig):
        self.figures[key] = fig


def test_lipschitz_evaluation(tmp_path):
    import json

    from robustopt.evaluation import EVALUATIONS, EvalContext, EvalData

    net = _small_net()
    x = torch.rand(6, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    tracker = _Tracker()
    ctx = EvalContext(tracker=tracker, run_dir=str(tmp_path))
    res = EVALUATIONS.get("lipschitz")(net, EvalData(x, torch.zeros(6, dtype=torch.long)), {"ascent_steps": 3}, ctx)
    assert 0 < res["empirical_lower_bound"] <= res["certified_upper_bound"]
    assert res["operator_norm_product"] <= res["certified_upper_bound"]
    assert res["gap"] == pytest.approx(res["certified_upper_bound"] / res["empirical_lower_bound"])
    # not the paper's model: no paper number, and the reason names the supported models
    assert res["paper_bound"] is None and "c2" in res["paper_bound_unsupported"]
    assert "reshaped_kernel_product" not in res and "upper_bound" not in res
    assert set(res["layers"]["1"]) == {"operator_norm", "certified_upper_bound", "type"}
    assert "lipschitz/layers" in tracker.tables and "lipschitz/layers" in tracker.figures
    assert list((tmp_path / "cache").glob("lipschitz-*.json"))
    json.dumps(res)  # plain JSON


@pytest.mark.slow
def test_lipschitz_evaluation_reports_the_paper_bound_for_c2():
    from robustopt.evaluation import EVALUATIONS, EvalContext, EvalData

    model = init_model(0, "c2", 1, 10, 10)
    x = torch.rand(4, 1, 10, 10, generator=torch.Generator().manual_seed(1))
    res = EVALUATIONS.get("lipschitz")(
        model,
        EvalData(x, torch.zeros(4, dtype=torch.long)),
        {"ascent_steps": 2, "cache": False},
        EvalContext(tracker=_Tracker()),
    )
    # the paper's number from an independent transcription of the authors' function
    authors = AuthorsC2(side=8, in_channels=1)
    authors.load_state_dict(model.net.state_dict())
    assert res["paper_bound"] == pytest.approx(float(return_Lipschitz_c2_L2(authors)), rel=1e-6)
    assert res["paper_bound_function"] == "return_Lipschitz_c2_L2" and "paper_bound_unsupported" not in res
    w = model.net.conv2.weight.detach().double().reshape(32, -1).numpy()
    assert res["layers"]["net.conv2"]["paper_sigma"] == pytest.approx(top_sv(w), rel=1e-5)
    assert res["layers"]["net.conv2"]["paper_view_rows"] == 32
    assert "paper_sigma" not in res["layers"]["net.relu1"]
    # c2's convs see whole windows and its linear layers are exact: the paper's number is at most the norm product
    assert res["paper_bound"] <= res["operator_norm_product"] * (1 + 1e-5)


def test_lipschitz_evaluation_rejects_unknown_options():
    from robustopt.evaluation import EVALUATIONS, EvalContext, EvalData

    data = EvalData(torch.rand(2, 2, 8, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"no option\(s\) n_sample; its options are: .*n_samples"):
        EVALUATIONS.get("lipschitz")(_small_net(), data, {"n_sample": 8}, EvalContext())


# ----------------------------------------------------------------------------------------------
# paper_bound against a literal transcription of the authors' code (github.com/averyma/freq-robust:
# models/conv.py:c2, models/preact_resnet.py, src/utils_analysis.py).  Only the prints and the
# ipdb / dataset branches are left out; the Lipschitz functions are copied as they are.


class AuthorsC2(nn.Module):
    """models/conv.py:c2 (``side`` = 26 and ``in_channels`` = 1 in the authors' code)."""

    def __init__(self, side=26, in_channels=1):
        super(AuthorsC2, self).__init__()
        self.side = side
        self.conv1 = nn.Conv2d(in_channels=in_channels, out_channels=16, kernel_size=4, stride=1, padding=1)

        self.conv2 = nn.Conv2d(in_channels=16, out_channels=32, kernel_size=4, stride=1, padding=1)

        self.fc1 = nn.Linear(32 * side * side, 100)
        self.fc2 = nn.Linear(100, 10)
        self.activation = nn.ReLU()

    def forward(self, x):
        x = self.conv1(x)
        x = self.activation(x)
        x = self.conv2(x)
        x = self.activation(x)
        x = x.view(-1, 32 * self.side * self.side)
        x = self.fc1(x)
        x = self.fc2(x)
        return x


class AuthorsPreActBlock(nn.Module):
    """models/preact_resnet.py:PreActBlock."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, enable_batchnorm=True):
        super(AuthorsPreActBlock, self).__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.enable_batchnorm = enable_batchnorm
        if enable_batchnorm:
            self.bn1 = nn.BatchNorm2d(in_planes)
            self.bn2 = nn.BatchNorm2d(planes)

        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False)
            )

    def forward(self, x):
        out = F.relu(self.bn1(x)) if self.enable_batchnorm else F.relu(x)
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out))) if self.enable_batchnorm else self.conv2(F.relu(out))
        out += shortcut
        return out


class AuthorsPreActResNet(nn.Module):
    """models/preact_resnet.py:PreActResNet (CIFAR branch; input standardisation off)."""

    def __init__(self, block, num_blocks, num_classes=10, enable_batchnorm=True):
        super(AuthorsPreActResNet, self).__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], stride=1, enable_batchnorm=enable_batchnorm)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], stride=2, enable_batchnorm=enable_batchnorm)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], stride=2, enable_batchnorm=enable_batchnorm)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], stride=2, enable_batchnorm=enable_batchnorm)
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride, enable_batchnorm):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride, enable_batchnorm))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def return_Lipschitz_c2_L2(model):

    L = torch.tensor(1.0)

    # reinterpreting the weight tensor of a convolutional layer as a matrix
    U1 = model.conv1.weight.reshape(16, -1).clone().detach().cpu()
    U2 = model.conv2.weight.reshape(32, -1).clone().detach().cpu()

    # compute the spectral norm of U
    # upper bound of the true spectral norm
    L *= torch.svd(U1, some=True, compute_uv=False)[1].max()
    L *= torch.svd(U2, some=True, compute_uv=False)[1].max()

    # for p = 2, the operator norm is given by the largest singular value of the weight matrix
    L *= torch.svd(model.fc1.weight.clone().detach().cpu(), some=True, compute_uv=False)[1].max()
    L *= torch.svd(model.fc2.weight.clone().detach().cpu(), some=True, compute_uv=False)[1].max()

    return L


def return_Lipschitz_resnet_L2(model):

    L = torch.tensor(1.0)

    U0 = model.conv1.weight.reshape(64, -1)
    L *= torch.linalg.svd(U0.cpu())[1].max()

    # layer1:
    __layer1_0_U1 = model.layer1[0].conv1.weight.detach().clone().cpu().view(64, -1)
    L_layer1_0_U1 = torch.linalg.svd(__layer1_0_U1)[1].max()
    __layer1_0_U2 = model.layer1[0].conv2.weight.detach().clone().cpu().view(64, -1)
    L_layer1_0_U2 = torch.linalg.svd(__layer1_0_U2)[1].max()
    __layer1_1_U1 = model.layer1[1].conv1.weight.detach().clone().cpu().view(64, -1)
    L_layer1_1_U1 = torch.linalg.svd(__layer1_1_U1)[1].max()
    __layer1_1_U2 = model.layer1[1].conv2.weight.detach().clone().cpu().view(64, -1)
    L_layer1_1_U2 = torch.linalg.svd(__layer1_1_U2)[1].max()

    L_layer1 = L_layer1_0_U1 * L_layer1_0_U2 + 1
    L_layer1 *= L_layer1_1_U1 * L_layer1_1_U2 + 1
    L *= L_layer1
    # layer2:
    __layer2_0_U1 = model.layer2[0].conv1.weight.detach().clone().cpu().view(64, -1)
    L_layer2_0_U1 = torch.linalg.svd(__layer2_0_U1)[1].max()
    __layer2_0_U2 = model.layer2[0].conv2.weight.detach().clone().cpu().view(128, -1)
    L_layer2_0_U2 = torch.linalg.svd(__layer2_0_U2)[1].max()
    __layer2_shortcut = model.layer2[0].shortcut[0].weight.detach().clone().cpu().view(64, -1)
    L_layer2_shortcut = torch.linalg.svd(__layer2_shortcut)[1].max()
    __layer2_1_U1 = model.layer2[1].conv1.weight.detach().clone().cpu().view(128, -1)
    L_layer2_1_U1 = torch.linalg.svd(__layer2_1_U1)[1].max()
    __layer2_1_U2 = model.layer2[1].conv2.weight.detach().clone().cpu().view(128, -1)
    L_layer2_1_U2 = torch.linalg.svd(__layer2_1_U2)[1].max()

    L_layer2 = L_layer2_0_U1 * L_layer2_0_U2 + L_layer2_shortcut
    L_layer2 *= L_layer2_1_U1 * L_layer2_1_U2 + 1
    L *= L_layer2

    # layer3:
    __layer3_0_U1 = model.layer3[0].conv1.weight.detach().clone().cpu().view(128, -1)
    L_layer3_0_U1 = torch.linalg.svd(__layer3_0_U1)[1].max()
    __layer3_0_U2 = model.layer3[0].conv2.weight.detach().clone().cpu().view(256, -1)
    L_layer3_0_U2 = torch.linalg.svd(__layer3_0_U2)[1].max()
    __layer3_shortcut = model.layer3[0].shortcut[0].weight.detach().clone().cpu().view(128, -1)
    L_layer3_shortcut = torch.linalg.svd(__layer3_shortcut)[1].max()
    __layer3_1_U1 = model.layer3[1].conv1.weight.detach().clone().cpu().view(256, -1)
    L_layer3_1_U1 = torch.linalg.svd(__layer3_1_U1)[1].max()
    __layer3_1_U2 = model.layer3[1].conv2.weight.detach().clone().cpu().view(256, -1)
    L_layer3_1_U2 = torch.linalg.svd(__layer3_1_U2)[1].max()

    L_layer3 = L_layer3_0_U1 * L_layer3_0_U2 + L_layer3_shortcut
    L_layer3 *= L_layer3_1_U1 * L_layer3_1_U2 + 1
    L *= L_layer3

    # layer4:
    __layer4_0_U1 = model.layer4[0].conv1.weight.detach().clone().cpu().view(256, -1)
    L_layer4_0_U1 = torch.linalg.svd(__layer4_0_U1)[1].max()
    __layer4_0_U2 = model.layer4[0].conv2.weight.detach().clone().cpu().view(512, -1)
    L_layer4_0_U2 = torch.linalg.svd(__layer4_0_U2)[1].max()
    __layer4_shortcut = model.layer4[0].shortcut[0].weight.detach().clone().cpu().view(256, -1)
    L_layer4_shortcut = torch.linalg.svd(__layer4_shortcut)[1].max()
    __layer4_1_U1 = model.layer4[1].conv1.weight.detach().clone().cpu().view(512, -1)
    L_layer4_1_U1 = torch.linalg.svd(__layer4_1_U1)[1].max()
    __layer4_1_U2 = model.layer4[1].conv2.weight.detach().clone().cpu().view(512, -1)
    L_layer4_1_U2 = torch.linalg.svd(__layer4_1_U2)[1].max()

    L_layer4 = L_layer4_0_U1 * L_layer4_0_U2 + L_layer4_shortcut
    L_layer4 *= L_layer4_1_U1 * L_layer4_1_U2 + 1
    L *= L_layer4

    L *= torch.linalg.svd(model.linear.weight.cpu())[1].max()

    return L


def _randomise(model: nn.Module, seed: int) -> None:
    """Fresh random weights in every parameter, each tensor with its own random scale (so layers can't be swapped)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            scale = 0.5 + 2.0 * torch.rand((), generator=gen, dtype=torch.float64).item()
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(p[0].numel()))


def _authors_resnet_state(model: nn.Module) -> dict:
    """robustopt's preact_resnet18 state dict under the authors' names (shortcut conv inside a Sequential)."""
    return {k.replace("shortcut.weight", "shortcut.0.weight"): v for k, v in model.net.state_dict().items()}


@pytest.mark.slow
def test_paper_bound_c2_equals_the_authors_function():
    model = init_model(0, "c2", 1, 10, 28)
    _randomise(model, 1)
    authors = AuthorsC2()
    authors.load_state_dict(model.net.state_dict())
    with torch.no_grad():
        x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        assert torch.equal(authors(x), model(x))  # the same network
    expected = float(return_Lipschitz_c2_L2(authors))
    assert paper_bound(model) == pytest.approx(expected, rel=1e-6)
    assert paper_bound(model.net) == pytest.approx(expected, rel=1e-6)
    details = paper_bound_details(model)
    assert details.model == "c2" and details.rows == {"net.conv1": 16, "net.conv2": 32, "net.fc1": 100, "net.fc2": 10}


@pytest.fixture(scope="module")
def resnet_pair():
    model = init_model(0, "preact_resnet18", 3, 10, 32)
    _randomise(model, 2)
    authors = AuthorsPreActResNet(AuthorsPreActBlock, [2, 2, 2, 2], num_classes=10, enable_batchnorm=False)
    authors.load_state_dict(_authors_resnet_state(model))
    return model, authors


@pytest.mark.slow
def test_paper_bound_preact_resnet18_equals_the_authors_function(resnet_pair):
    model, authors = resnet_pair
    with torch.no_grad():
        x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(authors(x), model(x), rtol=1e-5, atol=1e-5)  # the same network
    expected = float(return_Lipschitz_resnet_L2(authors).detach())
    details = paper_bound_details(model)
    assert details.value == pytest.approx(expected, rel=1e-6)
    assert details.function == "return_Lipschitz_resnet_L2"
    # the shortcut and each stage's first conv1 are viewed as (C_in, -1), as the authors do: a real difference
    for name, cin, cout in (("net.layer2.0.shortcut", 64, 128), ("net.layer3.0.conv1", 128, 256)):
        w = model.get_submodule(name).weight.detach().double()
        assert details.rows[name] == cin
        assert details.layers[name] == pytest.approx(top_sv(w.reshape(cin, -1).numpy()), rel=1e-5)
        c_out_value = top_sv(w.reshape(cout, -1).numpy())
        assert abs(details.layers[name] / c_out_value - 1) > 1e-2
        assert 1 / math.sqrt(2) <= details.layers[name] / c_out_value <= math.sqrt(2)  # the docstring's range
    assert len(details.layers) == 1 + 4 * 4 + 3 + 1  # stem, 16 block convs, 3 shortcuts, linear


def test_paper_bound_ignores_batchnorm_and_reads_channels_last_weights(resnet_pair, monkeypatch):
    import robustopt.lipschitz.paper as paper_mod

    # a cheap stand-in for the SVD that still depends on the reshape (row 0 of the viewed matrix)
    monkeypatch.setattr(paper_mod, "_sigma_resnet", lambda w, rows: w.detach().cpu().reshape(rows, -1)[0].norm())
    model, _ = resnet_pair
    expected = paper_bound(model)
    with_bn = init_model(0, "preact_resnet18", 3, 10, 32, batchnorm=True)
    with_bn.net.load_state_dict(model.net.state_dict(), strict=False)
    with torch.no_grad():
        for m in with_bn.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(3.0)  # the authors' function does not look at BatchNorm
    assert paper_bound(with_bn) == expected
    last = init_model(0, "preact_resnet18", 3, 10, 32).to(memory_format=torch.channels_last)
    last.load_state_dict(model.state_dict())
    assert last.net.layer2[0].conv1.weight.stride() != model.net.layer2[0].conv1.weight.stride()
    assert paper_bound(last) == expected


@pytest.mark.parametrize("name,args", [("mlp", (1, 10, 8)), ("resnet18", (3, 10, 32)), ("vgg11", (3, 10, 32))])
def test_paper_bound_rejects_other_models(name, args):
    model = init_model(0, name, *args)
    with pytest.raises(ConfigError, match=r"'c2' .*'preact_resnet18'"):
        paper_bound(model)
    not_c2 = nn.Sequential(nn.Conv2d(1, 8, 4), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 25 * 25, 10))
    with pytest.raises(ConfigError, match="network_bound"):
        paper_bound(not_c2)
