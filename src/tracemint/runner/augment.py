"""Add columns to an existing run: ``tracemint probe RUN`` runs probes on its traces.

Shards are rewritten one at a time, atomically, and every probe call goes through the run's
call cache: a killed ``probe`` command loses nothing and a rerun repeats no finished call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import parse_recipe
from tracemint.runner.local import build_teacher
from tracemint.runner.loop import run as run_loop
from tracemint.store import RunStore


async def _probe_run(
    store: RunStore, names: list[str], share: float, options: dict[str, Any], accepted_only: bool
) -> dict[str, int]:
    from tracemint.probes import run_probes

    recipe = parse_recipe(store.read_manifest()["recipe"], str(store.manifest_path))
    teacher = build_teacher(recipe)
    cache = CallCache(store.cache_path)
    probed = 0
    try:
        for shard in store.shards():
            rows = pq.read_table(shard).to_pylist()
            chosen = [
                t
                for t in rows
                if (t.get("accepted") or not accepted_only)
                and t.get("answer") is not None
                and not t.get("truncated")
                and stages.probe_sample(t["trace_id"], share)
            ]
            if not chosen:
                continue
            done = {
                t["trace_id"]: t for t in await run_probes(chosen, teacher, cache, names, options)
            }
            store.rewrite_shard(shard, [done.get(t["trace_id"], t) for t in rows])
            probed += len(done)
    finally:
        cache.close()
        await teacher.aclose()
    return {"probed": probed}


def probe_run(
    run_dir: str | Path,
    names: list[str],
    share: float = 1.0,
    options: dict[str, Any] | None = None,
    accepted_only: bool = True,
) -> dict[str, int]:
    """Run probes on the traces of a finished run (the accepted ones, or every untruncated
    trace with an answer) and store their columns."""
    store = RunStore(run_dir)
    return run_loop(_probe_run(store, names, share, options or {}, accepted_only))
