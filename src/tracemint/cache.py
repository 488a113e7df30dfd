"""The LLM-call cache: SQLite, keyed by a hash of the exact request.

Why a cache and not a checkpoint: the key is (teacher identity, messages, sampling params,
sample index, prefill), so *any* rerun, after a crash, a Ctrl-C or an edit of one part of the
recipe, repeats only the calls whose request actually changed. Each result is committed
as soon as it arrives (WAL, synchronous=NORMAL: a commit survives ``kill -9`` of the
process because it is in the OS page cache before ``commit()`` returns), so a killed run
loses at most the calls that were in flight.

Secrets never enter: the key and the stored request are built from ``Teacher.identity()``
and the request, neither of which holds an API key.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import random
import sqlite3
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from tracemint.records import stable_hash
from tracemint.teachers.base import Completion, GenerationRequest, Teacher

_BUSY_S = 30.0  # how long a process waits for another's lock on the cache file
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


#: The ``Teacher.identity()`` key that says how the teacher sends a request *with a prefill*
#: (the openai teacher's ``prefill_style`` and chat template): such requests differ on the
#: wire when it changes, every other request is byte-identical. So it enters the cache key
#: of prefilled requests only, and never a trace_id (``model_identity``).
PREFILL_IDENTITY = "prefill"


def model_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` less how prefills are sent: which model answers, for trace ids."""
    if PREFILL_IDENTITY not in identity:
        return identity
    return {k: v for k, v in identity.items() if k != PREFILL_IDENTITY}


def call_key(identity: dict[str, Any], request: GenerationRequest) -> str:
    """The cache key of one LLM call: every input that can change what is sent, so a
    byte-identical request is never paid for twice (and never where the server lives:
    moving it keeps every key)."""
    if request.prefill is not None:
        return stable_hash(
            identity, list(request.messages), request.sampling(), request.prefill, length=32
        )
    return stable_hash(
        model_identity(identity), list(request.messages), request.sampling(), length=32
    )


_Row = tuple[str, str, str, str, float]
_INSERT = "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)"


def _probe(key: str) -> int:
    """A 60-bit prefix of a (hex) key: what the in-memory key filter holds."""
    try:
        return int(key[:15], 16)
    except ValueError:
        return hash(key)


_LIVE_WRITERS: weakref.WeakSet[_Writer] = weakref.WeakSet()


@atexit.register
def _commit_at_exit() -> None:
    """A daemon thread dies at exit: let every live writer finish what it was handed."""
    for w in list(_LIVE_WRITERS):
        with contextlib.suppress(Exception):
            w.wait()


class _Writer:
    """The cache's writer thread: commits handed-over batches, several per transaction.

    Why not a ``ThreadPoolExecutor``: ``submit`` builds a Future and a work item and wakes a
    thread for every loop iteration that stored a call, measurable at 1,000+ calls/s. Here a
    hand-over is a deque append and an ``Event.set``; whatever arrived while the thread was
    committing goes into its next transaction."""

    def __init__(self, db: sqlite3.Connection, written: dict[str, _Row]) -> None:
        self._db = db
        self._written = written  # the cache's rows-being-written map, pruned after commit
        self._batches: deque[list[_Row]] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._handed = 0
        self._committed = 0
        self._stopping = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tracemint-cache", daemon=True)
        self._thread.start()
        _LIVE_WRITERS.add(self)

    def hand(self, rows: list[_Row]) -> None:
        self._handed += 1
        self._batches.append(rows)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            n = 0
            rows: list[_Row] = []
            while self._batches:
                rows.extend(self._batches.popleft())
                n += 1
            if rows and self.error is None:
                try:
                    self._db.execute("BEGIN")
                    self._db.executemany(_INSERT, rows)
                    self._db.execute("COMMIT")
                except BaseException as e:  # disk full, I/O error: the loop raises it
                    self.error = e
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                for row in rows:  # dict ops are atomic under the GIL
                    if self._written.get(row[0]) is row:
                        del self._written[row[0]]
            with self._idle:
                self._committed += n
                self._idle.notify_all()
                if self._stopping and not self._batches:
                    return

    def wait(self) -> None:
        """Block until every batch handed over so far is committed."""
        target = self._handed
        with self._idle:
            while self._committed < target:
                self._idle.wait()

    def stop(self) -> None:
        self.wait()
        with self._idle:
            self._stopping = True
        self._wake.set()
        self._thread.join()
        self._db.close()


