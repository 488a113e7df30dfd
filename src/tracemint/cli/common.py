"""What every ``tracemint`` command shares. Errors become exit codes here, and only here.

Nothing a user types or has on disk may end in a traceback: every command is wrapped by
``_friendly``, which prints a ``TracemintError`` as one ``error:`` line and maps anything
unexpected to one line that says it is a bug. Text that comes from the user (paths, field
names, messages quoting them) is printed as plain ``rich.text.Text``, never as rich markup:
``tracemint[ray]`` in an install hint or ``data[/x].toml`` in a path must print as typed.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tracemint import __version__
from tracemint.errors import ConfigError, TracemintError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Mint verified, faithful chain-of-thought data from any teacher LLM.",
)
console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG_ENV = "TRACEMINT_DEBUG"
# click's own errors (BadParameter, ...), which click reports with the usage line. Found by
# name because typer >= 0.2x vendors click as typer._click while older typer uses click.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
# An unexpected exception's text is shown on one line; a huge one (a 5 MB input line quoted
# back) is cut so the line stays readable. TRACEMINT_DEBUG=1 shows it all.
_MAX_UNEXPECTED = 500


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tracemint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Holds the options that come before any command (``--version``): a user's first try."""


def error_line(message: str) -> None:
    """Print ``error: <message>`` on stderr, the message as plain text (no rich markup),
    unwrapped, so a long path stays one line a user can copy."""
    console.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )


def note(message: str) -> None:
    """Print a message that quotes paths on stderr: plain text, unwrapped (see error_line)."""
    console.print(Text(message), highlight=False, soft_wrap=True)


def _one_line(text: str, limit: int = _MAX_UNEXPECTED) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _friendly(fn: F) -> F:
    """Turn every failure of a command into one ``error:`` line and an exit code.

    A ``TracemintError`` is something the user can act on: its message and its class's exit
    code. An ``OSError`` that escaped (permission denied, disk full) is the environment's,
    not a bug: its file and reason, exit 1. Anything else is a bug in tracemint, but a user
    still gets one line, not a traceback; ``TRACEMINT_DEBUG=1`` re-raises it for the report.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TracemintError as e:
            error_line(str(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: finished work is saved; rerun with --resume")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, _CLICK_ERROR):
            raise  # click reports these itself
        except OSError as e:
            if os.environ.get(DEBUG_ENV):
                raise
            where = f"{e.filename}: " if e.filename is not None else ""
            error_line(_one_line(f"{where}{e.strerror or e}"))
            raise typer.Exit(1) from None
        except Exception as e:
            if os.environ.get(DEBUG_ENV):
                raise
            error_line(
                f"{type(e).__name__}: {_one_line(str(e))} (this is a bug in tracemint; "
                f"rerun with {DEBUG_ENV}=1 for the traceback)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _no_file_above(out: Path, flag: str) -> None:
    """The nearest existing folder above ``out`` must be a folder: a file there (a typo'd
    ``--out data.jsonl/x``) would fail later with a bare OSError."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {out}: {parent} is a file, not a directory")
            return


def _out_file(out: Path, flag: str = "--out") -> None:
    """Fail before any work when an output file cannot be written where it is asked for;
    create its folder."""
    if out.is_dir():
        raise ConfigError(f"{flag} {out}: is a directory; give a file path")
    _no_file_above(out, flag)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot create its folder ({e.strerror})") from None


def _out_dir(out: Path, flag: str = "--out") -> None:
    """Fail before any work when an output directory is an existing file (or under one)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out}: is a file; give a directory")
    _no_file_above(out, flag)


def _summary_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column summary; cells are plain ``Text`` because values quote user paths."""
    table = Table(title=Text(title, style="table.title"), show_header=False)
    for k, v in rows:
        table.add_row(Text(k), Text(v))
    return table


def _knobs(args: list[str]) -> dict[str, Any]:
    """``--depth 3 --max-modulus=50`` -> {"depth": 3, "max_modulus": 50} (values as JSON
    where they parse, else strings); the family's config then validates names and types."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise typer.BadParameter(f"unexpected argument {arg!r}; family knobs are --name value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise typer.BadParameter(f"--{key} needs a value")
            value, i = args[i + 1], i + 1
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            out[key.replace("-", "_")] = value
        i += 1
    return out


@app.command()
@_friendly
def version() -> None:
    """Print the version."""
    print(__version__)
