"""Exporters turn a run's traces into training files.

An ``Exporter`` has one job: ``rows(traces)`` maps the traces of a run (streamed shard by
shard, never all in memory unless the format needs grouping) to output rows. The base class
owns writing JSONL and Parquet atomically, so a new format is ~20 lines.

An exporter also declares its ``columns`` (an Arrow schema). Why: Arrow infers types from
the rows, so an export with no rows would be a Parquet file with no columns, and a column
that is null in every row (``agreement`` when self-consistency is off) would be typed
``null``; the declared schema keeps both typed. Columns a row has beyond the declared ones
(label columns, a plugin's extras) are inferred as before.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint import plugins
from tracemint.records import Record
from tracemint.registry import Registry


class Exporter(ABC):
    """Maps traces to training rows of one format (e.g. TRL's SFT or DPO layout)."""

    name: str = "exporter"
    #: the columns every file of this format has, rows or not (None: inferred from the rows)
    columns: ClassVar[pa.Schema | None] = None

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
                write_parquet(self.table(rows), tmp)
            else:
                raise ValueError(f"unknown file type {kind!r}; known: jsonl, parquet")
            os.replace(tmp, path)
            written["files"].append(str(path))
        return written

    def table(self, rows: list[dict[str, Any]]) -> pa.Table:
        """The rows as Arrow: declared columns typed as declared, in declared order, then
        any other column the rows carry, inferred."""
        declared = self.columns
        if declared is None:
            return pa.Table.from_pylist(rows)
        names = list(dict.fromkeys(k for r in rows for k in r))
        extra_names = [n for n in names if n not in declared.names]
        extra: list[pa.Field] = []
        if extra_names:
            inferred = pa.Table.from_pylist([{k: r.get(k) for k in extra_names} for r in rows])
            extra = list(inferred.schema)
        return pa.Table.from_pylist(rows, schema=pa.schema([*declared, *extra]))


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table``; an empty one as a schema with no row group at all.

    Why: ``pq.write_table`` writes an empty table as one row group of 0 rows, and Hugging
    Face ``datasets`` reads a Parquet file in batches the size of its first row group, so
    such a file fails there ("BatchSize must be greater than 0"). With no row group, every
    reader sees 0 rows and the columns.
    """
    if table.num_rows:
        pq.write_table(table, path)
        return
    with pq.ParquetWriter(path, table.schema):
        pass


MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
"""A conversation: TRL's conversational layout, as Arrow (``[{role, content}, ...]``)."""

PROVENANCE = pa.schema(
    [
        ("problem_id", pa.string()),
        ("source", pa.string()),
        ("teacher", pa.string()),
        ("model", pa.string()),
        ("strategy", pa.string()),
        ("template_hash", pa.string()),
        ("verifier_version", pa.string()),
    ]
)
"""The columns ``provenance`` adds to every row."""


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