class CallCache:
    """A persistent map from call key to ``Completion``. Use from one thread (the loop's).

    Three things keep it off a fast run's critical path: an in-memory set of key prefixes
    answers most misses (every call of a fresh run) without a query; puts made in one
    event-loop iteration are batched into one ``executemany`` in one transaction (group
    commit); and inside a running loop that batch is written by a writer thread with its
    own connection (SQLite releases the GIL while it works), so the loop goes on at once.
    Rows not yet written are served from memory, so a ``get`` never misses a ``put``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        self._db.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0
        self._known: set[int] = set()
        self._seen_rowid = 0
        self.refresh()
        self._pending: dict[str, _Row] = {}
        self._writing: dict[str, _Row] = {}  # handed to the writer, not yet committed
        self._flush_scheduled = False
        self._writer: _Writer | None = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_S
        )
        db.execute(f"PRAGMA busy_timeout={int(_BUSY_S * 1000)}")
        # Switching a new file to WAL takes an exclusive lock, and SQLite may answer
        # "database is locked" at once, without the busy handler, when several processes
        # (a run's workers, Ray actors) open the same new cache together: retry it.
        deadline = time.monotonic() + _BUSY_S
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.05)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def refresh(self) -> None:
        """Add the keys that other processes committed since the last look to the key filter.

        Why: the filter is what makes a miss free, but it only knows the keys that were in
        the file when it was read. Several processes may share one cache (the Ray runner's
        actors on one host, WAL mode); their problems are disjoint, so none needs another's
        calls, except when a problem is retried after its process died, and then the calls
        that process had saved should be answered from the file. Rows only ever get larger
        rowids (INSERT OR REPLACE appends), so this reads just the new ones."""
        rows = self._db.execute(
            "SELECT rowid, key FROM calls WHERE rowid > ? ORDER BY rowid", (self._seen_rowid,)
        ).fetchall()
        if rows:
            self._known.update(_probe(k) for _, k in rows)
            self._seen_rowid = rows[-1][0]

    def get(self, key: str) -> Completion | None:
        if _probe(key) not in self._known:
            self.misses += 1
            return None
        row = self._pending.get(key) or self._writing.get(key)
        if row is not None:
            raw: str | None = row[3]
        else:
            hit = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
            raw = None if hit is None else hit[0]
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return Completion.from_json(orjson.loads(raw))

    def put(
        self,
        key: str,
        identity: dict[str, Any] | str,
        request: GenerationRequest,
        completion: Completion,
    ) -> None:
        """Store one call: written at the end of this loop iteration (durable a fraction of
        a millisecond later), or at once when no loop is running."""
        ident = identity if isinstance(identity, str) else _dumps(identity)
        self._pending[key] = (
            key,
            ident,
            _dumps(
                {
                    "messages": list(request.messages),
                    **request.sampling(),
                    **({"prefill": request.prefill} if request.prefill else {}),
                }
            ),
            _dumps(completion.to_json()),
            time.time(),
        )
        self._known.add(_probe(key))
        if not self._flush_scheduled:
            loop = _running_loop()
            if loop is None:
                self.commit()
            else:
                self._flush_scheduled = True
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Hand this iteration's puts to the writer thread."""
        self._flush_scheduled = False
        if not self._pending:
            return
        rows = list(self._pending.values())
        self._writing.update(self._pending)
        self._pending.clear()
        if self._writer is None:
            self._writer = _Writer(self._connect(), self._writing)
        elif self._writer.error is not None:
            raise self._writer.error  # a failed write (disk full) stops the run here
        self._writer.hand(rows)

    def commit(self) -> None:
        """Write everything put so far and wait until it is committed."""
        self._flush_scheduled = False
        if self._writer is not None:
            self._writer.wait()
            if self._writer.error is not None:
                raise self._writer.error
        if self._pending:
            rows = list(self._pending.values())
            self._pending.clear()
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        self.commit()
        return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        try:
            self.commit()
        finally:
            if self._writer is not None:
                self._writer.stop()
                self._writer = None
            self._db.close()


class CachedCaller:
    """One teacher call through the cache: the same request is never paid for twice.

    Each call is cached the moment it returns, not when its siblings do, so a kill loses
    only calls still in flight.
    """

    def __init__(self, teacher: Teacher, cache: CallCache | None) -> None:
        self.teacher, self.cache = teacher, cache
        self.identity = teacher.identity()
        self.identity_json = orjson.dumps(self.identity, option=orjson.OPT_SORT_KEYS).decode()

    async def call(self, req: GenerationRequest) -> tuple[Completion, bool]:
        """The completion, and whether it came from the cache."""
        key = call_key(self.identity, req)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, True
        (completion,) = await self.teacher.generate([req])
        # Let queued work (requests just granted a connection slot) go first: responses
        # arrive in bursts, and processing a whole burst before sending the next wave idles
        # the server. Costs one loop iteration of latency, nothing else.
        await asyncio.sleep(0)
        if self.cache is not None:
            self.cache.put(key, self.identity_json, req, completion)
        return completion, False
