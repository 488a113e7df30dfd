"""The viewer's index over a run: light columns in memory, everything else read on demand.

Paging stays fast on large runs without loading the run: at start the viewer reads only the
*light* columns (ids, verdict, source, accepted and the numeric score columns) of every
shard into one small Arrow table, with each row's shard number and row number. Filters and
page offsets are answered from that index with ``pyarrow.compute`` (see ``query.py``); the
heavier columns of one page (question, answers, drop reason) and a trace's full row are
then read from their shard's row group on demand, with column projection.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracemint.errors import RunError
from tracemint.store import RunStore
from tracemint.view.labelbook import LabelBook
from tracemint.view.query import Query, TextSearch, filter_mask

# Read into the in-memory index at start: small per row, enough to filter and page.
INDEX_COLUMNS = ("trace_id", "problem_id", "sample_index", "source", "verdict", "accepted")
# Read per page from the shards.
PAGE_COLUMNS = (
    "question",
    "answer",
    "reference_answer",
    "drop_reason",
    "first_wrong_step",
)
# Numeric columns that are bookkeeping, not scores: not offered as filters.
NOT_SCORES = {
    "source_index",
    "sample_index",
    "round",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "n_claims_checked",
    "n_claims_wrong",
    "first_wrong_step",
}
QUESTION_PREVIEW = 160


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def jsonable(v: Any) -> Any:
    """Arrow's Python values as JSON can carry them (NaN is not JSON; bytes are text here)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class TraceIndex:
    """The light columns of every trace, with (shard, row) to fetch the rest on demand."""

    def __init__(self, run_dir: str | Path) -> None:
        self.store = RunStore(run_dir)
        if not self.store.root.is_dir():
            raise RunError(f"{self.store.root}: no such run directory")
        self.shards = self.store.shards()
        if not self.shards:
            raise RunError(f"{self.store.root}: no trace shards; run `tracemint run` first")
        self.schema = self.store.schema()
        names = set(self.schema.names)
        self.score_columns = [
            f.name
            for f in self.schema
            if _is_number(f.type) and f.name not in NOT_SCORES and f.name not in INDEX_COLUMNS
        ]
        self.columns = [c for c in INDEX_COLUMNS if c in names] + self.score_columns
        self._files: dict[int, pq.ParquetFile] = {}
        self._starts: dict[int, list[int]] = {}
        self._groups: OrderedDict[tuple[int, int, tuple[str, ...]], pa.Table] = OrderedDict()
        self._lock = threading.Lock()
        self.table = self._build()
        self.labels = LabelBook(self.store.root)
        self.search = TextSearch(self.shards, self.table.num_rows)

    # -- building -------------------------------------------------------------------------

    def _build(self) -> pa.Table:
        parts = []
        for i, path in enumerate(self.shards):
            have = set(pq.read_schema(path).names)
            t = pq.read_table(path, columns=[c for c in self.columns if c in have])
            n = t.num_rows
            cols = []
            for c in self.columns:
                typ = self.schema.field(c).type
                col = t.column(c) if c in have else pa.nulls(n, typ)
                cols.append(col.cast(typ) if col.type != typ else col)
            cols += [pa.array([i] * n, pa.int32()), pa.array(range(n), pa.int64())]
            parts.append(pa.table(cols, names=[*self.columns, "_shard", "_row"]))
        return pa.concat_tables(parts).combine_chunks()

    # -- reading rows on demand -----------------------------------------------------------

    def _file(self, shard: int) -> pq.ParquetFile:
        f = self._files.get(shard)
        if f is None:
            f = self._files[shard] = pq.ParquetFile(self.shards[shard])
            meta = f.metadata
            starts = [0]
            for g in range(meta.num_row_groups):
                starts.append(starts[-1] + meta.row_group(g).num_rows)
            self._starts[shard] = starts
        return f

    def _row_group(self, shard: int, group: int, columns: tuple[str, ...]) -> pa.Table:
        """One row group of one shard, projected; a few recently used ones are kept."""
        key = (shard, group, columns)
        with self._lock:
            hit = self._groups.get(key)
            if hit is not None:
                self._groups.move_to_end(key)
                return hit
            f = self._file(shard)
            have = set(f.schema_arrow.names)
            t = f.read_row_group(group, columns=[c for c in columns if c in have])
            for c in columns:
                if c not in have:
                    t = t.append_column(
                        self.schema.field(c), pa.nulls(t.num_rows, self.schema.field(c).type)
                    )
            t = t.select(list(columns))
            self._groups[key] = t
            while len(self._groups) > 8:
                self._groups.popitem(last=False)
            return t

    def read_rows(self, locs: Iterable[tuple[int, int]], columns: Iterable[str]) -> list[dict]:
        """Rows at (shard, row), in the order given, with only ``columns``."""
        cols = tuple(c for c in columns if c in self.schema.names)
        out: list[dict] = []
        # Consecutive rows of one row group are taken together (an export reads thousands).
        run: list[int] = []
        run_key: tuple[int, int] | None = None

        def flush() -> None:
            if run_key is not None and run:
                t = self._row_group(run_key[0], run_key[1], cols)
                out.extend(t.take(pa.array(run, pa.int64())).to_pylist())
            run.clear()

        for shard, row in locs:
            self._file(shard)
            starts = self._starts[shard]
            group = bisect.bisect_right(starts, row) - 1
            if (shard, group) != run_key:
                flush()
                run_key = (shard, group)
            run.append(row - starts[group])
        flush()
        return out

    def locations(self, t: pa.Table) -> Iterator[tuple[int, int]]:
        return zip(t.column("_shard").to_pylist(), t.column("_row").to_pylist(), strict=True)

    # -- queries --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        t = self.table

        def counts(col: str) -> dict[str, int]:
            if col not in t.column_names:
                return {}
            vc = pc.value_counts(t.column(col)).to_pylist()
            return {str(d["values"]): int(d["counts"]) for d in vc}

        labels = self.labels.current()
        return {
            "run": str(self.store.root),
            "traces": t.num_rows,
            "problems": len(pc.unique(t.column("problem_id")))
            if "problem_id" in self.columns
            else 0,
            "shards": len(self.shards),
            "verdict": counts("verdict"),
            "source": counts("source"),
            "accepted": counts("accepted"),
            "labels": {k: sum(x.label == k for x in labels.values()) for k in ("accept", "reject")},
            "score_columns": self.score_columns,
        }

    def filtered(self, q: Query) -> pa.Table:
        """The index rows that pass the query's filters and search, in run order."""
        mask = filter_mask(self.table, q, self.score_columns, self.labels.current(), self.search)
        return self.table if mask is None else self.table.filter(mask)

    def page(self, q: Query) -> dict[str, Any]:
        t = self.filtered(q)
        light = t.slice(q.offset, q.limit)
        rows = light.drop_columns(["_shard", "_row"]).to_pylist()
        labels = self.labels.current()
        for row, extra in zip(
            rows, self.read_rows(self.locations(light), PAGE_COLUMNS), strict=True
        ):
            question = extra.pop("question", None) or ""
            if len(question) > QUESTION_PREVIEW:
                question = question[: QUESTION_PREVIEW - 1] + "…"
            label = labels.get(row["trace_id"])
            row.update(extra, question=question, label=label and label.label,
                       label_note=label and label.note)  # fmt: skip
        return {"total": t.num_rows, "offset": q.offset, "limit": q.limit, "rows": jsonable(rows)}

    def export_rows(self, q: Query, chunk: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Every column of every trace the query selects, with its human label, in chunks."""
        t = self.filtered(q)
        for start in range(0, t.num_rows, chunk):
            part = t.slice(start, chunk)
            rows = self.read_rows(self.locations(part), self.schema.names)
            labels = self.labels.current()
            for r in rows:
                label = labels.get(r["trace_id"])
                r["label"], r["label_note"] = (label.label, label.note) if label else (None, None)
            yield jsonable(rows)

    def locate(self, trace_id: str) -> tuple[int, int] | None:
        t = self.table
        i = pc.index(t.column("trace_id"), trace_id).as_py()
        if i < 0:
            return None
        return t.column("_shard")[i].as_py(), t.column("_row")[i].as_py()

    def siblings(self, problem_id: str, but: str) -> list[tuple[int, int]]:
        """Where the problem's other traces are."""
        t = self.table
        same = t.filter(pc.equal(t.column("problem_id"), problem_id))
        return [
            (s, r)
            for (s, r), tid in zip(
                self.locations(same), same.column("trace_id").to_pylist(), strict=True
            )
            if tid != but
        ]
