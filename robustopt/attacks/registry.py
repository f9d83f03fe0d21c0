"""The attack registry, :func:`register_attack` and :func:`build_attack`.

An entry is a *factory*: a class or function called with the attack's options (always ``eps``;
``norm`` and anything else the spec names) that returns a callable
``attack(model, x, y) -> x_adv``.  Users add attacks from a file of their own::

    from robustopt.attacks import register_attack

    @register_attack("my_attack")
    class MyAttack:
        def __init__(self, eps, norm="linf"): ...
        def __call__(self, model, x, y): ...

and refer to it from config by ``name`` (with ``module`` naming the file or module to import
first) or by ``_target_`` (an import path; no registration needed).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from robustopt.errors import ConfigError
from robustopt.registry import Registry, import_object

AttackFactory = Callable[..., Callable]

ATTACKS: Registry[AttackFactory] = Registry("attack")

# Keys of an attack spec that are not options of the attack itself.
SPEC_KEYS = ("name", "_target_", "module", "label")


def register_attack(name: str, obj: AttackFactory | None = None, *, overwrite: bool = False):
    """Register an attack factory under ``name``; used bare it is a decorator."""
    return ATTACKS.register(name, obj, overwrite=overwrite)


def load_plugin(module: str) -> None:
    """Import a user's module (dotted name, or a path to a ``.py`` file) so its attacks register.

    Importing is idempotent: a module already imported is not imported again.  A dotted name is
    looked up on ``sys.path`` and then in the current working directory.
    """
    module = str(module)
    if module.endswith(".py") or os.sep in module or "/" in module:
        path = Path(module).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"attack plugin file '{module}' does not exist; give a path to a .py file or a module name")
        key = f"robustopt_plugin_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem}"
        if key in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(key, None)
            raise
        return
    if _import_if_found(module):
        return
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
        if _import_if_found(module):
            return
    raise ConfigError(f"cannot import attack plugin module '{module}'; put it on PYTHONPATH or give the path to its .py file")


def _import_if_found(module: str) -> bool:
    """Import ``module``; False when the module itself (not one of its own imports) is not found."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name not in (module, module.split(".")[0]):
            raise
        return False
    return True


def resolve_factory(spec: Mapping[str, Any]) -> AttackFactory:
    """The factory a spec names (``_target_`` import path, or registry ``name``)."""
    if spec.get("module"):
        load_plugin(spec["module"])
    if spec.get("_target_"):
        return import_object(str(spec["_target_"]))
    if not spec.get("name"):
        raise ConfigError(
            f"an attack spec needs 'name' (one of: {', '.join(ATTACKS.names())}) or '_target_' (an import path), got {dict(spec)}"
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
            unknown = sorted(set(kwargs) - set(params))
            if unknown:
                raise ConfigError(
                    f"attack '{what}' has no option(s) {', '.join(unknown)}; its options are: {', '.join(params) or 'none'}"
                )
        missing = [
            k
            for k, p in params.items()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in kwargs
        ]
        if missing:
            raise ConfigError(f"attack '{what}' needs option(s) {', '.join(missing)}; add them to its spec")
    return factory(**kwargs)
