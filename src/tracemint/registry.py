"""Name -> implementation registries, so a recipe can say ``teacher = "openai"``.

One ``Registry`` per extension point (teachers, sources, families, verifiers, probes,
exporters; all in :mod:`tracemint.plugins`). Built-ins are given by module path and imported
on first use, so ``tracemint verify`` never pays for aiohttp or torch and no low layer has
to import a high one to find an implementation. ``register(name)`` names the class (its
``name`` attribute), so a plugin states its name once. Registering a name twice or asking
for an unknown one fails loudly with the list of known names, the way reasoning-gym's
``create_dataset`` does: a typo in a recipe must never fall back to a default silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from tracemint.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of factories for one extension point."""

    def __init__(self, kind: str, builtins: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._builtins = dict(builtins or {})  # name -> module that registers it

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@teachers.register("openai")``; sets the class's ``name``."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if isinstance(obj, type):
                stated = obj.__dict__.get("name")
                if stated is not None and stated != name:
                    raise ValueError(
                        f"{self.kind} registered as {name!r} but its class says name = {stated!r}"
                    )
                obj.name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items and name in self._builtins:
            importlib.import_module(self._builtins[name])
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def load_all(self) -> None:
        """Import every built-in (listing them, or a contract test over all of them)."""
        for module in sorted(set(self._builtins.values())):
            importlib.import_module(module)

    def names(self) -> list[str]:
        """Every registered name, built-ins included."""
        self.load_all()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._builtins
