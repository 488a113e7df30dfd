"""Exporters turn a run's traces into training files.

An ``Exporter`` has one job: ``rows(traces)`` maps the traces of a run (streamed shard by
shard, never all in memory unless the format needs grouping) to output rows. The base class
owns writing JSONL and Parquet atomically, so a new format is ~20 lines.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint import plugins
from tracemint.records import Record
from tracemint.registry import Registry


class Exporter(ABC):
    """Maps traces to training rows of one format (e.g. TRL's SFT or DPO layout)."""

    name: str = "exporter"

    def __init__(self, *, system_prompt: str | None = None, max_pairs_per_problem: int = 4):
        self.system_prompt = system_prompt
        self.max_pairs_per_problem = max_pairs_per_problem

    @abstractmethod
    def rows(self, traces: Iterable[Record]) -> Iterator[dict[str, Any]]:
        """Yield output rows; every row carries provenance (problem id, teacher, verdict)."""

    def prompt_messages(self, t: Record) -> list[dict[str, str]]:
        """The conversation a student sees: the bare question, not the teacher's prompt.

        Why: the teacher's template asks for a format ("finish with The answer is ...");
        the student should learn to produce that format unprompted.
        """
        msgs = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        question = t["question"]
        if t.get("choices"):
            question += "\n" + "\n".join(t["choices"])
        return [*msgs, {"role": "user", "content": question}]

    def write(
        self,
        traces: Iterable[Record],
        out_dir: Path,
        file_types: Iterable[str] = ("jsonl", "parquet"),
    ) -> dict[str, Any]:
        """Write ``<name>.jsonl`` / ``<name>.parquet`` atomically; return counts and paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = list(self.rows(traces))
        written: dict[str, Any] = {"rows": len(rows), "files": []}
        for kind in file_types:
            path = out_dir / f"{self.name}.{kind}"
            tmp = path.with_name(path.name + ".tmp")
            if kind == "jsonl":
                with open(tmp, "w", encoding="utf-8") as f:
                    for r in rows:
                        f.write(json.dumps(r, ensure_ascii=False) + "\n")
            elif kind == "parquet":
                pq.write_table(pa.Table.from_pylist(rows), tmp)
            else:
                raise ValueError(f"unknown file type {kind!r}; known: jsonl, parquet")
            os.replace(tmp, path)
            written["files"].append(str(path))
        return written


exporters: Registry[type[Exporter]] = plugins.exporters  # built-ins load lazily by name


def provenance(t: Record) -> dict[str, Any]:
    return {
        "problem_id": t["problem_id"],
        "source": t.get("source"),
        "teacher": t.get("teacher"),
        "model": t.get("model"),
        "strategy": t.get("strategy"),
        "template_hash": t.get("template_hash"),
        "verifier_version": t.get("verifier_version"),
    }
