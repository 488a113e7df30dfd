"""What a run records about itself: recipe, versions, counts, timings. Never secrets."""

from __future__ import annotations

import datetime as dt
import platform
import time
from importlib import metadata
from typing import Any

from tracemint._version import __version__
from tracemint.config import Recipe
from tracemint.records import stable_hash
from tracemint.store import RunStore
from tracemint.strategies import Strategy
from tracemint.teachers.base import Teacher
from tracemint.verify import VERIFIER_VERSION

_COUNTED = ["verdict", "accepted", "drop_reason"]
_VERSIONED = ("aiohttp", "pyarrow", "sympy", "torch", "transformers", "pydantic")


def recipe_fingerprint(recipe: Recipe) -> str:
    """Hash of the recipe parts that decide the traces (not export or run tuning)."""
    d = recipe.model_dump(
        include={
            "source",
            "teacher",
            "strategy",
            "verify",
            "montecarlo",
            "probes",
            "curate",
            "sandbox",
            "sampling",
            "budget",
            "select",
        }
    )
    d["teacher"] = _teacher_fingerprint(d["teacher"])
    if d["verify"].get("answers") == "auto":  # the default since it was added: runs keep theirs
        del d["verify"]["answers"]
    if not d["budget"].get("rationalize"):  # off, as before it existed: runs keep theirs
        d["budget"].pop("rationalize", None)
    if not d["select"].get("reject_mc_errors"):  # the same
        d["select"].pop("reject_mc_errors", None)
    return stable_hash(d)


def _teacher_fingerprint(section: dict[str, Any]) -> dict[str, Any]:
    """The teacher section less its tuning keys (``Teacher.tuning_keys``)."""
    from tracemint import plugins

    try:
        cls = plugins.teachers.get(section.get("type", ""))
    except Exception:  # an unknown type fails validation elsewhere, with a clear message
        return section
    return cls.fingerprint_config(section)


def package_versions() -> dict[str, str]:
    out = {"tracemint": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def new_session(
    recipe: Recipe, teacher: Teacher, strategy: Strategy, *, resumed: bool
) -> dict[str, Any]:
    return {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "t0": time.monotonic(),
        "resumed": resumed,
        "teacher": teacher.identity(),
        "template_hash": strategy.template_hash,
    }


def _header(recipe: Recipe, teacher: Teacher) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "recipe": recipe.model_dump(mode="json"),
        "recipe_fingerprint": recipe_fingerprint(recipe),
        "teacher": teacher.identity(),
        "verifier_version": VERIFIER_VERSION,
        "versions": package_versions(),
    }


def begin_manifest(store: RunStore, recipe: Recipe, teacher: Teacher) -> None:
    """Mark the run as started before any call is made.

    Why: a run killed before it finishes must still be recognisable as *this* recipe's run,
    so a rerun without ``--resume`` is refused and ``--resume`` keeps the shards.
    """
    old: dict[str, Any] = store.read_manifest() if store.exists() else {}
    store.write_manifest({**old, **_header(recipe, teacher), "complete": False})


def write_final_manifest(
    store: RunStore,
    recipe: Recipe,
    teacher: Teacher,
    session: dict[str, Any],
    stats: Any,
    error: BaseException | None,
) -> None:
    """Append this session to the manifest and recount the run from its shards."""
    from tracemint.stages import summarize

    old: dict[str, Any] = store.read_manifest() if store.exists() else {}
    wall = time.monotonic() - session.pop("t0")
    session.update(
        {
            "wall_s": round(wall, 3),
            "status": "finished" if error is None else f"stopped: {type(error).__name__}",
            "problems_minted": stats.problems,
            "problems_skipped": stats.skipped,
            "new_calls": stats.new_calls,
            "cached_calls": stats.cached_calls,
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
        }
    )
    counters = getattr(getattr(teacher, "stats", None), "as_dict", None)
    if callable(counters):  # requests, retries, 429s, back-offs: the report's call figures
        session["teacher_stats"] = counters()
    sessions = [*old.get("sessions", []), session]
    counts = summarize(store.read_traces(_COUNTED).to_pylist() if store.shards() else [])
    counts["problems"] = len(store.done_problem_ids())
    store.write_manifest(
        {
            **_header(recipe, teacher),
            "complete": error is None,
            "counts": counts,
            "sessions": sessions,
        }
    )
