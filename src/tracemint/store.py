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

One schema per run: every shard carries every column the run has, with the same type, null
where a shard's traces did not compute it. Readers other than ours (``pandas.read_parquet`` of
the folder, ``pyarrow.dataset``, Hugging Face ``datasets``) take the schema from one shard and
silently drop or refuse what the others add, so a column that only some shards carry (a probe
run on a sample, an optional column that appears mid-run) is as good as lost to them. When a
write adds a column or settles a type, the other shards are rewritten to match, one at a time
and atomically; a run killed in between reads correctly here and converges at the next write
or ``RunStore.unify``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracemint.errors import RunError
from tracemint.records import ALL_FIELDS, DECLARED_TYPES, Record, to_table, trace_schema


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def unified_schema(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """The one schema of a run holding shards of ``schemas``: the documented columns with
    their declared types, in their documented order, then every other column sorted by name
    with the type its shards agree on (a column null in one shard and typed in another is
    typed; int64 and double widen to double).

    A fixed order (not the order columns happened to appear) lets any shard be rebuilt
    alone and still match the others field for field."""
    distinct: list[pa.Schema] = []
    for s in schemas:  # most shards share one schema: unify each shape once
        if not any(s.equals(d) for d in distinct):
            distinct.append(s)
    schemas = distinct
    if not schemas:
        return pa.schema([])
    try:
        union = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as e:
        raise RunError(
            f"trace shards disagree on a column's type ({e}); a stage or plugin wrote the "
            "same column with different types"
        ) from None
    core = [pa.field(n, typ) for n, (typ, _) in ALL_FIELDS.items() if n in union.names]
    extra = sorted((f for f in union if f.name not in ALL_FIELDS), key=lambda f: f.name)
    typed = [
        pa.field(f.name, DECLARED_TYPES.get(f.name, f.type) if pa.types.is_null(f.type) else f.type)
        for f in extra
    ]
    return pa.schema(core + typed)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, order and types: missing columns become
    typed nulls, differently typed ones are cast (through Python values when Arrow has no
    direct cast, e.g. between differently shaped structs)."""
    n = table.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for field in schema:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(n, field.type))
            continue
        col = table.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                col = pa.array(col.to_pylist(), type=field.type)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_table_atomic(path: Path, table: pa.Table) -> None:
    """Write a Parquet file under a temporary name, fsync it, rename it over ``path``: a
    reader (or a crash) sees the old file or the new one, never part of one."""
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.traces_dir = self.root / "traces"
        self.export_dir = self.root / "export"
        self.manifest_path = self.root / "manifest.json"
        self.cache_path = self.root / "cache.sqlite"
        self.report_path = self.root / "report.html"
        # shard name -> ((inode, mtime, size), its schema): a footer is read once per version
        # of a shard, so checking the run's schema at every shard write costs a stat per shard
        self._schemas: dict[str, tuple[tuple[int, int, int], pa.Schema]] = {}
        # shard writes come from one writer thread, rewrites from the main one: the schema
        # check and the rewrites it triggers must not interleave
        self._lock = threading.RLock()

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
        """Write one shard atomically, in the run's schema.

        When the new traces bring a column the run lacks (or type one the run had only as
        nulls), the earlier shards are extended to match before this returns: minting can
        produce optional columns in some batches only. Safe to call from a writer thread."""
        with self._lock:
            path = self.shard_path(self.next_shard_index() if index is None else index)
            self._put(path, to_table(records), unify=True)
            return path

    def rewrite_shard(self, path: Path, records: list[Record], *, unify: bool = True) -> None:
        """Replace one shard atomically (used when a later stage adds columns to a run).

        The shard is written with every column of the run. ``unify=False`` leaves the other
        shards alone, for a caller that rewrites many shards and calls ``unify`` once at the
        end (rather than extending every shard after the first rewrite, then again)."""
        with self._lock:
            self._put(path, to_table(records), unify=unify)

    def unify(self) -> int:
        """Rewrite every shard whose schema is not the run's; returns how many were.

        Idempotent, and each shard is replaced atomically: killed part-way, every shard still
        reads and the next call finishes the job."""
        with self._lock:
            target = self.schema()
            return self._conform_shards(target)

    def _put(self, path: Path, table: pa.Table, *, unify: bool) -> None:
        others = {p.name: s for p, s in self._shard_schemas().items() if p != path}
        target = unified_schema([*others.values(), table.schema])
        _write_table_atomic(path, conform(table, target))
        self._remember(path, target)
        if unify:
            self._conform_shards(target)

    def _conform_shards(self, target: pa.Schema) -> int:
        changed = 0
        for p, schema in self._shard_schemas().items():
            if schema.equals(target):
                continue
            _write_table_atomic(p, conform(pq.read_table(p), target))
            self._remember(p, target)
            changed += 1
        return changed

    def _remember(self, path: Path, schema: pa.Schema) -> None:
        st = path.stat()
        self._schemas[path.name] = ((st.st_ino, st.st_mtime_ns, st.st_size), schema)

    def _shard_schemas(self) -> dict[Path, pa.Schema]:
        """Each shard's schema, read from its footer only when the file changed on disk."""
        out: dict[Path, pa.Schema] = {}
        for p in self.shards():
            try:
                st = p.stat()
            except FileNotFoundError:  # cleared while we looked
                continue
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            hit = self._schemas.get(p.name)
            if hit is None or hit[0] != key:
                hit = (key, pq.read_schema(p).remove_metadata())
                self._schemas[p.name] = hit
            out[p] = hit[1]
        return out

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
        """The run's schema (``unified_schema`` of its shards). Every shard has exactly this
        one unless a command was killed while extending them; ``read_traces`` reads such a
        run correctly all the same, and the next write or ``unify`` settles it."""
        with self._lock:
            return unified_schema(self._shard_schemas().values())

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
        target = pa.schema([union.field(c) for c in wanted])
        tables = []
        for p in shards:
            have = set(pq.read_schema(p).names)
            t = pq.read_table(p, columns=[c for c in wanted if c in have])
            tables.append(conform(t, target))
        return pa.concat_tables(tables)

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
