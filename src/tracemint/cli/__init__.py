"""The ``tracemint`` command line (``tracemint.cli:app``): options in, a summary out.

Each command parses its options, calls the library (``tracemint.api`` and the packages
under it) and prints what came back; the work itself lives in the library so that a
program gets exactly what the command does. ``common.py`` holds what every command shares
(``_friendly``: the one place errors become exit codes); the commands are grouped by what
they work on, one module per group.
"""

from __future__ import annotations

from tracemint.cli import mint, outputs, problems, serve, student  # noqa: F401 - registers
from tracemint.cli.common import _friendly, app, console, error_line, note

__all__ = ["_friendly", "app", "console", "error_line", "note"]

# `tracemint --help` lists the commands in the order they were registered; the modules
# register them by group, so the order users know is restored here, in one place.
_ORDER = [
    "run",
    "verify",
    "generate",
    "export",
    "probe",
    "variants",
    "decontaminate",
    "report",
    "serve-test",
    "view",
    "eval",
    "train",
    "version",
]


def _command_name(info: object) -> str:
    name = getattr(info, "name", None)
    callback = getattr(info, "callback", None)
    return name or getattr(callback, "__name__", "").replace("_", "-")


app.registered_commands.sort(
    key=lambda c: _ORDER.index(n) if (n := _command_name(c)) in _ORDER else len(_ORDER)
)
