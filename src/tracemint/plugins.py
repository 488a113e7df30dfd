"""Where registered implementations (teachers, sources, verifiers) are looked up by name.

Importing a built-in module registers it; this module imports them lazily so that, e.g.,
``tracemint verify`` never pays for aiohttp or torch. Heavy backends (embedded: torch)
register cheaply: their modules import torch only when a teacher is constructed.
"""

from __future__ import annotations

import importlib
from typing import Any

_BUILTIN_TEACHERS = {
    "openai": "tracemint.teachers.openai",
    "embedded": "tracemint.teachers.embedded",
    "local": "tracemint.teachers.local",
    "noisy_gold": "tracemint.teachers.noisy_gold",
}
_BUILTIN_SOURCES = {
    "file": "tracemint.sources.files",
    "generate": "tracemint.sources.generated",
    "written": "tracemint.sources.written",
}

_BUILTIN_VERIFIERS = {
    "answer": "tracemint.verify.answer_verifier",
    "family": "tracemint.verify.family_verifier",
    "steps": "tracemint.verify.step_verifier",
}


def teacher_class(name: str) -> Any:
    from tracemint.teachers.base import teachers

    if name in _BUILTIN_TEACHERS and name not in teachers:
        importlib.import_module(_BUILTIN_TEACHERS[name])
    if name not in teachers:
        for module in _BUILTIN_TEACHERS.values():
            importlib.import_module(module)
    return teachers.get(name)


def source_class(name: str) -> Any:
    from tracemint.sources.base import sources

    if name not in sources:
        for module in _BUILTIN_SOURCES.values():
            importlib.import_module(module)
    return sources.get(name)


def verifier_class(name: str) -> Any:
    """The registered ``Verifier`` class ``name`` (answer, family, steps, or a plugin's)."""
    from tracemint.verify.base import verifiers

    if name not in verifiers:
        for module in _BUILTIN_VERIFIERS.values():
            importlib.import_module(module)
    return verifiers.get(name)


def verifier_names() -> list[str]:
    """Every registered verifier, built-ins included."""
    from tracemint.verify.base import verifiers

    for module in _BUILTIN_VERIFIERS.values():
        importlib.import_module(module)
    return verifiers.names()
