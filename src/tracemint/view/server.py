"""The trace viewer: an aiohttp app over a run's Parquet shards, read-only for the shards.

The one thing it writes is the run's label sidecar (``labels.jsonl``, see
``tracemint.labels``), through ``POST /api/labels``; the shards are never opened for
writing. See ``index.py`` for how paging stays fast on large runs and ``query.py`` for the
filters and the full-text search.

Endpoints (an unknown query parameter is 400, naming it; other methods are 405)::

    GET  /                      the page (static/index.html); its URL carries the view state
    GET  /api/summary           counts by verdict, source, accepted, label; score columns
    GET  /api/traces?verdict=&source=&accepted=&min_pass_rate=&max_pass_rate=
                     &probe=COL&min=&max=&q=&label=&offset=&limit=    one page of light rows
    GET  /api/export?(the same filters)   every matching trace, all columns, as JSONL
    GET  /api/trace/TRACE_ID    the full row (+ claims, parsed prompt), the problem's others
    GET  /api/labels            every current label
    POST /api/labels            {"trace_id", "label": accept|reject|clear, "note"}
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tracemint.errors import RunError
from tracemint.labels import make_label
from tracemint.view.detail import trace_detail
from tracemint.view.index import TraceIndex
from tracemint.view.query import BadQuery, parse_query

INDEX_KEY = web.AppKey("index", TraceIndex)
LABEL_KEYS = {"trace_id", "label", "note"}


def _page_html() -> bytes:
    return (resources.files("tracemint.view") / "static" / "index.html").read_bytes()


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _no_params(request: web.Request) -> None:
    if request.query:
        raise BadQuery(f"unknown parameter {next(iter(request.query))!r}; this takes none")


async def _root(request: web.Request) -> web.Response:
    return web.Response(body=_page_html(), content_type="text/html", charset="utf-8")


async def _summary(request: web.Request) -> web.Response:
    _no_params(request)
    return web.json_response(await asyncio.to_thread(request.app[INDEX_KEY].summary))


async def _traces(request: web.Request) -> web.Response:
    index = request.app[INDEX_KEY]
    q = parse_query(request.query)
    return web.json_response(await asyncio.to_thread(index.page, q))


async def _export(request: web.Request) -> web.StreamResponse:
    """The filtered traces as a JSONL download, streamed in chunks (a subset may be large)."""
    index = request.app[INDEX_KEY]
    q = parse_query(request.query, paged=False)
    chunks = index.export_rows(q)
    first = await asyncio.to_thread(next, chunks, None)  # a bad search fails before headers
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", index.store.root.name) or "run"
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}-subset.jsonl"',
        }
    )
    await response.prepare(request)
    chunk = first
    while chunk is not None:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk)
        await response.write(lines.encode("utf-8"))
        chunk = await asyncio.to_thread(next, chunks, None)
    await response.write_eof()
    return response


async def _trace(request: web.Request) -> web.Response:
    _no_params(request)
    index = request.app[INDEX_KEY]
    found = await asyncio.to_thread(trace_detail, index, request.match_info["trace_id"])
    if found is None:
        return _error("no such trace", 404)
    return web.json_response(found)


async def _labels(request: web.Request) -> web.Response:
    _no_params(request)
    labels = request.app[INDEX_KEY].labels.current()
    return web.json_response(
        {tid: {"label": x.label, "note": x.note, "time": x.time} for tid, x in labels.items()}
    )


async def _post_label(request: web.Request) -> web.Response:
    """Append one label to the sidecar. JSON only: a cross-site form cannot send JSON
    without a CORS preflight, which this server never grants."""
    _no_params(request)
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return _error("labels are only accepted from the viewer's own page", 403)
    if request.content_type != "application/json":
        return _error("send the label as application/json", 415)
    try:
        body = await request.json()
    except ValueError:
        return _error("the body is not JSON")
    if not isinstance(body, dict):
        return _error("the body must be a JSON object")
    unknown = sorted(set(body) - LABEL_KEYS)
    if unknown:
        return _error(f"unknown field {unknown[0]!r}; known: label, note, trace_id")
    index = request.app[INDEX_KEY]
    try:
        label = make_label(body.get("trace_id", ""), body.get("label", ""), body.get("note") or "")
    except ValueError as e:
        return _error(str(e))
    if index.locate(label.trace_id) is None:
        return _error(f"no trace {label.trace_id!r} in this run", 404)
    await asyncio.to_thread(index.labels.add, label)
    return web.json_response(
        {"trace_id": label.trace_id, "label": label.label, "note": label.note, "time": label.time}
    )


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except BadQuery as e:
        response = _error(str(e))
    except RunError as e:  # e.g. a hand-edited labels.jsonl: say which line, not just 500
        response = _error(str(e), 500)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def make_app(run_dir: str | Path | TraceIndex) -> web.Application:
    """The app: GET routes, and one POST that appends to the label sidecar."""
    index = run_dir if isinstance(run_dir, TraceIndex) else TraceIndex(run_dir)
    app = web.Application(middlewares=[_headers], client_max_size=64 * 1024)
    app[INDEX_KEY] = index
    app.router.add_get("/", _root)
    app.router.add_get("/api/summary", _summary)
    app.router.add_get("/api/traces", _traces)
    app.router.add_get("/api/export", _export)
    app.router.add_get("/api/trace/{trace_id}", _trace)
    app.router.add_get("/api/labels", _labels)
    app.router.add_post("/api/labels", _post_label)
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
