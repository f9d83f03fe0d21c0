"""Tests of the model zoo (robustopt.models): shapes, exact architectures, determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from robustopt.errors import ConfigError
from robustopt.models import MODELS, Normalize, build_model, init_model
from robustopt.models.resnet import PreActBlock

ALL_MODELS = MODELS.names()
#: The paper's models (and the MLP) are checked by make test-fast; the larger ones only by the full suite (slow).
SMALL_MODELS = ("c2", "mlp", "preact_resnet18")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def leaves(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if len(list(m.children())) == 0]


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


# --------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n not in SMALL_MODELS else n for n in ALL_MODELS]
)
def test_output_shape_every_model_channels_and_sizes(name):
    for in_channels in (1, 3):
        for size in (16, 28, 32, 64):
            model = build_model(name, in_channels, 7, size).eval()
            with torch.no_grad():
                out = model(torch.rand(2, in_channels, size, size))
            assert out.shape == (2, 7), (name, in_channels, size)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("name,in_channels", [("resnet18", 3), ("preact_resnet18", 1)])
def test_output_shape_224(name, in_channels):
    model = build_model(name, in_channels, 5, 224).eval()
    with torch.no_grad():
        out = model(torch.rand(1, in_channels, 224, 224))
    assert out.shape == (1, 5)


# ----------------------------------------------------------------------------------------- build_model


def test_build_model_normalize_layer_first():
    mean, std = (0.25, 0.5, 0.75), (0.2, 0.4, 0.5)
    model = build_model("c2", 3, 10, 28, normalize=(mean, std)).eval()
    assert isinstance(model[0], Normalize)
    x = torch.rand(3, 3, 28, 28)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model[1]((x - m) / s))

    plain = build_model("c2", 3, 10, 28, normalize=None)
    assert isinstance(plain[0], nn.Identity)


def test_unknown_option_names_valid_options():
    with pytest.raises(ConfigError, match="batchnorm"):
        build_model("preact_resnet18", 3, 10, 32, batchnrom=True)
    with pytest.raises(ConfigError, match="batchnorm"):
        build_model("vgg11", 3, 10, 32, dropout=0.1)


def test_unknown_model_lists_known_names():
    with pytest.raises(ConfigError) as info:
        build_model("resnet1800", 3, 10, 32)
    for name in ALL_MODELS:
        assert name in str(info.value)


# ------------------------------------------------------------------------------------------------ c2


class AuthorsC2(nn.Module):
    """A literal transcription of ``models/conv.py:c2`` in github.com/averyma/freq-robust (the paper's code)."""

    def __init__(self):
        super(AuthorsC2, self).__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=16, kernel_size=4, stride=1, padding=1)
        self.conv2 = nn.Conv2d(in_channels=16, out_channels=32, kernel_size=4, stride=1, padding=1)
        self.fc1 = nn.Linear(32 * 26 * 26, 100)
        self.fc2 = nn.Linear(100, 10)
        self.activation = nn.ReLU()

    def forward(self, x):
        x = self.conv1(x)
        x = self.activation(x)
        x = self.conv2(x)
        x = self.activation(x)
        x = x.view(-1, 32 * 26 * 26)
        x = self.fc1(x)
        x = self.fc2(x)
        return x


def test_c2_is_the_authors_network():
    net = build_model("c2", 1, 10, 28).net
    layers = list(net)
    assert [type(m) for m in layers] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear, nn.Linear]
    c1, c2 = net.conv1, net.conv2
    assert (c1.in_channels, c1.out_channels, c1.kernel_size, c1.stride, c1.padding) == (1, 16, (4, 4), (1, 1), (1, 1))
    assert (c2.in_channels, c2.out_channels, c2.kernel_size, c2.stride, c2.padding) == (16, 32, (4, 4), (1, 1), (1, 1))
    assert (net.fc1.in_features, net.fc1.out_features) == (21632, 100)  # 28 -> 27 -> 26 with k4 s1 p1
    assert (net.fc2.in_features, net.fc2.out_features) == (100, 10)
    by_hand = (16 * 1 * 16 + 16) + (32 * 16 * 16 + 32) + (32 * 26 * 26 * 100 + 100) + (100 * 10 + 10)
    assert by_hand == 2_172_806
    assert n_params(net) == by_hand == n_params(AuthorsC2())
    assert count(net, nn.modules.batchnorm._BatchNorm) == 0


