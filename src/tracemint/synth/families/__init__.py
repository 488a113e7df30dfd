"""Built-in families; importing a module registers its families."""

from __future__ import annotations

from tracemint import plugins


def load_builtin() -> None:
    """Import every built-in family (the registry otherwise imports each on first use)."""
    plugins.families.load_all()
