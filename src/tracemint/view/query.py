"""What a list request asks for: parsed, validated, and turned into a mask over the index.

A parameter the viewer does not know is an error (``BadQuery``, HTTP 400 naming it), never
ignored: a typo in a shared link (``verdikt=wrong``) would otherwise show every trace and
look like an answer.

Full-text search (``q``) runs over the question and the rationale (``completion``) of every
trace, server side: the terms (whitespace-separated; ``"a phrase"`` in double quotes is one
term) must all occur, case-insensitively, each in the question or the rationale. Those
columns are not in the in-memory index (they are most of a run's bytes), so a new search
reads them shard by shard with column projection, once; the mask of the last few searches
is kept, so paging and re-filtering a search costs nothing more.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracemint.labels import Label

FILTER_PARAMS = (
    "verdict", "source", "accepted", "min_pass_rate", "max_pass_rate",
    "probe", "min", "max", "q", "label",
)  # fmt: skip
PAGE_PARAMS = ("offset", "limit")
LABEL_FILTERS = ("accept", "reject", "none", "any")
SEARCH_COLUMNS = ("question", "completion")
MAX_LIMIT = 500
_TERM = re.compile(r'"([^"]*)"|(\S+)')


class BadQuery(ValueError):
    """A request parameter that is unknown, repeated or malformed (HTTP 400)."""


@dataclass(frozen=True)
class Query:
    filters: dict[str, str] = field(default_factory=dict)
    offset: int = 0
    limit: int = 50

    def get(self, key: str) -> str:
        return self.filters.get(key, "")


def parse_query(params: Mapping[str, str] | Any, *, paged: bool = True) -> Query:
    """Validate request parameters (a ``MultiDict`` or a plain mapping) into a ``Query``."""
    allowed = FILTER_PARAMS + (PAGE_PARAMS if paged else ())
    keys = list(params.keys())  # a MultiDict lists a repeated key once: count with getall
    for k in keys:
        if k not in allowed:
            raise BadQuery(f"unknown parameter {k!r}; known: {', '.join(allowed)}")
        if hasattr(params, "getall") and len(params.getall(k)) > 1:
            raise BadQuery(f"parameter {k!r} given more than once")
    filters = {k: str(params[k]) for k in keys if k in FILTER_PARAMS and params[k] != ""}
    try:
        offset = max(0, int(params.get("offset") or 0))
        limit = min(MAX_LIMIT, max(1, int(params.get("limit") or 50)))
    except ValueError:
        raise BadQuery("offset and limit must be integers") from None
    if filters.get("accepted", "true") not in ("true", "false"):
        raise BadQuery("accepted must be true or false")
    if filters.get("label", "any") not in LABEL_FILTERS:
        raise BadQuery(f"label must be one of {', '.join(LABEL_FILTERS)}")
    if "q" in filters and not search_terms(filters["q"]):
        del filters["q"]  # only blanks: no search
    return Query(filters, offset, limit)


def search_terms(q: str) -> tuple[str, ...]:
    terms = (a or b for a, b in _TERM.findall(q))
    return tuple(sorted({t.strip().casefold() for t in terms if t.strip()}))


class TextSearch:
    """Masks of full-text searches over the shards' question and completion columns."""

    def __init__(self, shards: list[Path], n_rows: int, keep: int = 16) -> None:
        self.shards, self.n_rows, self.keep = shards, n_rows, keep
        self._masks: OrderedDict[tuple[str, ...], pa.Array] = OrderedDict()
        self._lock = threading.Lock()

    def mask(self, q: str) -> pa.Array:
        """True where every term of ``q`` is in the question or the rationale (index order)."""
        terms = search_terms(q)
        with self._lock:
            hit = self._masks.get(terms)
            if hit is not None:
                self._masks.move_to_end(terms)
                return hit
        parts = []
        for path in self.shards:
            have = [c for c in SEARCH_COLUMNS if c in pq.read_schema(path).names]
            t = pq.read_table(path, columns=have)
            shard_mask = pa.array([True] * t.num_rows)
            for term in terms:
                hits = pa.array([False] * t.num_rows)
                for c in have:
                    found = pc.match_substring(t.column(c), term, ignore_case=True)
                    hits = pc.or_(hits, pc.fill_null(found, False))
                shard_mask = pc.and_(shard_mask, hits)
            parts.append(shard_mask)
        chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
        mask = pa.chunked_array(chunks, pa.bool_()).combine_chunks()
        if len(mask) != self.n_rows:  # a shard changed under the viewer
            raise BadQuery("the run's shards changed since the viewer started; restart it")
        with self._lock:
            self._masks[terms] = mask
            while len(self._masks) > self.keep:
                self._masks.popitem(last=False)
        return mask


def filter_mask(
    t: pa.Table,
    q: Query,
    score_columns: list[str],
    labels: dict[str, Label],
    search: TextSearch,
) -> pa.Array | pa.ChunkedArray | None:
    """The query's filter over the index table ``t``, or None for everything."""
    conds: list[Any] = []
    for col in ("verdict", "source"):
        v = q.get(col)
        if v and col in t.column_names:
            conds.append(pc.equal(t.column(col), v))
    acc = q.get("accepted")
    if acc:
        conds.append(pc.equal(t.column("accepted"), acc == "true"))
    ranges = [("pass_rate", q.get("min_pass_rate"), q.get("max_pass_rate"))]
    probe = q.get("probe")
    if probe:
        if probe not in score_columns:
            raise BadQuery(f"unknown score column {probe!r}")
        ranges.append((probe, q.get("min"), q.get("max")))
    elif q.get("min") or q.get("max"):
        raise BadQuery("min and max need probe=COLUMN")
    for col, lo, hi in ranges:
        for bound, op in ((lo, pc.greater_equal), (hi, pc.less_equal)):
            if not bound:
                continue
            if col not in t.column_names:
                raise BadQuery(f"no column {col!r} in this run")
            try:
                x = float(bound)
            except ValueError:
                raise BadQuery(f"not a number: {bound!r}") from None
            conds.append(op(t.column(col), x))
    label = q.get("label")
    if label:
        ids = [tid for tid, lb in labels.items() if label in ("any", "none") or lb.label == label]
        member = pc.is_in(t.column("trace_id"), value_set=pa.array(ids, pa.string()))
        conds.append(pc.invert(member) if label == "none" else member)
    if q.get("q"):
        conds.append(search.mask(q.get("q")))
    if not conds:
        return None
    mask = conds[0]
    for c in conds[1:]:
        mask = pc.and_kleene(mask, c)
    return pc.fill_null(mask, False)
