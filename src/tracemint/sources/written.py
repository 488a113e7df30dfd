"""``source = "written"``: problems the teacher writes (see ``synth/written.py``).

``prepare`` runs the writer and the filters with the run's teacher and call cache and keeps
the result in the run directory (``written.jsonl``, ``synthesis.json``); iterating reads
that file. Rerunning a killed run repeats no finished call: they are all in the cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tracemint.errors import RunError
from tracemint.records import Record
from tracemint.sources.base import PrepareContext, Source, create_source, sources
from tracemint.store import atomic_write_bytes, atomic_write_json
from tracemint.synth.written import WrittenConfig, write_problems

PROBLEMS_FILE = "written.jsonl"
SUMMARY_FILE = "synthesis.json"


@sources.register("written")
class WrittenSource(Source):
    config_class = WrittenConfig
    needs_prepare = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._problems: list[Record] | None = None

    def _seeds(self) -> list[Record]:
        cfg = self.config
        assert isinstance(cfg, WrittenConfig)
        if cfg.mode != "seeds" or cfg.seeds is None:
            return []
        # seeds only show the writer what to imitate: their references are not needed
        options = {"reference": "optional", **cfg.seeds_options}
        return list(create_source("file", {"path": cfg.seeds, **options}))

    async def prepare(self, ctx: PrepareContext) -> None:
        cfg = self.config
        assert isinstance(cfg, WrittenConfig)
        problems, summary = await write_problems(
            cfg, ctx.teacher, ctx.cache, ctx.strategy, ctx.sampling, self._seeds()
        )
        lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in problems)
        atomic_write_bytes(ctx.run_dir / PROBLEMS_FILE, lines.encode())
        atomic_write_json(ctx.run_dir / SUMMARY_FILE, summary)
        self._problems = problems

    def __iter__(self) -> Iterator[Record]:
        if self._problems is None:
            raise RunError("the 'written' source must be prepared by a run before it is read")
        return iter(self._problems)

    def count(self) -> int | None:
        return None if self._problems is None else len(self._problems)
