"""Per-layer Lipschitz rules, looked up by layer type (module rules) or function name (function rules).

A **module rule** gets the module and a :class:`RuleContext` (the module's real per-sample input
shape and the options) and returns the module's own :class:`LayerBound`.  Register one for your own
layer type with :func:`register_rule`::

    from robustopt.lipschitz import LayerBound, register_rule

    @register_rule(MyLayer)
    def my_layer_rule(module, ctx):
        c = float(module.scale.abs().max())
        return LayerBound(c, c)  # (norm, certified upper bound)

A module type with a rule is treated as one layer; modules without one are traced through
(:mod:`robustopt.lipschitz.network`).  A built-in ``torch.nn`` layer without a rule is an error.

A **function rule** (``torch.relu``, ``operator.add``, ``Tensor.view`` ...) gets an :class:`OpCall`
and returns the bound of the op's *output* with respect to the network input; most are unary and
use :func:`unary_function_rule`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from robustopt.errors import ConfigError
from robustopt.lipschitz.conv import ROUNDING_MARGIN, conv_norms, reshaped_kernel_norm
from robustopt.lipschitz.operators import TensorOperator, lanczos_norm, schur_bound
from robustopt.models.layers import Normalize
from robustopt.registry import Registry


@dataclass(frozen=True)
class LayerBound:
    """Lipschitz numbers of one layer (or of a composition), both for the L2 norm.

    * ``norm``: the operator norm (exact, or an iterative estimate that approaches it from below);
    * ``upper``: a certified upper bound (>= the true Lipschitz constant).

    Bounds compose: ``a * b`` for a composition, ``a + b`` for a sum (residual connection).  The
    paper's own quantity is not one of these: see :func:`robustopt.lipschitz.paper_bound`.
    """

    norm: float
    upper: float

    @classmethod
    def constant(cls, value: float) -> "LayerBound":
        """A layer whose Lipschitz constant is known exactly."""
        return cls(float(value), float(value))

    def _zip(self, other: "LayerBound", fn: Callable[[float, float], float]) -> "LayerBound":
        return LayerBound(fn(self.norm, other.norm), fn(self.upper, other.upper))

    def __mul__(self, other: "LayerBound | float") -> "LayerBound":
        if not isinstance(other, LayerBound):
            other = LayerBound.constant(other)
        return self._zip(other, operator.mul)

    __rmul__ = __mul__

    def __add__(self, other: "LayerBound") -> "LayerBound":
        return self._zip(other, operator.add)

    def as_dict(self) -> dict:
        return {"norm": self.norm, "upper": self.upper}


ONE = LayerBound.constant(1.0)
ZERO = LayerBound.constant(0.0)


@dataclass
class RuleContext:
    """What a module rule may use: the per-sample input shape and the computation options.

    ``method`` (``lanczos`` | ``power`` | ``dense``) and ``rtol`` are for iterative norms, ``gram_rtol``
    and ``certified`` (``eigh`` | ``gram``) for the certified conv bound, ``seed`` for start vectors.
    """

    input_shape: tuple[int, ...]
    name: str = ""
    method: str = "lanczos"
    rtol: float = 1e-5
    gram_rtol: float = 1e-4
    seed: int = 0
    certified: str = "eigh"


@dataclass
class OpCall:
    """One call of a function or tensor method in the traced network, for a function rule.

    ``args``/``kwargs`` hold the call's arguments with every tensor argument replaced by its index
    in ``inputs`` (``TensorArg``); ``inputs[i]`` is the bound of the i-th tensor argument with respect
    to the network input (:data:`ZERO` for constants) and ``shapes[i]`` its per-sample shape.
    """

    name: str
    args: tuple
    kwargs: dict
    inputs: list[LayerBound]
    shapes: list[tuple[int, ...]]
    ctx: RuleContext = field(default_factory=lambda: RuleContext(()))
    record: Callable[[LayerBound], None] | None = None  # report the op's own bound as a layer


@dataclass(frozen=True)
class TensorArg:
    """Placeholder for a tensor argument in :attr:`OpCall.args`."""

    index: int


ModuleRule = Callable[[nn.Module, RuleContext], LayerBound]
FunctionRule = Callable[[OpCall], LayerBound]

MODULE_RULES: Registry[ModuleRule] = Registry("Lipschitz layer rule")
FUNCTION_RULES: Registry[FunctionRule] = Registry("Lipschitz function rule")


def type_key(cls: type) -> str:
    """The registry key of a layer type: ``module.QualName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_rule(*types: type, overwrite: bool = False):
    """Decorator: register ``rule(module, ctx) -> LayerBound`` for one or more layer types (and subclasses)."""

    def add(rule: ModuleRule) -> ModuleRule:
        for cls in types:
            MODULE_RULES.register(type_key(cls), rule, overwrite=overwrite)
        return rule

    return add