def test_c2_initial_weights_and_outputs_equal_the_authors():
    """Same seed -> bitwise the authors' default initialisation; their state dict loads and gives the same logits."""
    from robustopt.models.small import load_authors_c2_state_dict

    torch.manual_seed(5)
    theirs = AuthorsC2()
    ours = init_model(5, "c2", 1, 10, 28)
    theirs_sd, ours_sd = theirs.state_dict(), ours.net.state_dict()
    assert list(theirs_sd) == list(ours_sd)
    for key in theirs_sd:
        assert torch.equal(theirs_sd[key], ours_sd[key]), key
    torch.manual_seed(6)
    other = AuthorsC2()
    load_authors_c2_state_dict(ours, other.state_dict())
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), other(x), rtol=0, atol=0)
        torch.testing.assert_close(
            ours(x.contiguous(memory_format=torch.channels_last)), other(x), rtol=1e-5, atol=1e-5
        )


# -------------------------------------------------------------------------------------------- resnets


def _preact_resnet18_params_by_hand(in_channels: int, num_classes: int, batchnorm: bool) -> int:
    total = 64 * in_channels * 9  # stem, no bias
    c_in = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for block in range(2):
            total += width * c_in * 9 + width * width * 9  # conv1, conv2
            if stage > 0 and block == 0:
                total += width * c_in  # 1x1 projection
            if batchnorm:
                total += 2 * c_in + 2 * width  # bn1 (weight, bias), bn2
            c_in = width
    return total + 512 * num_classes + num_classes


def test_preact_resnet18_parameter_count_and_batchnorm_switch():
    plain = build_model("preact_resnet18", 3, 10, 32)
    assert n_params(plain) == _preact_resnet18_params_by_hand(3, 10, False) == 11_164_362
    assert count(plain, nn.modules.batchnorm._BatchNorm) == 0
    assert len(list(plain.buffers())) == 0  # no running statistics either
    with_bn = build_model("preact_resnet18", 1, 100, 32, batchnorm=True)
    assert n_params(with_bn) == _preact_resnet18_params_by_hand(1, 100, True)
    assert n_params(build_model("preact_resnet18", 3, 10, 32, batchnorm=True)) == 11_171_146
    assert count(with_bn, nn.BatchNorm2d) == 16  # two per block, 8 blocks
    blocks = [m for m in with_bn.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 8
    assert [b.projection for b in blocks] == [False, False, True, False, True, False, True, False]
    assert all(
        not isinstance(b.shortcut, nn.Identity) and b.shortcut.kernel_size == (1, 1) for b in blocks if b.projection
    )


@pytest.mark.parametrize("name", ["preact_resnet18", "resnet18"])
def test_resnet_stems(name):
    big = build_model(name, 3, 10, 224).net
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    assert isinstance(big.maxpool, nn.MaxPool2d) and big.maxpool.stride == 2 and big.maxpool.kernel_size == 3
    small = build_model(name, 1, 10, 32).net
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1) and small.conv1.in_channels == 1
    assert count(small, nn.MaxPool2d) == 0


def test_resnet18_matches_torchvision_reference():
    model = build_model("resnet18", 3, 1000, 224).net.eval()
    assert n_params(model) == 11_689_512
    reference = torchvision.models.resnet18(weights=None).eval()
    assert n_params(reference) == 11_689_512
    model.load_state_dict(reference.state_dict(), strict=True)  # same names and shapes
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_resnet18_batchnorm_switch():
    with_bn = build_model("resnet18", 3, 10, 32)
    assert count(with_bn, nn.BatchNorm2d) == 20
    without = build_model("resnet18", 3, 10, 32, batchnorm=False)
    assert count(without, nn.modules.batchnorm._BatchNorm) == 0
    assert n_params(with_bn) - n_params(without) == 2 * 4800  # weight+bias of 4800 BN channels


