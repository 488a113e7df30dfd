"""Add columns to an existing run: ``tracemint probe RUN`` runs probes on its traces.

Shards are rewritten one at a time, atomically, and every probe call goes through the run's
call cache: a killed ``probe`` command loses nothing and a rerun repeats no finished call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import parse_recipe
from tracemint.runner.local import build_teacher
from tracemint.runner.loop import run as run_loop
from tracemint.store import RunStore

_FILTER_COLUMNS = ("trace_id", "accepted", "answer", "truncated")


def _chosen(t: dict[str, Any], share: float, accepted_only: bool) -> bool:
    """Whether trace ``t`` is probed: answered, untruncated, accepted if asked, in the sample."""
    return bool(
        (t.get("accepted") or not accepted_only)
        and t.get("answer") is not None
        and not t.get("truncated")
        and stages.probe_sample(t["trace_id"], share)
    )


def _count_chosen(store: RunStore, share: float, accepted_only: bool) -> int:
    """How many traces will be probed (the progress bar's total), reading only the few
    columns the choice needs: cheap next to a single probe call."""
    n = 0
    for shard in store.shards():
        present = set(pq.read_schema(shard).names)
        columns = [c for c in _FILTER_COLUMNS if c in present]
        rows = pq.read_table(shard, columns=columns).to_pylist()
        n += sum(_chosen(t, share, accepted_only) for t in rows)
    return n


async def _probe_run(
    store: RunStore,
    names: list[str],
    share: float,
    options: dict[str, Any],
    accepted_only: bool,
    on_done: Callable[[], None] | None = None,
) -> dict[str, int]:
    from tracemint.probes import run_probes

    recipe = parse_recipe(store.read_manifest()["recipe"], str(store.manifest_path))
    teacher = build_teacher(recipe)
    cache = CallCache(store.cache_path)
    probed = 0
    try:
        for shard in store.shards():
            rows = pq.read_table(shard).to_pylist()
            chosen = [t for t in rows if _chosen(t, share, accepted_only)]
            if not chosen:
                continue
            probed_rows = await run_probes(chosen, teacher, cache, names, options, on_done)
            done = {t["trace_id"]: t for t in probed_rows}
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
    progress: bool = False,
) -> dict[str, int]:
    """Run probes on the traces of a finished run (the accepted ones, or every untruncated
    trace with an answer) and store their columns.

    ``progress`` shows a bar of traces probed on stderr: probing a run takes as long as
    minting it did, and a silent half minute looks like a hang.
    """
    store = RunStore(run_dir)
    if not progress:
        return run_loop(_probe_run(store, names, share, options or {}, accepted_only))
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    store.read_manifest()  # a directory that is not a run fails before the bar is drawn
    total = _count_chosen(store, share, accepted_only)
    with Progress(
        TextColumn("[bold]probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("traces"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("probe", total=total)
        return run_loop(
            _probe_run(
                store,
                names,
                share,
                options or {},
                accepted_only,
                lambda: bar.advance(task),
            )
        )
