"""tracemint: mint verified, faithful chain-of-thought reasoning data.

The library API (``tracemint.api``, re-exported here)::

    import tracemint

    run = tracemint.run(tracemint.load_recipe("recipe.toml"))  # what `tracemint run` does
    table = run.traces()  # a pyarrow Table, one row per trace
    run.export("sft", "data/")  # data/sft.jsonl and data/sft.parquet

``__all__`` is the public API; adding to it is a deliberate change (tests/test_api.py pins
it). Importing this package stays cheap (the CLI pays for it on every start): each name is
imported from its module on first use, so ``import tracemint`` alone imports nothing else.
"""

from __future__ import annotations

from tracemint._version import __version__ as __version__

TYPE_CHECKING = False  # not typing's: see tracemint/api.py
if TYPE_CHECKING:
    from typing import Any

    from tracemint.api import Run, families, generate, grade, run
    from tracemint.config import Recipe, load_recipe
    from tracemint.errors import (
        ConfigError,
        MissingDependencyError,
        RunError,
        SourceError,
        TeacherError,
        TeacherUnavailableError,
        TracemintError,
    )
    from tracemint.records import ALL_FIELDS, trace_schema

__all__ = [
    "ALL_FIELDS",
    "ConfigError",
    "MissingDependencyError",
    "Recipe",
    "Run",
    "RunError",
    "SourceError",
    "TeacherError",
    "TeacherUnavailableError",
    "TracemintError",
    "families",
    "generate",
    "grade",
    "load_recipe",
    "run",
    "trace_schema",
]


# Every public name is resolved on first access, from the module that defines it.
_HOME = {
    **dict.fromkeys(("Run", "families", "generate", "grade", "run"), "tracemint.api"),
    **dict.fromkeys(("load_recipe", "Recipe"), "tracemint.config"),
    **dict.fromkeys(("ALL_FIELDS", "trace_schema"), "tracemint.records"),
    **dict.fromkeys(
        (
            "ConfigError",
            "MissingDependencyError",
            "RunError",
            "SourceError",
            "TeacherError",
            "TeacherUnavailableError",
            "TracemintError",
        ),
        "tracemint.errors",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value  # found once; later reads are plain attribute reads
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
