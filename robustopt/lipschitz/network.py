"""Lipschitz bounds of whole networks: per-layer norms, a certified upper bound, an empirical lower bound.

The network is walked as the computation it really is: ``torch.fx`` traces ``forward`` (stopping
at every module type that has a rule, see :mod:`robustopt.lipschitz.rules`), a dummy forward pass
gives every layer its real input shape, and bounds are propagated through the graph with respect
to the network input: a layer multiplies the bound of its input by its own constant, a sum adds
the bounds of its terms.  A residual block ``y = s(a(x)) + b(a(x))`` thus gets
``L(a) (L(s) + L(b))``, a sequence the product of its layers.

:func:`upper_bound` is certified (per-layer certified bounds throughout); :func:`network_bound`
also gives the same composition with the per-layer operator norms (``norm``).  :func:`lower_bound`
gives an empirical lower bound from input Jacobians and a short gradient ascent of
``||f(x') - f(x)|| / ||x' - x||``.  The paper's own quantity (reshaped kernels, pooling counted as 1)
is :func:`robustopt.lipschitz.paper_bound`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.fx as fx
from torch import nn

from robustopt.errors import ConfigError
from robustopt.io import atomic_write_json, read_json
from robustopt.lipschitz.rules import (
    FUNCTION_RULES,
    ONE,
    ZERO,
    LayerBound,
    OpCall,
    RuleContext,
    TensorArg,
    find_rule,
    function_key,
    missing_rule_error,
)

CACHE_VERSION = 2  # 2: no reshaped-kernel values, keys named after their quantity


class _Tracer(fx.Tracer):
    """Traces through every module without a Lipschitz rule; modules with one stay single nodes."""

    def __init__(self) -> None:
        super().__init__()
        self._stack: list[str] = []
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if find_rule(m) is not None:
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        self._stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self._stack[-1]
            raise
        finally:
            self._stack.pop()


def trace(model: nn.Module) -> fx.GraphModule:
    """``model`` as an ``fx.GraphModule`` whose leaves are the modules with Lipschitz rules."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:
        where = tracer.failed_in or ""
        module = model.get_submodule(where) if where else model
        raise ConfigError(
            f"cannot follow the forward pass of module '{where or '<root>'}' ({type(module).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); register a Lipschitz rule for "
            f"{type(module).__name__} with @robustopt.lipschitz.register_rule({type(module).__name__})"
        ) from None
    return fx.GraphModule(model, graph)


def _per_sample_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return None if shape is None else tuple(int(s) for s in shape[1:])


def _is_tensor_valued(node: fx.Node) -> bool:
    """True when the node's value holds tensors (shape propagation recorded tensor metadata)."""
    return "tensor_meta" in node.meta


def _replace_tensors(value: Any, tensors: list[fx.Node]) -> Any:
    """Replace tensor-valued nodes in (nested) call arguments by :class:`TensorArg` indices."""
    if isinstance(value, fx.Node):
        if not _is_tensor_valued(value):
            return value  # a non-tensor value (e.g. a size); does not depend on the input's values
        tensors.append(value)
        return TensorArg(len(tensors) - 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_replace_tensors(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _replace_tensors(v, tensors) for k, v in value.items()}
    return value


def _max_bound(a: LayerBound | None, b: LayerBound) -> LayerBound:
    if a is None:
        return b
    return LayerBound(max(a.norm, b.norm), max(a.upper, b.upper))


@dataclass
class NetworkBound:
    """Lipschitz bounds of a network (L2 -> L2, pixels to logits).

    ``total.upper`` is the certified upper bound, ``total.norm`` the same composition (products along
    the graph, sums at residual additions) with the per-layer operator norms; ``layers`` maps module
    names (``model.named_modules()``; functional ops by their graph node name) to their own
    :class:`LayerBound`.
    """

    total: LayerBound
    layers: dict[str, LayerBound]
    input_shape: tuple[int, ...]
    seconds: float = 0.0
    cached: bool = False
    layer_types: dict[str, str] = field(default_factory=dict)

    @property
    def upper(self) -> float:
        return self.total.upper

    def as_dict(self) -> dict:
        return {
            "certified_upper_bound": self.total.upper,
            "operator_norm_product": self.total.norm,
            "layers": {k: {**v.as_dict(), "type": self.layer_types.get(k, "")} for k, v in self.layers.items()},
            "input_shape": list(self.input_shape),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkBound":
        layers = {k: LayerBound(v["norm"], v["upper"]) for k, v in d["layers"].items()}
        return cls(
            total=LayerBound(d["operator_norm_product"], d["certified_upper_bound"]),
            layers=layers,
            input_shape=tuple(d["input_shape"]),
            seconds=float(d.get("seconds", 0.0)),
            cached=True,
            layer_types={k: v.get("type", "") for k, v in d["layers"].items()},
        )


def _first_tensor(model: nn.Module) -> torch.Tensor | None:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t
    return None


def _cache_key(model: nn.Module, input_shape: tuple[int, ...], options: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "shape": list(input_shape), "options": options}, sort_keys=True).encode())
    h.update(repr(model).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:24]


