"""The optimizer registry, its built-in entries (the optimizer zoo) and :func:`build_optimizer`.

Built in: torch.optim's SGD (also as ``momentum`` / ``nesterov`` presets), Adagrad, Adadelta, RMSprop, Adam, AdamW,
NAdam, Adamax, RAdam; robustopt's signSGD; and, from the PyPI package ``pytorch-optimizer`` (imported on the
registry's first lookup), LAMB, Lion, Shampoo, ScalableShampoo and the two wrappers Lookahead and SAM.  No update
rule is written here: every entry is torch's or that package's class, or a builder that configures one.

A wrapper takes its base optimizer as ``base``: a registered name (built with that optimizer's own defaults) or a
dict ``{"name": ..., <option>: <value>}``::

    build_optimizer("lookahead", params, base={"name": "adam", "lr": 1e-3}, k=5, alpha=0.5)
    build_optimizer("sam", params, base="sgd", rho=0.05)

An optimizer whose ``step`` needs a closure (SAM: a second forward/backward pass at the perturbed weights) is
marked ``requires_closure = True`` (:func:`needs_closure`); :func:`robustopt.train.fit` passes it one.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

import torch

from robustopt.errors import ConfigError
from robustopt.optim.shampoo import scalable_shampoo_class
from robustopt.optim.signsgd import SignSGD
from robustopt.registry import Registry, check_options

#: Registered names that wrap another optimizer (their ``base`` option).
WRAPPERS = ("lookahead", "sam")

# Options that only make sense for torch internals; not offered in configs.  ``fused`` is offered: torch's fused
# Adam/AdamW/SGD kernels run the same update rule in one pass (on the CPU, Adam's step on c2 takes about 3 ms instead
# of 12-25 ms: a third of a bf16 training step), equal to the default implementation up to float rounding.
_HIDDEN = {"params", "foreach", "maximize", "capturable", "differentiable", "decoupled_weight_decay"}


def sgd_momentum(params, lr: float = 0.01, momentum: float = 0.9, dampening: float = 0.0, weight_decay: float = 0.0):
    """SGD with heavy-ball momentum (Polyak 1964), ``torch.optim.SGD(momentum=...)``."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)


