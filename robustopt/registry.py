"""Small name -> object registries (a dict plus a decorator).

Attacks, evaluations, models, optimizers, data sets and Lipschitz rules are looked up by
name.  An unknown name raises :class:`~robustopt.errors.ConfigError` listing the known ones.
Users extend a registry from their own module::

    from robustopt.models import MODELS

    @MODELS.register("my_net")
    def my_net(in_channels, num_classes, image_size): ...
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

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
                    f"a {self.kind} named '{name}' is already registered; "
                    f"pick another name or pass overwrite=True"
                )
            self._entries[name] = item
            return item

        return add(obj) if obj is not None else add

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} '{name}'; known {self.kind}s: {', '.join(sorted(self._entries))}.{hint}"
            ) from None

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


def import_object(path: str) -> Callable:
    """Import ``package.module:attr`` or ``package.module.attr`` (used for ``_target_``-style plugins)."""
    import importlib

    module_name, _, attr = path.replace(":", ".").rpartition(".")
    if not module_name:
        raise ConfigError(f"'{path}' is not an importable path; write it as 'package.module.name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module '{module_name}' for '{path}': {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module '{module_name}' has no attribute '{attr}' (from '{path}')") from None