def network_bound(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    method: str = "lanczos",
    rtol: float = 1e-5,
    gram_rtol: float = 1e-4,
    seed: int = 0,
    certified: str = "eigh",
    cache_dir: str | Path | None = None,
) -> NetworkBound:
    """Per-layer bounds and their composition for per-sample inputs of shape ``input_shape``.

    Args:
        model: any network built from layers with rules (BatchNorm is taken in eval mode).
        input_shape: ``(C, H, W)`` (or ``(features,)``).
        method, rtol: iterative method and tolerance for operator norms (see :func:`conv_norms`).
        gram_rtol, certified: how the certified conv bounds bound the torus's per-frequency blocks
            (``eigh``: exact LAPACK eigenvalues plus a rounding margin; ``gram``: Gram iteration to ``gram_rtol``).
        seed: start vectors of the iterations (no global RNG is used).
        cache_dir: if given, results are stored in / read from ``cache_dir/lipschitz-<key>.json``,
            the key hashing the state dict, the architecture, the input shape and the options.

    Raises:
        ConfigError: a layer type or function without a rule, or a forward pass that cannot be traced.
    """
    input_shape = tuple(int(s) for s in input_shape)
    options = {"method": method, "rtol": rtol, "gram_rtol": gram_rtol, "seed": seed, "certified": certified}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"lipschitz-{_cache_key(model, input_shape, options)}.json"
        hit = read_json(path)
        if hit is not None:
            return NetworkBound.from_dict(hit)
    start = time.perf_counter()
    gm = _traced_with_shapes(model, input_shape)
    walk = _BoundWalk(gm, (method, rtol, gram_rtol, seed, certified))
    total = walk.run()
    nb = NetworkBound(total, walk.layers, input_shape, time.perf_counter() - start, False, walk.layer_types)
    if path is not None:
        atomic_write_json(path, nb.as_dict())
    return nb


def _traced_with_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> fx.GraphModule:
    """``model``'s graph (:func:`trace`) with every node's shape from a dummy forward pass of one ``input_shape``
    sample, in eval mode (each module's mode restored afterwards)."""
    gm = trace(model)
    ref = _first_tensor(model)
    dummy = torch.zeros((1, *input_shape), dtype=ref.dtype if ref is not None else torch.float32)
    if ref is not None:
        dummy = dummy.to(ref.device)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        from torch.fx.passes.shape_prop import ShapeProp

        with torch.no_grad():
            ShapeProp(gm).propagate(dummy)
    finally:
        for m, was in modes.items():
            m.training = was
    return gm


