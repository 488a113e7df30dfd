"""What every runner does around the minting itself, so the local and Ray runners agree.

A run directory must mean the same thing whichever runner wrote it: the same fingerprint
check before anything is touched, the same components per problem, the same curation after
minting. Keeping those steps here (and not in each runner) is what makes a run started with
one runner resumable with the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracemint import plugins
from tracemint.config import Recipe, component_config
from tracemint.curate.pipeline import ProblemFilter, curate_run, write_summary
from tracemint.errors import RunError, SourceError
from tracemint.records import Record
from tracemint.runner.manifest import recipe_fingerprint
from tracemint.store import RunStore
from tracemint.teachers.base import Teacher


@dataclass
class RunStats:
    problems: int = 0
    skipped: int = 0
    traces: int = 0
    accepted: int = 0
    new_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    shards_written: int = 0

    def add(self, traces: list[Record]) -> tuple[int, int]:
        accepted = sum(1 for t in traces if t["accepted"])
        new_tokens = sum(t["completion_tokens"] or 0 for t in traces if not t["cache_hit"])
        self.problems += 1
        self.traces += len(traces)
        self.accepted += accepted
        for t in traces:
            if t["cache_hit"]:
                self.cached_calls += 1
            else:
                self.new_calls += 1
                self.prompt_tokens += t["prompt_tokens"] or 0
                self.completion_tokens += t["completion_tokens"] or 0
        return accepted, new_tokens


def build_teacher(recipe: Recipe) -> Teacher:
    cls = plugins.teachers.get(recipe.teacher.type)
    teacher: Teacher = cls(component_config(recipe.teacher, cls))
    return teacher


def open_source(recipe: Recipe) -> Any:
    cls = plugins.sources.get(recipe.source.type)
    return cls(component_config(recipe.source, cls))


def unique(problems: Iterator[Record]) -> Iterator[Record]:
    """Duplicate problem ids would make resume ambiguous: refuse them, naming the row."""
    seen: set[str] = set()
    for p in problems:
        pid = p["problem_id"]
        if pid in seen:
            raise SourceError(
                f"duplicate problem_id {pid!r}; set id_field to a unique column",
                path=p.get("source"),
                line=(p.get("source_index") or 0) + 1,
            )
        seen.add(pid)
        yield p


async def confirm_prefill_if_needed(recipe: Recipe, teacher: Teacher) -> None:
    """Rollouts and most probes continue a partial assistant message: find out before the
    run directory is touched, not after an hour of sampling, whether the server does that
    (one small uncached call)."""
    from tracemint import stages
    from tracemint.probes import confirm_prefill, probes

    needs = recipe.montecarlo.enabled or any(
        probes.get(n).needs_prefill for n in recipe.probes.names
    )
    if needs:
        await confirm_prefill(teacher, stages.CachedCaller(teacher, None))


def prepare_run_dir(store: RunStore, recipe: Recipe, *, resume: bool, fresh: bool) -> set[str]:
    """Decide what the existing run directory means for this run; return done ids."""
    fingerprint = recipe_fingerprint(recipe)
    if store.exists() and store.shards():
        old = store.read_manifest().get("recipe_fingerprint")
        if fresh or old != fingerprint:
            # The recipe changed (or --fresh): traces are redone, but the call cache
            # stays, so only calls whose request changed reach the teacher.
            store.clear_traces()
        elif not resume:
            raise RunError(
                f"{store.root} already holds traces of this recipe: pass --resume to "
                "continue it, or --fresh to redo the traces (the call cache is kept)"
            )
    store.create()
    return store.done_problem_ids()


def curate_after_minting(store: RunStore, recipe: Recipe, problems: ProblemFilter) -> None:
    """After a finished minting pass: record problem removals, curate rationales."""
    cfg = recipe.curate
    summary: dict[str, Any] = {}
    if problems.active:
        summary["problems"] = problems.save(store.root)
    if cfg.rationale_steps():
        summary.update(curate_run(store, cfg, problems.index))
    if summary:
        write_summary(store, summary)


def default_window(recipe: Recipe, teacher: Teacher) -> int:
    """Problems in flight per event loop: enough to keep the teacher's concurrency busy."""
    return recipe.run.max_inflight_problems or 2 * int(
        getattr(getattr(teacher, "config", None), "concurrency", 32)
    )
