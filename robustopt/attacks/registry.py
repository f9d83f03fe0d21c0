"""The attack registry, :func:`register_attack` and :func:`build_attack`.

An entry is a *factory*: a class or function called with the attack's options (always ``eps``;
``norm`` and anything else the spec names) that returns a callable
``attack(model, x, y) -> x_adv``.  Users add attacks from a file of their own::

    from robustopt.attacks import register_attack

    @register_attack("my_attack")
    class MyAttack:
        def __init__(self, eps, norm="linf"): ...
        def __call__(self, model, x, y): ...

and refer to it from config by ``name`` (with the file loaded first: a top-level ``plugins: [my_attacks.py]``,
the evaluation's ``plugins`` or the spec's ``module``) or by ``_target_`` (an import path; no registration
needed).  See docs/plugins.md.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from robustopt.errors import ConfigError
from robustopt.registry import Registry, check_options, import_object, load_plugin

AttackFactory = Callable[..., Callable]

ATTACKS: Registry[AttackFactory] = Registry("attack")

# Keys of an attack spec that are not options of the attack itself.
SPEC_KEYS = ("name", "_target_", "module", "label")


def register_attack(name: str, obj: AttackFactory | None = None, *, overwrite: bool = False):
    """Register an attack factory under ``name``; used bare it is a decorator."""
    return ATTACKS.register(name, obj, overwrite=overwrite)


def resolve_factory(spec: Mapping[str, Any]) -> AttackFactory:
    """The factory a spec names (``_target_`` import path, or registry ``name``)."""
    if spec.get("module"):
        load_plugin(spec["module"])
    if spec.get("_target_"):
        return import_object(str(spec["_target_"]))
    if not spec.get("name"):
        raise ConfigError(
            f"an attack spec needs 'name' (one of: {', '.join(ATTACKS.names())}) or '_target_' (an import path), got "
            f"{dict(spec)}"
        )
    return ATTACKS.get(str(spec["name"]))


def attack_options(spec: Mapping[str, Any]) -> dict:
    """The options a spec passes to its factory (everything but name, _target_, module, label)."""
    return {k: v for k, v in spec.items() if k not in SPEC_KEYS}


def build_attack(spec: str | Mapping[str, Any], **overrides: Any) -> Callable:
    """Build an attack from a registered name or a spec dict, e.g.
    ``build_attack({"name": "pgd", "norm": "l2", "steps": 100}, eps=0.5)``.

    Unknown or missing options raise ConfigError listing the factory's options.
    """
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    spec.update(overrides)
    factory = resolve_factory(spec)
    kwargs = attack_options(spec)
    what = spec.get("_target_") or spec.get("name")
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins / C callables: just call
        sig = None
    if sig is not None:
        params = {k: p for k, p in sig.parameters.items() if k != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            check_options(f"attack '{what}'", kwargs, params)
        missing = [
            k
            for k, p in params.items()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in kwargs
        ]
        if missing:
            raise ConfigError(f"attack '{what}' needs option(s) {', '.join(missing)}; add them to its spec")
    return factory(**kwargs)
