"""The source seam: where problems come from.

A source is anything that yields problem records: a dataset file today, a procedural
generator or LLM-written problems later. Each registers under a name with a typed config,
so a recipe can say ``source = "file"`` plus options, and a typo in either fails loudly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from tracemint import plugins
from tracemint.config import validate_config
from tracemint.records import Record
from tracemint.registry import Registry

if TYPE_CHECKING:
    from tracemint.cache import CallCache
    from tracemint.config import SamplingConfig
    from tracemint.strategies import Strategy
    from tracemint.teachers.base import Teacher


class SourceConfig(BaseModel):
    """Base of every source's options: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(ABC):
    """A stream of problems.

    Contract for ``__iter__``: yield dicts with exactly the ``records.PROBLEM_FIELDS`` keys,
    in the same order with the same ``problem_id`` on every pass (ids are what the cache,
    resume and dedup key on), reading lazily so a million-problem source costs no memory.
    Input it cannot read raises ``SourceError`` naming the file, line and field.
    """

    #: the pydantic model ``__init__`` validates its options with
    config_class: ClassVar[type[SourceConfig]] = SourceConfig
    #: True when ``prepare`` must run (with a teacher) before the source can be iterated
    needs_prepare: ClassVar[bool] = False

    def __init__(self, config: SourceConfig | Mapping[str, Any]) -> None:
        if isinstance(config, SourceConfig):
            self.config = config
        else:
            self.config = validate_config(self.config_class, config, what=type(self).__name__)

    @abstractmethod
    def __iter__(self) -> Iterator[Record]:
        """Yield problem records, deterministically."""

    async def prepare(self, ctx: PrepareContext) -> None:
        """Work that needs the run's teacher before the source can be iterated (LLM-written
        problems). Called once per run, after the run directory exists; a source keeps what
        it makes under ``ctx.run_dir`` and its teacher calls in ``ctx.cache``, so a killed
        run resumes without repeating them. Most sources have nothing to do."""
        return None

    def count(self) -> int | None:
        """How many problems ``__iter__`` will yield, if cheap to know; None otherwise.

        Only progress bars use it, so a source that would have to read everything to know
        says None rather than make the run pay for an extra pass.
        """
        return None


@dataclass(frozen=True)
class PrepareContext:
    """What ``Source.prepare`` may use: the run's teacher, call cache, strategy, sampling."""

    teacher: Teacher
    cache: CallCache
    strategy: Strategy
    sampling: SamplingConfig
    run_dir: Path
    progress: bool = True


sources: Registry[type[Source]] = plugins.sources  # built-ins load lazily by name


def create_source(name: str, options: Mapping[str, Any] | None = None) -> Source:
    """The registered source ``name`` built from recipe ``options`` (validated)."""
    cls = sources.get(name)
    return cls(validate_config(cls.config_class, options or {}, what=f"source {name!r}"))
