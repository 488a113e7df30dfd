"""Add columns to an existing run: ``tracemint probe RUN`` runs probes on its traces.

Shards are rewritten one at a time, atomically, and every probe call goes through the run's
call cache: a killed ``probe`` command loses nothing and a rerun repeats no finished call.
Probed shards are rewritten first and the run's other shards are extended with the new
columns at the end (``RunStore.unify``), so every shard ends with one schema; a command
killed in between leaves shards that read correctly and that the next one extends.

The probes and their settings come from the run's own recipe (``[probes] names`` and the
``[probes.NAME]`` tables) unless the command line says otherwise: probing a run again with
defaults would silently overwrite columns that were computed with the recipe's settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracemint import stages
from tracemint.cache import CallCache
from tracemint.config import Recipe, parse_recipe
from tracemint.errors import ConfigError
from tracemint.runner.local import build_teacher
from tracemint.runner.loop import run as run_loop
from tracemint.store import RunStore

_FILTER_COLUMNS = ("trace_id", "accepted", "answer", "truncated")

Settings = dict[str, dict[str, Any]]


def parse_settings(items: Sequence[str]) -> Settings:
    """``["mistake.max_tokens=128", "hint.template=..."]`` -> ``{probe: {key: value}}``.

    A value is read as JSON when it parses (numbers, booleans, lists such as ``[0, 1]``) and
    kept as the string typed otherwise, so a template needs no JSON quoting in the shell."""
    out: Settings = {}
    for item in items:
        lhs, eq, raw = item.partition("=")
        name, dot, key = lhs.strip().partition(".")
        if not eq or not dot or not name or not key:
            raise ConfigError(
                f"--set {item!r}: expected PROBE.KEY=VALUE, e.g. --set mistake.max_tokens=128"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out


def probe_settings(
    recipe: Recipe, names: Sequence[str] | None, overrides: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], Settings]:
    """The probes to run and each one's settings: the recipe's ``[probes.NAME]`` table, then
    ``overrides`` key by key. Every setting is validated here, before any call is made; an
    error names ``probes.NAME.KEY``."""
    from tracemint.probes import make_config, probes

    chosen = list(names) if names else list(recipe.probes.names)
    if not chosen:
        raise ConfigError(
            "no probes to run: pass --probes (e.g. --probes early,filler) or set "
            "[probes] names in the run's recipe"
        )
    for name in chosen:
        try:
            probes.get(name)
        except ConfigError as e:
            raise ConfigError(f"probes: {e}") from None
    stray = sorted(set(overrides) - set(chosen))
    if stray:
        raise ConfigError(
            f"probes.{stray[0]}: settings given for a probe that is not run "
            f"(running: {', '.join(chosen)})"
        )
    from_recipe = recipe.probes.options()
    settings: Settings = {}
    for name in chosen:
        merged = {**dict(from_recipe.get(name) or {}), **dict(overrides.get(name) or {})}
        try:
            make_config(name, merged)  # raises ConfigError naming probes.NAME.KEY
        except ConfigError as e:
            known = ", ".join(sorted(probes.get(name).config_class.model_fields))
            raise ConfigError(
                str(e).replace(
                    "Extra inputs are not permitted", f"unknown key; probe {name!r} has: {known}"
                )
            ) from None
        settings[name] = merged
    return chosen, settings


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
    recipe: Recipe,
    names: list[str],
    share: float,
    settings: Settings,
    accepted_only: bool,
    on_done: Callable[[], None] | None = None,
) -> dict[str, int]:
    from tracemint.probes import run_probes

    teacher = build_teacher(recipe)
    cache = CallCache(store.cache_path)
    probed = 0
    try:
        # a probe command killed while extending shards left some without the new columns
        store.unify()
        for shard in store.shards():
            rows = pq.read_table(shard).to_pylist()
            chosen = [t for t in rows if _chosen(t, share, accepted_only)]
            if not chosen:
                continue
            probed_rows = await run_probes(chosen, teacher, cache, names, settings, on_done)
            done = {t["trace_id"]: t for t in probed_rows}
            store.rewrite_shard(shard, [done.get(t["trace_id"], t) for t in rows], unify=False)
            probed += len(done)
        store.unify()
    finally:
        cache.close()
        await teacher.aclose()
    return {"probed": probed}


def probe_run(
    run_dir: str | Path,
    names: Sequence[str] | None = None,
    share: float | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    accepted_only: bool = True,
    progress: bool = False,
) -> dict[str, int]:
    """Run probes on the traces of a finished run (the accepted ones, or every untruncated
    trace with an answer) and store their columns in every shard.

    ``names`` defaults to the recipe's ``[probes] names`` and ``share`` to its ``[probes]
    sample``; ``options`` (``{probe: {key: value}}``) overrides the recipe's ``[probes.NAME]``
    settings key by key. ``progress`` shows a bar of traces probed on stderr: probing a run
    takes as long as minting it did, and a silent half minute looks like a hang.
    """
    store = RunStore(run_dir)
    # a directory that is not a run, or a bad setting, fails before the bar is drawn
    recipe = parse_recipe(store.read_manifest()["recipe"], str(store.manifest_path))
    chosen, settings = probe_settings(recipe, names, options or {})
    sample = recipe.probes.sample if share is None else share
    if not progress:
        return run_loop(_probe_run(store, recipe, chosen, sample, settings, accepted_only))
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = _count_chosen(store, sample, accepted_only)
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
                recipe,
                chosen,
                sample,
                settings,
                accepted_only,
                lambda: bar.advance(task),
            )
        )
