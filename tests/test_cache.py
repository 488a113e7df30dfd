"""The LLM-call cache: puts from a running loop go through the writer thread, are readable at
once, survive a reopen, and a write that fails is raised, not dropped."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tracemint.cache import CallCache, call_key
from tracemint.teachers.base import Completion, GenerationRequest

IDENTITY = {"teacher": "test", "model": "m"}


def _request(i: int) -> GenerationRequest:
    return GenerationRequest(
        messages=({"role": "user", "content": f"q{i}"},), max_tokens=8, sample_index=0
    )


def _completion(i: int) -> Completion:
    return Completion(text=f"The answer is {i}.", finish_reason="stop")


def test_puts_from_a_loop_are_read_back_at_once_and_after_a_reopen(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.sqlite")
    keys = [call_key(IDENTITY, _request(i)) for i in range(500)]

    async def go() -> None:
        for i, key in enumerate(keys):
            cache.put(key, IDENTITY, _request(i), _completion(i))
            got = cache.get(key)  # pending, being written or written: never a miss
            assert got is not None and got.text == f"The answer is {i}."
            if i % 7 == 0:
                await asyncio.sleep(0)  # let some batches reach the writer thread

    asyncio.run(go())
    assert len(cache) == 500
    cache.close()
    again = CallCache(tmp_path / "c.sqlite")
    assert [again.get(k).text for k in keys[:3]] == [f"The answer is {i}." for i in range(3)]  # type: ignore[union-attr]
    assert again.get(call_key(IDENTITY, _request(999))) is None
    again.close()


def test_a_failed_background_write_is_raised_not_dropped(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.sqlite")

    async def go() -> None:
        cache.put(call_key(IDENTITY, _request(0)), IDENTITY, _request(0), _completion(0))
        await asyncio.sleep(0)  # the first batch starts the writer thread
        cache.commit()
        assert cache._writer is not None
        cache._writer._db.close()  # its connection breaks, as a full disk would
        cache.put(call_key(IDENTITY, _request(1)), IDENTITY, _request(1), _completion(1))
        await asyncio.sleep(0.05)

    asyncio.run(go())
    with pytest.raises(sqlite3.ProgrammingError):
        cache.commit()


def _open_together(path: str, barrier: Any) -> None:
    barrier.wait()
    CallCache(path).close()


def test_many_processes_open_one_new_cache_together(tmp_path: Path) -> None:
    """A run's workers (and Ray actors on one host) open the same new cache file at once;
    switching it to WAL races for an exclusive lock that SQLite may refuse without waiting
    (seen: a worker died with 'database is locked'; about one process in 150 here before
    the fix). Every process must get the cache."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    exit_codes: list[int | None] = []
    for trial in range(20):
        path = str(tmp_path / f"cache-{trial}.sqlite")
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_open_together, args=(path, barrier)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        exit_codes += [p.exitcode for p in procs]
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    assert exit_codes == [0] * len(exit_codes)