def sgd_nesterov(params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0):
    """SGD with Nesterov momentum (Nesterov 1983; Sutskever et al. 2013), ``torch.optim.SGD(nesterov=True)``."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)


def lookahead(params, base: Any = "adam", k: int = 5, alpha: float = 0.5, pullback_momentum: str = "none"):
    """Lookahead (Zhang et al. 2019, "Lookahead optimizer: k steps forward, 1 step back"): every ``k`` steps of
    the ``base`` optimizer the slow weights move ``alpha`` of the way to the fast ones
    (``pytorch_optimizer.Lookahead``; its state, the slow weights included, is in ``state_dict()``)."""
    from pytorch_optimizer import Lookahead

    inner = build_optimizer_spec(base, params, what="lookahead's base")
    try:
        opt = Lookahead(inner, k=int(k), alpha=float(alpha), pullback_momentum=str(pullback_momentum))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"optimizer 'lookahead' rejected its options (k={k}, alpha={alpha}, "
            f"pullback_momentum={pullback_momentum}): {exc}"
        ) from None
    opt.requires_closure = needs_closure(inner)
    return opt


def sam(params, base: Any = "sgd", rho: float = 0.05, adaptive: bool = False):
    """Sharpness-aware minimisation (Foret et al. 2021, "Sharpness-aware minimization for efficiently improving
    generalization"; ``adaptive=True``: ASAM, Kwon et al. 2021): each step perturbs the weights by ``rho`` along
    the normalised gradient, recomputes the gradient there (the closure) and lets ``base`` step with it from
    the unperturbed weights (``pytorch_optimizer.SAM``).  ``base`` must be a plain optimizer, not a wrapper."""
    from pytorch_optimizer import SAM

    name, options = _split_spec(base, "sam's base")
    if name in WRAPPERS:
        raise ConfigError(
            f"sam's base must be a plain optimizer, not the wrapper '{name}'; "
            f"wrap sam in lookahead instead (optimizer=lookahead optimizer.base=...)"
        )
    cls = OPTIMIZERS.get(name)
    options = _checked(name, options)
    try:
        opt = SAM(params, cls, rho=float(rho), adaptive=bool(adaptive), **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"optimizer 'sam' (base '{name}') rejected its options {options}: {exc}") from None
    opt.requires_closure = True
    return opt


def _load_package_optimizers() -> None:
    """The entries backed by pytorch-optimizer (importing it takes about a second, so only on first lookup)."""
    import pytorch_optimizer as po

    for name, cls in (
        ("lamb", po.Lamb),
        ("lion", po.Lion),
        ("shampoo", po.Shampoo),
        ("scalable_shampoo", scalable_shampoo_class()),
    ):
        OPTIMIZERS.register(name, cls)


OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer", builtins=_load_package_optimizers)
OPTIMIZERS.register("sgd", torch.optim.SGD)
OPTIMIZERS.register("momentum", sgd_momentum)
OPTIMIZERS.register("nesterov", sgd_nesterov)
OPTIMIZERS.register("adam", torch.optim.Adam)
OPTIMIZERS.register("adamw", torch.optim.AdamW)
OPTIMIZERS.register("nadam", torch.optim.NAdam)
OPTIMIZERS.register("adamax", torch.optim.Adamax)
OPTIMIZERS.register("radam", torch.optim.RAdam)
OPTIMIZERS.register("rmsprop", torch.optim.RMSprop)
OPTIMIZERS.register("adagrad", torch.optim.Adagrad)
OPTIMIZERS.register("adadelta", torch.optim.Adadelta)
OPTIMIZERS.register("signsgd", SignSGD)
OPTIMIZERS.register("lookahead", lookahead)
OPTIMIZERS.register("sam", sam)
register_optimizer = OPTIMIZERS.register


def optimizer_options(name: str) -> list[str]:
    """The hyper-parameters optimizer ``name`` accepts."""
    sig = inspect.signature(OPTIMIZERS.get(name))
    return [
        p.name
        for p in sig.parameters.values()
        if p.name not in _HIDDEN
        and p.name not in ("self", "defaults")
        and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` must be given a closure that recomputes the loss and its gradients (SAM, or a
    wrapper around it; a plugin optimizer says so with a ``requires_closure = True`` attribute)."""
    return bool(getattr(optimizer, "requires_closure", False))


def build_optimizer(name: str, params: Iterable, **hparams: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` with the given hyper-parameters."""
    cls = OPTIMIZERS.get(name)
    hparams = _checked(name, hparams)
    try:
        return cls(params, **hparams)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"optimizer '{name}' rejected its hyper-parameters {hparams}: {exc}") from None


def build_optimizer_spec(spec: Any, params: Iterable, what: str = "optimizer") -> torch.optim.Optimizer:
    """Build an optimizer from a name or a dict ``{"name": ..., <option>: <value>}`` (a config's ``optimizer``)."""
    name, options = _split_spec(spec, what)
    return build_optimizer(name, params, **options)


def _split_spec(spec: Any, what: str) -> tuple[str, dict]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        options = dict(spec)
        return options.pop("name"), options
    raise ConfigError(f"{what} must be an optimizer name or a dict with a 'name' and its options, got {spec!r}")


def _checked(name: str, hparams: dict) -> dict:
    """``hparams`` checked against optimizer ``name``'s options (lists of betas become tuples)."""
    check_options(f"optimizer '{name}'", hparams, optimizer_options(name))
    hparams = dict(hparams)
    if hparams.get("betas") is not None:
        hparams["betas"] = tuple(hparams["betas"])
    lr = hparams.get("lr")
    if lr is not None and not float(lr) > 0:
        raise ConfigError(f"optimizer '{name}': lr must be > 0, got {lr}")
    return hparams