def _ref_preact_block(block: PreActBlock, x: torch.Tensor, batchnorm: bool) -> torch.Tensor:
    """The block written out with functional ops from its documented formula."""

    def bn(mod, t):
        if not batchnorm:
            return t
        return (t - mod.running_mean.view(1, -1, 1, 1)) / torch.sqrt(
            mod.running_var.view(1, -1, 1, 1) + mod.eps
        ) * mod.weight.view(1, -1, 1, 1) + mod.bias.view(1, -1, 1, 1)

    stride = block.conv1.stride
    a = torch.clamp(bn(block.bn1, x), min=0)
    h = F.conv2d(a, block.conv1.weight, stride=stride, padding=1)
    h = F.conv2d(torch.clamp(bn(block.bn2, h), min=0), block.conv2.weight, padding=1)
    skip = F.conv2d(a, block.shortcut.weight, stride=stride) if block.projection else x
    return skip + h


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("in_planes,planes,stride", [(8, 8, 1), (8, 16, 2)])
def test_preact_block_matches_documented_formula(batchnorm, in_planes, planes, stride):
    gen = torch.Generator().manual_seed(0)
    block = PreActBlock(in_planes, planes, stride=stride, batchnorm=batchnorm).eval()
    if batchnorm:
        for bn in (block.bn1, block.bn2):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
            bn.weight.data.copy_(torch.randn(bn.num_features, generator=gen))
            bn.bias.data.copy_(torch.randn(bn.num_features, generator=gen))
    else:
        assert isinstance(block.bn1, nn.Identity) and isinstance(block.bn2, nn.Identity)
    x = torch.randn(2, in_planes, 8, 8, generator=gen)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, _ref_preact_block(block, x, batchnorm))
        torch.testing.assert_close(out, block.shortcut_path(x) + block.branch(x))
    assert out.shape == (2, planes, 8 // stride, 8 // stride)


# ----------------------------------------------------------------------------------------------- VGG


@pytest.mark.parametrize("name,convs", [("vgg11", 8), ("vgg16", 13)])
def test_vgg_conv_counts_and_batchnorm_variants(name, convs):
    plain = build_model(name, 3, 10, 32).net
    assert count(plain, nn.Conv2d) == convs
    assert count(plain, nn.modules.batchnorm._BatchNorm) == 0
    for bn_model in (build_model(f"{name}_bn", 3, 10, 32).net, build_model(name, 3, 10, 32, batchnorm=True).net):
        seq = leaves(bn_model)
        conv_idx = [i for i, m in enumerate(seq) if isinstance(m, nn.Conv2d)]
        assert len(conv_idx) == convs and count(bn_model, nn.BatchNorm2d) == convs
        for i in conv_idx:
            assert isinstance(seq[i + 1], nn.BatchNorm2d) and seq[i + 1].num_features == seq[i].out_channels
            assert isinstance(seq[i + 2], nn.ReLU)
    # VGG-11 "A": 64 M 128 M 256 256 M 512 512 M 512 512 M
    widths = [m.out_channels for m in plain.modules() if isinstance(m, nn.Conv2d)]
    expected = {
        "vgg11": [64, 128, 256, 256, 512, 512, 512, 512],
        "vgg16": [64, 64, 128, 128, 256, 256, 256] + [512] * 6,
    }
    assert widths == expected[name]


@pytest.mark.parametrize("size,pools,side", [(16, 4, 1), (28, 4, 1), (32, 5, 1), (64, 5, 2)])
def test_vgg_small_head_skips_pools_that_would_empty_the_map(size, pools, side):
    net = build_model("vgg11", 1, 10, size).net
    assert count(net, nn.MaxPool2d) == pools
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 512 * side * side
    assert count(net, nn.Dropout) == 0


@pytest.mark.parametrize("name", ["vgg11", "vgg16", "vgg11_bn", "vgg16_bn"])
def test_vgg_224_parameter_count_matches_torchvision(name):
    with torch.device("meta"):  # shapes only, no memory or init cost
        ours = build_model(name, 3, 1000, 224).net
        reference = getattr(torchvision.models, name)(weights=None)
    assert n_params(ours) == n_params(reference)
    ours_shapes = {k: v.shape for k, v in ours.state_dict().items()}
    ref_shapes = {k: v.shape for k, v in reference.state_dict().items()}
    assert ours_shapes == ref_shapes
    assert count(ours, nn.Dropout) == 2 and isinstance(ours.avgpool, nn.AdaptiveAvgPool2d)


@pytest.mark.slow
def test_vgg11_bn_224_same_function_as_torchvision():
    reference = torchvision.models.vgg11_bn(weights=None, num_classes=10).eval()
    ours = build_model("vgg11_bn", 3, 10, 224).net.eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------- determinism, autograd


@pytest.mark.parametrize("name", ALL_MODELS)
def test_init_model_depends_only_on_seed_and_keeps_global_rng(name):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = init_model(7, name, 3, 10, 32).state_dict()
    b = init_model(7, name, 3, 10, 32).state_dict()
    c = init_model(8, name, 3, 10, 32).state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n not in SMALL_MODELS else n for n in ALL_MODELS]
)
def test_eval_deterministic_and_backward(name):
    model = init_model(0, name, 3, 10, 32)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    x.requires_grad_(True)
    loss = F.cross_entropy(model(x), torch.tensor([1, 2]))
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