class _BoundWalk:
    """The bounds of a shaped graph's nodes, in graph order, with respect to the network input; each layer's own
    bound in ``layers`` (the largest when a layer is used twice) and its type in ``layer_types``."""

    def __init__(self, gm: fx.GraphModule, rule_options: tuple) -> None:
        self.gm = gm
        self.rule_options = rule_options  # method, rtol, gram_rtol, seed, certified (RuleContext's order)
        self.bounds: dict[fx.Node, LayerBound] = {}
        self.layers: dict[str, LayerBound] = {}
        self.layer_types: dict[str, str] = {}

    def run(self) -> LayerBound:
        """The bound of the graph's output."""
        result: LayerBound | None = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.bounds[node] = ONE if not self.bounds else ZERO
            elif node.op == "get_attr":
                self.bounds[node] = ZERO
            elif node.op == "call_module":
                self.bounds[node] = self._module(node)
            elif node.op in ("call_function", "call_method"):
                self.bounds[node] = self._function(node)
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node):
                    raise ConfigError(
                        "the model returns several tensors; Lipschitz bounds need a model with one output"
                    )
                result = self.bounds[out]
        if result is None:  # pragma: no cover - fx graphs always end in an output node
            raise ConfigError("the traced model has no output")
        return result

    def _module(self, node: fx.Node) -> LayerBound:
        """A module with a rule: its own bound times its input's."""
        module = self.gm.get_submodule(node.target)
        rule = find_rule(module)
        if rule is None:
            raise missing_rule_error(module, node.target)
        tensors: list[fx.Node] = []
        _replace_tensors((node.args, node.kwargs), tensors)
        if len(tensors) != 1:
            raise ConfigError(
                f"module '{node.target}' ({type(module).__name__}) takes {len(tensors)} tensors; only one-input "
                f"layers have module rules, register a function rule or restructure the model"
            )
        own = rule(module, RuleContext(_per_sample_shape(tensors[0]), str(node.target), *self.rule_options))
        self.layers[str(node.target)] = _max_bound(self.layers.get(str(node.target)), own)
        self.layer_types[str(node.target)] = type(module).__name__
        return own * self.bounds[tensors[0]]

    def _function(self, node: fx.Node) -> LayerBound:
        """A function or method: its rule's bound from its inputs' (ZERO for a non-tensor or constant result)."""
        if not _is_tensor_valued(node):
            return ZERO  # a non-tensor result (size, shape arithmetic)
        tensors: list[fx.Node] = []
        args = _replace_tensors(tuple(node.args), tensors)
        kwargs = _replace_tensors(dict(node.kwargs), tensors)
        inputs = [self.bounds[t] for t in tensors]
        if all(b.upper == 0 and b.norm == 0 for b in inputs):
            return ZERO  # depends on constants only
        name = function_key(node.target, node.op == "call_method")
        if name not in FUNCTION_RULES:
            raise ConfigError(
                f"no Lipschitz rule for function '{name}' (graph node '{node.name}'); register one with "
                f"`@robustopt.lipschitz.register_function_rule('{name}')` on `rule(call: OpCall) -> LayerBound`"
            )

        def record(own: LayerBound, _key: str = node.name, _name: str = name) -> None:
            self.layers[_key] = _max_bound(self.layers.get(_key), own)
            self.layer_types[_key] = _name

        call = OpCall(
            name, args, kwargs, inputs, [_per_sample_shape(t) for t in tensors],
            RuleContext((), node.name, *self.rule_options), record,
        )  # fmt: skip
        return FUNCTION_RULES.get(name)(call)


def layer_bounds(model: nn.Module, input_shape: Sequence[int], **options: Any) -> dict[str, LayerBound]:
    """Every layer's :class:`LayerBound` (operator norm, certified upper bound), by module name."""
    return network_bound(model, input_shape, **options).layers


def layer_spectral_norms(model: nn.Module, input_shape: Sequence[int], **options: Any) -> dict[str, float]:
    """Every layer's L2 operator norm for its real input shape, keyed by its name in ``model.named_modules()``.

    Functional linear ops (e.g. ``F.avg_pool2d`` in ``forward``) appear under their graph node name.
    """
    return {k: v.norm for k, v in layer_bounds(model, input_shape, **options).items()}


def upper_bound(model: nn.Module, input_shape: Sequence[int], **options: Any) -> float:
    """A certified upper bound on the network's L2 Lipschitz constant (see :func:`network_bound`)."""
    return network_bound(model, input_shape, **options).total.upper


@dataclass
class LowerBound:
    """Empirical lower bounds on the L2 Lipschitz constant of ``x -> model(x)`` (logits).

    ``jacobian``: the largest spectral norm of the input Jacobian over the samples;
    ``logit_gradient``: the largest input-gradient norm of one logit; ``margin_gradient``: the
    largest input-gradient norm of the logit margin (top minus runner-up; a lower bound once divided
    by ``sqrt(2)``); ``ascent_ratio``: the largest ``||f(x') - f(x)|| / ||x' - x||`` found by gradient
    ascent on ``x'``; ``value``: the largest of the valid bounds.
    """

    value: float
    jacobian: float
    logit_gradient: float
    margin_gradient: float
    ascent_ratio: float
    n_samples: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _batch_norms(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1)


