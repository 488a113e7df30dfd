"""``source = "generate"``: problems made on the fly by a procedural family.

Deterministic: the same family, options, ``n`` and ``seed`` give the same problems with the
same ids in the same order, which is what resume and the call cache key on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from tracemint.records import Record
from tracemint.sources.base import Source, SourceConfig, sources


class GeneratedSourceConfig(SourceConfig):
    family: str
    n: int = Field(gt=0)
    seed: int = 0
    # the family's knobs (difficulty, depth, ...)
    options: dict[str, Any] = Field(default_factory=dict)


@sources.register("generate")
class GeneratedSource(Source):
    config_class = GeneratedSourceConfig

    def __init__(self, config: Any) -> None:
        from tracemint.synth.base import create_family

        super().__init__(config)
        cfg = self.config
        assert isinstance(cfg, GeneratedSourceConfig)
        self.family = create_family(cfg.family, cfg.options)  # bad knobs fail here, early

    def __iter__(self) -> Iterator[Record]:
        from tracemint.synth.base import generate
        from tracemint.synth.records import problem_record

        cfg = self.config
        assert isinstance(cfg, GeneratedSourceConfig)
        for i, item in enumerate(generate(self.family, cfg.n, cfg.seed)):
            yield problem_record(self.family, item, i, cfg.seed)

    def count(self) -> int | None:
        cfg = self.config
        assert isinstance(cfg, GeneratedSourceConfig)
        return cfg.n
