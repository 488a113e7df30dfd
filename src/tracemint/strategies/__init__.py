"""Prompt strategies: templates as files, so a new strategy is a new file, not new code.

A template is Jinja2 text split into chat messages by section lines ``[system]``,
``[user]`` and ``[assistant]`` (few-shot turns are just more sections). It sees the
problem record's columns (``question``, ``choices``, ``reference``, ...) as variables,
plus ``record`` itself. Built-in templates live in ``strategies/templates/``; a recipe
can name a template file path or a directory of its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from tracemint.errors import ConfigError

_SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@dataclass(frozen=True)
class Strategy:
    """A named prompt template, compiled once."""

    name: str
    source: str

    @property
    def template_hash(self) -> str:
        """Part of every trace's provenance: edit the template, and the hash changes."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]

    def render(self, record: dict[str, Any]) -> tuple[dict[str, str], ...]:
        """Render the chat messages for one problem record."""
        try:
            text = _compile(self.source).render(**record, record=record)
        except jinja2.UndefinedError as e:
            raise ConfigError(f"strategy {self.name!r}: {e.message}") from None
        return split_sections(text, self.name)


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def split_sections(text: str, name: str = "template") -> tuple[dict[str, str], ...]:
    """``[role]`` section lines -> chat messages; text before the first section is an error."""
    parts = _SECTION.split(text)
    if parts[0].strip():
        raise ConfigError(f"strategy {name!r}: text before the first [system]/[user] section line")
    messages = tuple(
        {"role": role, "content": body.strip()}
        for role, body in zip(parts[1::2], parts[2::2], strict=True)
    )
    if not messages or messages[-1]["role"] != "user":
        raise ConfigError(f"strategy {name!r}: the last section must be [user]")
    return messages


def builtin_names() -> list[str]:
    files = resources.files("tracemint.strategies").joinpath("templates")
    return sorted(
        p.name.removesuffix(".jinja") for p in files.iterdir() if p.name.endswith(".jinja")
    )


def _read_template(path: Path) -> str:
    """A user's template file, compiled now: a binary file or a Jinja syntax error is a
    ``ConfigError`` naming the file and line before any problem is read, not at the first
    render deep inside a run."""
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"strategy {path}: not a text file (invalid UTF-8 at byte {e.start})"
        ) from None
    except OSError as e:
        raise ConfigError(f"strategy {path}: cannot read: {e.strerror}") from None
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(f"strategy {path}, line {e.lineno}: {e.message}") from None
    except RecursionError:
        raise ConfigError(f"strategy {path}: nested too deeply to compile") from None
    return source


def load_strategy(name: str, template_dir: str | Path | None = None) -> Strategy:
    """Find a strategy by name: a path, then ``template_dir``, then the built-ins."""
    candidates: list[Path] = []
    if name.endswith(".jinja"):
        candidates.append(Path(name))
    if template_dir is not None:
        candidates.append(Path(template_dir) / f"{name}.jinja")
    for path in candidates:
        if path.is_file():
            return Strategy(path.stem, _read_template(path))
    builtin = resources.files("tracemint.strategies").joinpath("templates", f"{name}.jinja")
    if builtin.is_file():
        return Strategy(name, builtin.read_text(encoding="utf-8"))
    raise ConfigError(
        f"unknown strategy {name!r}; built-in: {', '.join(builtin_names())}"
        + (f"; also looked in {template_dir}" if template_dir else "")
    )
