"""The trace viewer: a read-only aiohttp app over a run's Parquet shards.

Paging stays fast on large runs without loading the run: at start the viewer reads only the
*light* columns (ids, verdict, source, accepted and the numeric score columns) of every
shard into one small Arrow table, with each row's shard number and row number. Filters and
page offsets are answered from that index with ``pyarrow.compute``; the heavier columns of
one page (question, answers, drop reason) and a trace's full row are then read from their
shard's row group on demand, with column projection.

Endpoints (GET only; anything else is 405)::

    GET /                       the page (static/index.html)
    GET /api/summary            counts by verdict, source, accepted; the filterable columns
    GET /api/traces?verdict=&source=&accepted=&min_pass_rate=&max_pass_rate=
                    &probe=COL&min=&max=&offset=&limit=    one page of light rows
    GET /api/trace/TRACE_ID     the full row, plus the problem's other samples
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aiohttp import web

from tracemint.errors import RunError
from tracemint.store import RunStore

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
ALTERNATIVE_COLUMNS = (
    "trace_id",
    "sample_index",
    "answer",
    "verdict",
    "accepted",
    "drop_reason",
    "first_wrong_step",
    "completion",
    "steps",
)
MAX_LIMIT = 500
QUESTION_PREVIEW = 160


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
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
        self._groups: OrderedDict[tuple[int, int, tuple[str, ...]], pa.Table] = OrderedDict()
        self._lock = threading.Lock()
        self.table = self._build()

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
        for shard, row in locs:
            meta = self._file(shard).metadata
            group, start = 0, 0
            while start + meta.row_group(group).num_rows <= row:
                start += meta.row_group(group).num_rows
                group += 1
            t = self._row_group(shard, group, cols)
            out.append(t.slice(row - start, 1).to_pylist()[0])
        return out

    # -- queries --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        t = self.table

        def counts(col: str) -> dict[str, int]:
            if col not in t.column_names:
                return {}
            vc = pc.value_counts(t.column(col)).to_pylist()
            return {str(d["values"]): int(d["counts"]) for d in vc}

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
            "score_columns": self.score_columns,
        }

    def filter_mask(self, q: dict[str, str]) -> pa.ChunkedArray | pa.Array | None:
        """The query's filter over the index, or None for everything; ValueError if bad."""
        t = self.table
        conds = []
        for col in ("verdict", "source"):
            v = q.get(col)
            if v and col in t.column_names:
                conds.append(pc.equal(t.column(col), v))
        acc = q.get("accepted")
        if acc:
            if acc not in ("true", "false"):
                raise ValueError("accepted must be true or false")
            conds.append(pc.equal(t.column("accepted"), acc == "true"))
        ranges = [("pass_rate", q.get("min_pass_rate"), q.get("max_pass_rate"))]
        probe = q.get("probe")
        if probe:
            if probe not in self.score_columns:
                raise ValueError(f"unknown score column {probe!r}")
            ranges.append((probe, q.get("min"), q.get("max")))
        for col, lo, hi in ranges:
            for bound, op in ((lo, pc.greater_equal), (hi, pc.less_equal)):
                if bound in (None, ""):
                    continue
                if col not in t.column_names:
                    raise ValueError(f"no column {col!r} in this run")
                try:
                    x = float(bound)  # type: ignore[arg-type]
                except ValueError:
                    raise ValueError(f"not a number: {bound!r}") from None
                conds.append(op(t.column(col), x))
        if not conds:
            return None
        mask = conds[0]
        for c in conds[1:]:
            mask = pc.and_kleene(mask, c)
        return pc.fill_null(mask, False)

    def page(self, q: dict[str, str]) -> dict[str, Any]:
        try:
            offset = max(0, int(q.get("offset") or 0))
            limit = min(MAX_LIMIT, max(1, int(q.get("limit") or 50)))
        except ValueError:
            raise ValueError("offset and limit must be integers") from None
        mask = self.filter_mask(q)
        t = self.table if mask is None else self.table.filter(mask)
        light = t.slice(offset, limit)
        rows = light.drop_columns(["_shard", "_row"]).to_pylist()
        locs = zip(
            light.column("_shard").to_pylist(), light.column("_row").to_pylist(), strict=True
        )
        for row, extra in zip(rows, self.read_rows(locs, PAGE_COLUMNS), strict=True):
            question = extra.pop("question", None) or ""
            if len(question) > QUESTION_PREVIEW:
                question = question[: QUESTION_PREVIEW - 1] + "…"
            row.update(extra, question=question)
        return {"total": t.num_rows, "offset": offset, "limit": limit, "rows": _jsonable(rows)}

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        t = self.table
        i = pc.index(t.column("trace_id"), trace_id).as_py()
        if i < 0:
            return None
        shard, row = t.column("_shard")[i].as_py(), t.column("_row")[i].as_py()
        full = self.read_rows([(shard, row)], self.schema.names)[0]
        same = t.filter(pc.equal(t.column("problem_id"), full["problem_id"]))
        others = [
            (s, r)
            for s, r, tid in zip(
                same.column("_shard").to_pylist(),
                same.column("_row").to_pylist(),
                same.column("trace_id").to_pylist(),
                strict=True,
            )
            if tid != trace_id
        ]
        alternatives = self.read_rows(others, ALTERNATIVE_COLUMNS)
        alternatives.sort(key=lambda a: (a.get("sample_index") is None, a.get("sample_index")))
        return {"trace": _jsonable(full), "alternatives": _jsonable(alternatives)}


# -- the app ------------------------------------------------------------------------------

INDEX_KEY = web.AppKey("index", TraceIndex)


def _page_html() -> bytes:
    return (resources.files("tracemint.view") / "static" / "index.html").read_bytes()


async def _root(request: web.Request) -> web.Response:
    return web.Response(body=_page_html(), content_type="text/html", charset="utf-8")


async def _summary(request: web.Request) -> web.Response:
    return web.json_response(request.app[INDEX_KEY].summary())


async def _traces(request: web.Request) -> web.Response:
    index = request.app[INDEX_KEY]
    try:
        page = await asyncio.to_thread(index.page, dict(request.query))
    except ValueError as e:
        return web.json_response({"error": str(e)}, status=400)
    return web.json_response(page)


async def _trace(request: web.Request) -> web.Response:
    index = request.app[INDEX_KEY]
    found = await asyncio.to_thread(index.trace, request.match_info["trace_id"])
    if found is None:
        return web.json_response({"error": "no such trace"}, status=404)
    return web.json_response(found)


@web.middleware
async def _no_store(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def make_app(run_dir: str | Path | TraceIndex) -> web.Application:
    """The read-only app: only GET routes exist, so any other method gets 405."""
    index = run_dir if isinstance(run_dir, TraceIndex) else TraceIndex(run_dir)
    app = web.Application(middlewares=[_no_store])
    app[INDEX_KEY] = index
    app.router.add_get("/", _root)
    app.router.add_get("/api/summary", _summary)
    app.router.add_get("/api/traces", _traces)
    app.router.add_get("/api/trace/{trace_id}", _trace)
    return app


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}/"


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until interrupted (Ctrl-C raises KeyboardInterrupt to the caller)."""
    app = make_app(run_dir)

    async def main() -> None:
        runner, url = await _start(app, host, port)
        print(f"tracemint view: {url}  (Ctrl-C to stop)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class ViewerThread:
    """The viewer in a background thread (tests, notebooks): ``url`` once started."""

    def __init__(self, run_dir: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = make_app(run_dir)
        self.host, self.port = host, port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> ViewerThread:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(_start(self.app, self.host, self.port), self._loop)
        self._runner, self.url = fut.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ViewerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