def register_function_rule(*names: str, overwrite: bool = False):
    """Decorator: register ``rule(call: OpCall) -> LayerBound`` for functions / tensor methods.

    Names are those of :func:`function_key`: ``torch.relu``, ``torch.nn.functional.relu``,
    ``operator.add``, ``Tensor.view`` ...
    """

    def add(rule: FunctionRule) -> FunctionRule:
        for name in names:
            FUNCTION_RULES.register(name, rule, overwrite=overwrite)
        return rule

    return add


def find_rule(module: nn.Module) -> ModuleRule | None:
    """The rule for ``module``'s type or its nearest registered base class, or None."""
    for cls in type(module).__mro__:
        key = type_key(cls)
        if key in MODULE_RULES:
            return MODULE_RULES.get(key)
    return None


def missing_rule_error(module: nn.Module, name: str) -> ConfigError:
    cls = type(module)
    return ConfigError(
        f"no Lipschitz rule for layer type '{type_key(cls)}' (module '{name}'); register one with "
        f"`@robustopt.lipschitz.register_rule({cls.__name__})` on a function `rule(module, ctx) -> LayerBound`"
    )


def function_key(target: Any, is_method: bool) -> str:
    """Registry name of a traced function (``torch.flatten``, ``operator.add``) or method (``Tensor.view``)."""
    if is_method:
        return f"Tensor.{target}"
    name = torch.overrides.resolve_name(target)
    if name is None:
        name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__name__', repr(target))}"
    return name.replace("_operator.", "operator.").replace("torch.Tensor.", "Tensor.")


# ----------------------------------------------------------------------------------------------
# module rules


@register_rule(nn.Linear)
def linear_rule(module: nn.Linear, ctx: RuleContext) -> LayerBound:
    """Linear: the largest singular value of the weight (LAPACK SVD; the certified bound adds a rounding margin)."""
    sigma = reshaped_kernel_norm(module.weight)
    return LayerBound(sigma, sigma * (1.0 + ROUNDING_MARGIN))


@register_rule(nn.Conv2d)
def conv2d_rule(module: nn.Conv2d, ctx: RuleContext) -> LayerBound:
    """Conv2d: operator norm for the real input shape and a certified bound."""
    res = conv_norms(
        module, ctx.input_shape, method=ctx.method, rtol=ctx.rtol, seed=ctx.seed, gram_rtol=ctx.gram_rtol,
        certified=ctx.certified,
    )  # fmt: skip
    return LayerBound(res.norm, res.upper)


