"""Built-in families; importing a module registers its families."""

from __future__ import annotations

import importlib

_MODULES: tuple[str, ...] = (
    "modular",
    "rule_chaining",
    "ordering",
    "knights_knaves",
    "gym",
    "word_problems",
    "linear",
    "dates",
    "boolean",
    "sorting",
    "counting",
)


def load_builtin() -> None:
    for module in _MODULES:
        importlib.import_module(f"tracemint.synth.families.{module}")
