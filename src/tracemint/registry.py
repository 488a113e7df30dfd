"""Name -> implementation registries, so a recipe can say ``teacher = "openai"``.

One ``Registry`` per extension point (teachers, sources, exporters, ...). Registering a
name twice or asking for an unknown one fails loudly with the list of known names, the
way reasoning-gym's ``create_dataset`` does: a typo in a recipe must never fall back to a
default silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from tracemint.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of factories for one extension point."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@teachers.register("openai")``."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