@register_rule(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
def batchnorm_rule(module: nn.modules.batchnorm._BatchNorm, ctx: RuleContext) -> LayerBound:
    """BatchNorm in eval mode: the diagonal map ``gamma / sqrt(running_var + eps)``; norm = its largest |entry|."""
    if module.running_var is None:
        raise ConfigError(
            f"BatchNorm '{ctx.name}' has no running statistics (track_running_stats=False), so it is not a fixed map "
            "in eval mode; register a custom rule for it"
        )
    scale = 1.0 / torch.sqrt(module.running_var.detach().double() + module.eps)
    if module.weight is not None:
        scale = scale * module.weight.detach().double().abs()
    return LayerBound.constant(float(scale.max()) if scale.numel() else 0.0)


@register_rule(Normalize)
def normalize_rule(module: Normalize, ctx: RuleContext) -> LayerBound:
    """Input normalisation ``(x - mean) / std``: ``1 / min(std)``."""
    return LayerBound.constant(1.0 / float(module.std.min()))


@register_rule(
    nn.ReLU, nn.ReLU6, nn.Tanh, nn.Hardtanh, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
)  # fmt: skip
def one_lipschitz_rule(module: nn.Module, ctx: RuleContext) -> LayerBound:
    """1-Lipschitz layers: ReLU, Tanh, identity, reshapes, dropout in eval mode."""
    return ONE


@register_rule(nn.LeakyReLU)
def leaky_relu_rule(module: nn.LeakyReLU, ctx: RuleContext) -> LayerBound:
    """LeakyReLU: ``max(1, |slope|)``."""
    return LayerBound.constant(max(1.0, abs(float(module.negative_slope))))


@register_rule(nn.Sigmoid)
def sigmoid_rule(module: nn.Sigmoid, ctx: RuleContext) -> LayerBound:
    """Sigmoid: 1/4."""
    return LayerBound.constant(0.25)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _max_coverage(size: int, starts: Sequence[int], stops: Sequence[int]) -> int:
    """The most windows ``[start, stop)`` (clipped to ``[0, size)``) covering one position."""
    count = [0] * max(size, 1)
    for a, b in zip(starts, stops):
        for i in range(max(a, 0), min(b, size)):
            count[i] += 1
    return max(count) if count else 0


def _max_pool_multiplicity(in_hw: Sequence[int], out_hw: Sequence[int], kernel, stride, padding, dilation) -> int:
    """``m`` = the most pooling windows covering one pixel (windows are products of 1-D windows)."""
    m = 1
    for size, out, k, s, p, d in zip(in_hw, out_hw, kernel, stride, padding, dilation):
        starts = [j * s - p for j in range(out)]
        count = [0] * size
        for a in starts:
            for i in range(k):
                pos = a + d * i
                if 0 <= pos < size:
                    count[pos] += 1
        best = max(count) if count else 0
        m *= best
    return m


def _out_hw(module: nn.Module, shape: Sequence[int]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(module(torch.zeros((1, *shape))).shape[-2:])


@register_rule(nn.MaxPool2d)
def max_pool_rule(module: nn.MaxPool2d, ctx: RuleContext) -> LayerBound:
    """Max-pooling: ``sqrt(m)``, ``m`` the most windows covering one pixel (1 for non-overlapping windows).

    ``||maxpool(x) - maxpool(y)||^2 <= sum_windows ||x_W - y_W||_inf^2 <= m ||x - y||^2``, with equality
    when one pixel is the maximum of all ``m`` windows that cover it.
    """
    in_hw = tuple(ctx.input_shape[-2:])
    out_hw = _out_hw(module, ctx.input_shape)
    m = _max_pool_multiplicity(
        in_hw,
        out_hw,
        _pair(module.kernel_size),
        _pair(module.stride or module.kernel_size),
        _pair(module.padding),
        _pair(module.dilation),
    )
    return LayerBound.constant(math.sqrt(m))


def _adaptive_windows(size: int, out: int) -> tuple[list[int], list[int]]:
    starts = [(j * size) // out for j in range(out)]
    stops = [-((-(j + 1) * size) // out) for j in range(out)]
    return starts, stops


@register_rule(nn.AdaptiveMaxPool2d)
def adaptive_max_pool_rule(module: nn.AdaptiveMaxPool2d, ctx: RuleContext) -> LayerBound:
    """Adaptive max-pooling: ``sqrt(m)`` as for :func:`max_pool_rule` (PyTorch's adaptive windows)."""
    in_hw = tuple(ctx.input_shape[-2:])
    out_hw = _out_hw(module, ctx.input_shape)
    m = 1
    for size, out in zip(in_hw, out_hw):
        m *= _max_coverage(size, *_adaptive_windows(size, out))
    return LayerBound.constant(math.sqrt(m))


def channelwise_linear_bound(
    fn: Callable[[torch.Tensor], torch.Tensor], shape: Sequence[int], ctx: RuleContext, nonnegative: bool
) -> LayerBound:
    """Bound of a linear map applied to each channel alike (e.g. average pooling) on ``(C, H, W)`` inputs.

    The map is block diagonal over channels, so its norm is that of the one-channel map: computed by
    Lanczos (adjoint by autograd).  The certified bound is Schur's test for maps with non-negative
    entries, else the Lanczos value itself.
    """
    op = TensorOperator(fn, (1, *tuple(shape)[1:]))
    norm = lanczos_norm(op, rtol=ctx.rtol, seed=ctx.seed)
    upper = max(schur_bound(op), norm) if nonnegative else norm
    return LayerBound(norm, upper)


@register_rule(nn.AvgPool2d, nn.AdaptiveAvgPool2d)
def avg_pool_rule(module: nn.Module, ctx: RuleContext) -> LayerBound:
    """Average pooling (a depthwise convolution with non-negative weights): exact norm (Lanczos /
    dense) and Schur's-test certified bound (exact for equal windows)."""
    return channelwise_linear_bound(module, ctx.input_shape, ctx, nonnegative=True)


# ----------------------------------------------------------------------------------------------
# function rules


def unary_function_rule(op_bound: Callable[[OpCall], LayerBound]) -> FunctionRule:
    """Wrap ``op_bound(call) -> LayerBound of the op itself`` into a function rule for unary ops."""

    def rule(call: OpCall) -> LayerBound:
        if not call.inputs:
            return ZERO
        return op_bound(call) * call.inputs[0]

    rule.__doc__ = op_bound.__doc__
    return rule


@register_function_rule(
    "torch.relu", "torch.relu_", "torch.nn.functional.relu", "Tensor.relu", "Tensor.relu_",
    "torch.flatten", "Tensor.flatten", "Tensor.view", "Tensor.reshape", "torch.reshape", "Tensor.contiguous",
    "torch.nn.functional.dropout", "Tensor.clone", "torch.squeeze", "Tensor.squeeze", "torch.unsqueeze",
    "Tensor.unsqueeze", "torch.tanh", "Tensor.tanh", "torch.nn.functional.relu6", "torch.nn.functional.hardtanh",
    "Tensor.permute", "torch.permute", "Tensor.transpose", "torch.transpose", "Tensor.float", "Tensor.to",
    "operator.neg", "Tensor.neg", "operator.getitem",
)  # fmt: skip
@unary_function_rule
def one_lipschitz_function(call: OpCall) -> LayerBound:
    """1-Lipschitz functions: relu, tanh, reshapes and permutations, indexing, dropout (eval)."""
    return ONE


@register_function_rule("torch.sigmoid", "Tensor.sigmoid")
@unary_function_rule
def sigmoid_function(call: OpCall) -> LayerBound:
    """Sigmoid: 1/4."""
    return LayerBound.constant(0.25)


def _scalar_arg(call: OpCall) -> float | None:
    for a in list(call.args) + list(call.kwargs.values()):
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            return float(a)
    return None


@register_function_rule(
    "operator.add",
    "operator.iadd",
    "torch.add",
    "Tensor.add",
    "Tensor.add_",
    "operator.sub",
    "operator.isub",
    "torch.sub",
    "Tensor.sub",
    "Tensor.sub_",
)
def add_function(call: OpCall) -> LayerBound:
    """Sums (residual connections): ``L(a + b) <= L(a) + L(b)`` (``alpha`` scales the second term)."""
    alpha = abs(float(call.kwargs.get("alpha", 1.0)))
    total = ZERO
    for i, b in enumerate(call.inputs):
        total = total + (b * alpha if i > 0 else b)
    return total


@register_function_rule(
    "operator.mul",
    "operator.imul",
    "torch.mul",
    "Tensor.mul",
    "Tensor.mul_",
    "operator.truediv",
    "torch.div",
    "Tensor.div",
)
def scale_function(call: OpCall) -> LayerBound:
    """Multiplication / division of a tensor by a Python number (products of two tensors have no rule)."""
    c = _scalar_arg(call)
    live = [b for b in call.inputs if b.upper > 0]
    if c is None or len(live) > 1 or len(call.inputs) != 1:
        raise ConfigError(
            f"no Lipschitz rule for '{call.name}' of two tensors; register one with "
            f"@register_function_rule('{call.name}')"
        )
    if call.name in ("operator.truediv", "torch.div", "Tensor.div"):
        c = 1.0 / c
    return call.inputs[0] * abs(c)


@register_function_rule("torch.cat", "torch.concat", "torch.stack")
def cat_function(call: OpCall) -> LayerBound:
    """Concatenation: ``L([f; g]) <= sqrt(L(f)^2 + L(g)^2)``."""

    def root(values: list[float]) -> float:
        return math.sqrt(sum(v * v for v in values))

    bs = call.inputs
    return LayerBound(root([b.norm for b in bs]), root([b.upper for b in bs]))


def _functional_module_rule(factory: Callable[..., nn.Module], arg_names: Sequence[str]) -> FunctionRule:
    """Function rule that rebuilds the module equivalent of a functional call and applies its module rule.

    ``arg_names`` names the functional's positional arguments after the input; the module is built
    from keywords, and the op's own bound is reported through ``call.record``.
    """

    def rule(call: OpCall) -> LayerBound:
        options = dict(zip(arg_names, call.args[1:]))
        options.update(call.kwargs)
        options.pop("return_indices", None)
        module = factory(**options)
        ctx = RuleContext(
            call.shapes[0],
            call.ctx.name,
            call.ctx.method,
            call.ctx.rtol,
            call.ctx.gram_rtol,
            call.ctx.seed,
            call.ctx.certified,
        )
        own = MODULE_RULES.get(type_key(type(module)))(module, ctx)
        if call.record is not None:
            call.record(own)
        return own * call.inputs[0]

    return rule


_POOL_ARGS = ("kernel_size", "stride", "padding")
register_function_rule("torch.nn.functional.avg_pool2d")(
    _functional_module_rule(nn.AvgPool2d, _POOL_ARGS + ("ceil_mode", "count_include_pad", "divisor_override"))
)
register_function_rule("torch.nn.functional.max_pool2d")(
    _functional_module_rule(nn.MaxPool2d, _POOL_ARGS + ("dilation", "ceil_mode", "return_indices"))
)
register_function_rule("torch.nn.functional.adaptive_avg_pool2d")(
    _functional_module_rule(nn.AdaptiveAvgPool2d, ("output_size",))
)
register_function_rule("torch.nn.functional.adaptive_max_pool2d")(
    _functional_module_rule(nn.AdaptiveMaxPool2d, ("output_size", "return_indices"))
)

__all__ = [
    "FUNCTION_RULES",
    "LayerBound",
    "MODULE_RULES",
    "ONE",
    "OpCall",
    "RuleContext",
    "TensorArg",
    "ZERO",
    "channelwise_linear_bound",
    "find_rule",
    "function_key",
    "register_function_rule",
    "register_rule",
    "type_key",
    "unary_function_rule",
]
