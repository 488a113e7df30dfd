"""The LLM-call cache: SQLite, keyed by a hash of the exact request.

Why a cache and not a checkpoint: the key is (teacher identity, messages, sampling params,
sample index), so *any* rerun, after a crash, a Ctrl-C or an edit of one part of the
recipe, repeats only the calls whose request actually changed. Each result is committed
as soon as it arrives (WAL, synchronous=NORMAL: a commit survives ``kill -9`` of the
process because it is in the OS page cache before ``commit()`` returns), so a killed run
loses at most the calls that were in flight.

Secrets never enter: the key and the stored request are built from ``Teacher.identity()``
and the request, neither of which holds an API key.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from tracemint.records import stable_hash
from tracemint.teachers.base import Completion, GenerationRequest

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


def call_key(identity: dict[str, Any], request: GenerationRequest) -> str:
    """The cache key of one LLM call: every input that can change its output."""
    if request.prefill is not None:
        return stable_hash(
            identity, list(request.messages), request.sampling(), request.prefill, length=32
        )
    return stable_hash(identity, list(request.messages), request.sampling(), length=32)


def _probe(key: str) -> int:
    """A 60-bit prefix of a (hex) key: what the in-memory key filter holds."""
    try:
        return int(key[:15], 16)
    except ValueError:
        return hash(key)


class CallCache:
    """A persistent map from call key to ``Completion``. Use from one thread (the loop's).

    Two things keep it off a fast run's critical path: an in-memory set of key prefixes
    answers most misses (every call of a fresh run) without a query, and puts made in one
    event-loop iteration are written by one ``executemany`` in one transaction.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0
        self._known = {_probe(k) for (k,) in self._db.execute("SELECT key FROM calls")}
        self._pending: dict[str, tuple[str, str, str, str, float]] = {}
        self._flush_scheduled = False

    def get(self, key: str) -> Completion | None:
        if _probe(key) not in self._known:
            self.misses += 1
            return None
        pending = self._pending.get(key)
        if pending is not None:
            raw: str | None = pending[3]
        else:
            row = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
            raw = None if row is None else row[0]
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
        """Store one call. Inside an event loop, puts made in the same loop iteration share
        one transaction, committed at the end of that iteration (group commit): durable a
        fraction of a millisecond later, at a fraction of the cost of a commit per call.
        Outside a loop the put is committed at once."""
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
                loop.call_soon(self.commit)

    def commit(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        rows = list(self._pending.values())
        self._pending.clear()
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")

    def __len__(self) -> int:
        self.commit()
        return int(self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        self.commit()
        self._db.close()
