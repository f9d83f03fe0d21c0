"""Small name -> object registries (a dict plus a decorator), the plugins that extend them, and the one check
of a component's options.

Attacks, evaluations, models, optimizers, data sets and Lipschitz rules are looked up by name.  An unknown
name raises :class:`~robustopt.errors.ConfigError` listing the known ones.  Users extend any registry from a
file of their own::

    # my_models.py
    from robustopt.models import register_model

    @register_model("my_net")
    def my_net(in_channels, num_classes, image_size): ...

and load it from config before anything is built (``plugins: [my_models.py]``, :func:`load_plugins`).  Where a
name is expected, an import path (``my_models.my_net`` or ``my_models:my_net``) works too, without registering:
:meth:`Registry.get` imports it (like Hydra's ``_target_``).  User modules are imported from ``sys.path`` and,
failing that, from the current working directory.

:func:`check_options` is the one way a component rejects options it does not have: ``<what> has no
option(s) X; its options are: ...``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from robustopt.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of objects of one kind (e.g. ``"model"``)."""

    def __init__(self, kind: str, builtins: Callable[[], None] | None = None) -> None:
        """``builtins``, if given, is called once before the first lookup: it imports the modules
        that register the built-in entries (so importing the registry itself stays cheap)."""
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._builtins = builtins

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            load, self._builtins = self._builtins, None
            load()

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False):
        """Register ``obj`` under ``name``; without ``obj`` this returns a decorator."""

        def add(item: T) -> T:
            if not overwrite and name in self._entries and self._entries[name] is not item:
                raise ConfigError(
                    f"a {self.kind} named '{name}' is already registered; pick another name or pass overwrite=True"
                )
            self._entries[name] = item
            return item

        return add(obj) if obj is not None else add

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry registered as ``name``; an import path (``pkg.module.attr`` / ``pkg.module:attr``) that is
        not a registered name is imported instead."""
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            pass
        if is_import_path(name):
            return import_object(str(name))
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown {self.kind} '{name}'; known {self.kind}s: {', '.join(sorted(self._entries))} "
            f"(or an import path, module.name, or a name registered by a file listed in plugins).{hint}"
        )

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_builtins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def check_options(what: str, given: Iterable[Any], allowed: Iterable[str]) -> None:
    """Raise :class:`ConfigError` when ``given`` holds an option that is not in ``allowed``:
    ``"<what> has no option(s) X; its options are: A, B"`` (``what`` e.g. ``"model 'c2'"``)."""
    allowed = list(allowed)
    unknown = sorted(str(k) for k in given if k not in allowed)
    if not unknown:
        return
    message = f"{what} has no option(s) {', '.join(unknown)}; its options are: {', '.join(allowed) or 'none'}"
    close = difflib.get_close_matches(unknown[0], allowed, n=1) if len(unknown) == 1 else []
    raise ConfigError(message + (f". Did you mean '{close[0]}'?" if close else ""))


# -- user modules -----------------------------------------------------------------------------------------
def is_import_path(name: Any) -> bool:
    """Whether ``name`` reads as an import path (``pkg.module.attr`` or ``pkg.module:attr``), not a plain name."""
    return isinstance(name, str) and ("." in name or ":" in name) and not name.endswith(".py") and "/" not in name


def import_user_module(module: str):
    """Import ``module`` from ``sys.path`` or, failing that, from the current working directory (where a user's
    own files are; ``python experiments/train.py`` puts ``experiments/`` on the path, not the folder it runs in)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name not in (module, module.split(".")[0]):  # the module exists; one of its own imports is missing
            raise
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name not in (module, module.split(".")[0]):
                raise
    raise ConfigError(
        f"cannot import module '{module}'; put it on PYTHONPATH, run from the folder that holds it, "
        f"or give the path to its .py file"
    )


def import_object(path: str) -> Any:
    """Import ``package.module:attr`` or ``package.module.attr`` (used for ``_target_``-style plugins)."""
    module_name, _, attr = str(path).replace(":", ".").rpartition(".")
    if not module_name:
        raise ConfigError(f"'{path}' is not an importable path; write it as 'package.module.name'")
    try:
        module = import_user_module(module_name)
    except ConfigError:
        raise ConfigError(
            f"cannot import module '{module_name}' for '{path}'; put it on PYTHONPATH or run from "
            f"the folder that holds it"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}' (from '{path}')") from None


def load_plugin(module: str | os.PathLike) -> str:
    """Import a user's module (a dotted name, or a path to a ``.py`` file), so that its ``register_*``
    decorators run.  Idempotent: a module already imported is not imported again.  A dotted name is looked up
    on ``sys.path`` and then in the current working directory; a relative file path from the working directory.
    Returns the module's name in ``sys.modules``."""
    module = str(module)
    if module.endswith(".py") or os.sep in module or "/" in module:
        path = Path(module).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"plugin file '{module}' does not exist; give a path to a .py file or a module name")
        # Imported under its own name (my_models.py -> my_models) when that name is free, so that an import path
        # into it (my_models.tiny_mlp, _target_: my_models.X) finds the same module instead of importing it twice.
        key = path.stem
        loaded = sys.modules.get(key)
        if loaded is not None and Path(getattr(loaded, "__file__", None) or "").resolve() == path:
            return key
        if loaded is not None or not key.isidentifier():
            key = f"robustopt_plugin_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem}"
            if key in sys.modules:
                return key
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(key, None)
            raise
        return key
    try:
        return import_user_module(module).__name__
    except ConfigError:
        raise ConfigError(
            f"cannot import plugin module '{module}'; put it on PYTHONPATH, run from the folder "
            f"that holds it, or give the path to its .py file"
        ) from None


#: The plugin lists this process has loaded, by (working directory, the list as given): their modules' names.
_LOADED_PLUGINS: dict[tuple, tuple[str, ...]] = {}


def load_plugins(modules: str | Iterable[str] | None) -> None:
    """:func:`load_plugin` each of ``modules`` (a config's ``plugins``: None, one name or a list), in order.

    Once per process: a list already loaded from the same working directory, whose modules are all still
    imported, is not looked up again (the checker at the entry point loads a job's plugins; the library calls
    after it find them loaded)."""
    if not modules:
        return
    modules = [modules] if isinstance(modules, (str, os.PathLike)) else list(modules)
    key = (os.getcwd(), tuple(str(m) for m in modules))
    names = _LOADED_PLUGINS.get(key)
    if names is not None and all(name in sys.modules for name in names):
        return
    _LOADED_PLUGINS[key] = tuple(load_plugin(module) for module in modules)
