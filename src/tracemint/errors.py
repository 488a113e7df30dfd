"""The error tree. Every error a user can cause or fix is a ``TracemintError``.

The CLI turns each class into one exit code, in one place (``cli.py``). Messages say what
went wrong *and* what to do about it, naming the file, line and field where there is one.
This module imports nothing from the package, so every layer may raise these.
"""

from __future__ import annotations


class TracemintError(Exception):
    """Base class: anything the user can act on."""

    exit_code = 1


class ConfigError(TracemintError):
    """A recipe or command-line option is invalid; the message names the key."""

    exit_code = 2


class SourceError(TracemintError):
    """Input data cannot be read; the message names the file, line and field."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.line, self.field = path, line, field


class TeacherError(TracemintError):
    """The teacher failed in a way retrying cannot fix (bad request, auth, missing model)."""

    exit_code = 4


class TeacherUnavailableError(TeacherError):
    """The teacher kept failing after every retry; rerun with ``--resume`` later."""

    exit_code = 5


class RunError(TracemintError):
    """The run directory is missing, foreign, or inconsistent with the recipe."""

    exit_code = 6


class MissingDependencyError(TracemintError):
    """An optional extra is not installed; the message gives the exact ``pip install``."""

    exit_code = 7


def missing(extra: str, package: str) -> MissingDependencyError:
    """Build the error for a lazily imported optional dependency."""
    return MissingDependencyError(
        f"{package} is needed for this feature: pip install 'tracemint[{extra}]'"
    )


def portable_error(exc: BaseException, where: str) -> BaseException:
    """``exc`` as something another process can unpickle and raise again (a worker process,
    a Ray actor): itself when it survives a pickle round trip, else a ``RunError`` that names
    ``where`` and keeps the original type and text (a constructor with required keywords
    does not survive)."""
    import pickle

    try:
        again = pickle.loads(pickle.dumps(exc))
        if isinstance(again, BaseException):
            return again
    except Exception:
        pass
    return RunError(f"{where}: {type(exc).__name__}: {exc}")