def lower_bound(
    model: nn.Module,
    x: torch.Tensor,
    *,
    steps: int = 20,
    step_size: float = 0.25,
    radius: float = 1e-2,
    batch_size: int = 64,
    seed: int = 0,
) -> LowerBound:
    """An empirical lower bound on the network's L2 Lipschitz constant from the samples ``x``.

    For each sample: the input Jacobian's spectral norm (one backward pass per logit), the gradient
    norms of each logit and of the logit margin, then ``steps`` of normalised gradient ascent on
    ``log ||f(x') - f(x)|| / ||x' - x||`` started at ``x' = x + radius v`` along the Jacobian's top
    right singular vector (``step_size`` relative to ``||x' - x||``).  The model runs in eval mode
    (restored afterwards); ``seed`` only breaks ties for zero Jacobians.
    """
    device = next(iter(list(model.parameters()) + list(model.buffers())), torch.zeros(())).device
    dtype = (_first_tensor(model) if _first_tensor(model) is not None else torch.zeros(())).dtype
    gen = torch.Generator().manual_seed(int(seed))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    best = {"jacobian": 0.0, "logit_gradient": 0.0, "margin_gradient": 0.0, "ascent_ratio": 0.0}
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device=device, dtype=dtype)
            if xb.numel() == 0:
                continue
            xr = xb.clone().requires_grad_(True)
            with torch.enable_grad():
                out = model(xr)
                if out.dim() != 2:
                    raise ConfigError(
                        f"lower_bound needs (N, classes) logits, the model returns shape {tuple(out.shape)}"
                    )
                rows = [
                    torch.autograd.grad(out[:, k].sum(), xr, retain_graph=k < out.shape[1] - 1)[0].flatten(1)
                    for k in range(out.shape[1])
                ]
            jac = torch.stack(rows, dim=1).double()  # (B, K, d)
            gram = jac @ jac.transpose(1, 2)
            evals, evecs = torch.linalg.eigh(gram)
            best["jacobian"] = max(best["jacobian"], float(evals[:, -1].clamp_min(0).sqrt().max()))
            best["logit_gradient"] = max(best["logit_gradient"], float(jac.norm(dim=2).max()))
            if out.shape[1] >= 2:
                top2 = out.detach().topk(2, dim=1).indices
                idx = torch.arange(jac.shape[0])
                margin = jac[idx, top2[:, 0]] - jac[idx, top2[:, 1]]
                best["margin_gradient"] = max(best["margin_gradient"], float(margin.norm(dim=1).max()))
            # gradient ascent on the difference quotient, from the top right singular vector
            direction = (evecs[:, :, -1:].transpose(1, 2) @ jac).squeeze(1)  # (B, d)
            fallback = torch.randn(direction.shape, generator=gen, dtype=direction.dtype)
            zero = direction.norm(dim=1, keepdim=True) == 0
            direction = torch.where(zero, fallback, direction)
            direction = direction / direction.norm(dim=1, keepdim=True)
            delta = (radius * direction).reshape(xb.shape).to(dtype)
            with torch.no_grad():
                f0 = model(xb)
            for _ in range(max(int(steps), 0) + 1):
                delta = delta.detach().requires_grad_(True)
                with torch.enable_grad():
                    ratio = _batch_norms(model(xb + delta) - f0) / _batch_norms(delta)
                    best["ascent_ratio"] = max(best["ascent_ratio"], float(ratio.detach().max()))
                    (g,) = torch.autograd.grad(ratio.clamp_min(1e-30).log().sum(), delta)
                gnorm = _batch_norms(g).clamp_min(1e-30).view(-1, *[1] * (g.dim() - 1))
                dnorm = _batch_norms(delta.detach()).view(-1, *[1] * (g.dim() - 1))
                delta = delta.detach() + step_size * dnorm * g / gnorm
    finally:
        for m, was in modes.items():
            m.training = was
    value = max(best["jacobian"], best["logit_gradient"], best["margin_gradient"] / math.sqrt(2), best["ascent_ratio"])
    return LowerBound(value=value, n_samples=int(x.shape[0]), **best)


__all__ = [
    "LowerBound",
    "NetworkBound",
    "layer_bounds",
    "layer_spectral_norms",
    "lower_bound",
    "network_bound",
    "trace",
    "upper_bound",
]
