"""The run directory: append-only Parquet shards of traces, a manifest, the cache.

Layout of ``runs/NAME/``::

    manifest.json        recipe, versions, counts, timings (rewritten atomically)
    recipe.toml          the recipe as run
    cache.sqlite         every LLM call (see cache.py)
    traces/part-*.parquet  append-only shards; one problem's traces are always in one shard
    export/              training files written by exporters
    report.html          the report

Every file is written to a temporary name and renamed, so a run killed at any moment never
leaves a half-written file that looks whole; a stray ``*.tmp`` is ignored and removed.
Because a problem's traces are written together, resume is "skip every problem_id already
in a shard": nothing lost, nothing duplicated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint.errors import RunError
from tracemint.records import Record, to_table, trace_schema


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.traces_dir = self.root / "traces"
        self.export_dir = self.root / "export"
        self.manifest_path = self.root / "manifest.json"
        self.cache_path = self.root / "cache.sqlite"
        self.report_path = self.root / "report.html"

    def create(self) -> None:
        self.traces_dir.mkdir(parents=True, exist_ok=True)
        for stray in self.traces_dir.glob("*.tmp"):
            stray.unlink()

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def shards(self) -> list[Path]:
        return sorted(self.traces_dir.glob("part-*.parquet"))

    def next_shard_index(self) -> int:
        shards = self.shards()
        return int(shards[-1].stem.split("-")[1]) + 1 if shards else 0

    def shard_path(self, index: int) -> Path:
        return self.traces_dir / f"part-{index:05d}.parquet"

    def write_shard(self, records: list[Record], index: int | None = None) -> Path:
        """Write one shard atomically. Thread-safe for distinct ``index`` values."""
        path = self.shard_path(self.next_shard_index() if index is None else index)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(to_table(records), tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def rewrite_shard(self, path: Path, records: list[Record]) -> None:
        """Replace one shard atomically (used when a later stage adds columns to a run)."""
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(to_table(records), tmp, compression="zstd")
        os.replace(tmp, path)

    def clear_traces(self) -> None:
        for p in self.shards():
            p.unlink()

    def done_problem_ids(self) -> set[str]:
        done: set[str] = set()
        for p in self.shards():
            col = pq.read_table(p, columns=["problem_id"]).column("problem_id")
            done.update(col.to_pylist())
        return done

    def schema(self) -> pa.Schema:
        """The union of every shard's schema: ``tracemint probe`` rewrites only the shards it
        sampled from, so later shards may lack columns that earlier ones have (and vice versa)."""
        schemas = [pq.read_schema(p) for p in self.shards()]
        if not schemas:
            return pa.schema([])
        return pa.unify_schemas(schemas, promote_options="permissive")

    def column_names(self) -> list[str]:
        return list(self.schema().names)

    def read_traces(
        self, columns: Sequence[str] | None = None, *, allow_empty: bool = False
    ) -> pa.Table:
        """Read every shard; a column that a shard lacks comes back as nulls for its rows.

        ``allow_empty``: a run with no shards (every problem filtered out) reads as an empty
        table of the documented columns instead of an error, for reports."""
        shards = self.shards()
        if not shards:
            if allow_empty:
                schema = trace_schema()
                names = list(columns) if columns is not None else schema.names
                return pa.table({c: pa.array([], schema.field(c).type) for c in names})
            raise RunError(f"{self.root}: no trace shards; run `tracemint run` first")
        union = self.schema()
        wanted = list(columns) if columns is not None else list(union.names)
        missing = [c for c in wanted if c not in union.names]
        if missing:
            raise RunError(f"{self.root}: no column {missing[0]!r} in any trace shard")
        tables = []
        for p in shards:
            have = set(pq.read_schema(p).names)
            t = pq.read_table(p, columns=[c for c in wanted if c in have])
            for c in wanted:
                if c not in have:
                    t = t.append_column(union.field(c), pa.nulls(t.num_rows, union.field(c).type))
            tables.append(t.select(wanted))
        return pa.concat_tables(tables, promote_options="permissive")

    def iter_traces(self, batch_size: int = 4096) -> Iterator[list[Record]]:
        """Stream traces shard by shard, never the whole run in memory."""
        for p in self.shards():
            for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_size):
                yield batch.to_pylist()

    def read_manifest(self) -> dict[str, Any]:
        """The run's manifest; a missing or damaged one is a ``RunError`` naming the file."""
        if not self.manifest_path.exists():
            raise RunError(f"{self.root}: not a tracemint run (no manifest.json)")
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            if isinstance(e, OSError):
                reason = str(e.strerror)
            elif isinstance(e, UnicodeDecodeError):
                reason = f"not valid UTF-8 at byte {e.start}"
            elif isinstance(e, json.JSONDecodeError):
                reason = f"invalid JSON: {e.msg} at line {e.lineno}"
            elif isinstance(e, RecursionError):
                reason = "invalid JSON: nested too deeply"
            else:
                reason = str(e)
            raise RunError(
                f"{self.manifest_path}: damaged run manifest ({reason}); "
                "restore it, or remove the run directory to start over"
            ) from None
        if not isinstance(data, dict):
            raise RunError(f"{self.manifest_path}: damaged run manifest (not a JSON object)")
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest_path, manifest)
