"""Curation in a run: problems are filtered before any call is made, rationales after.

Problems (``ProblemFilter``, in the runner's source stream): exact or near-duplicate
problems and problems copied from a named benchmark are never sampled. The filter sees the
whole stream on every session, finished problems included, so its state (the dedup index)
and its list of removals come out the same after a resume.

Rationales (``curate_run``, after minting): accepted traces whose rationale copies a
benchmark, duplicates an earlier accepted rationale, or is longer than the limit lose their
acceptance, then an optional budget keeps the best N, balanced across problems by
difficulty (DART: ``uniform`` gives each problem the same share, ``prop2diff`` gives hard
problems more). It recomputes from the stage's own acceptance (kept in ``selected``), so
rerunning it after a resume or with other settings never compounds. Every removal says why
(``curation_drop``, also the trace's ``drop_reason``) and ``curation.json`` counts them.

Which copy survives a duplicate: the first seen, in source order for problems, and for
rationales in shard order (problems in the order they finished, samples by index).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracemint.config import CurateConfig
from tracemint.records import Record
from tracemint.store import RunStore, atomic_write_bytes, atomic_write_json

SUMMARY_FILE = "curation.json"
REMOVED_PROBLEMS_FILE = "problems_removed.jsonl"


def _index(specs: list[str]) -> Any:
    from tracemint.curate.decontam import BenchmarkIndex

    return BenchmarkIndex.from_files(specs) if specs else None


def _deduplicator(mode: str, threshold: float) -> Any:
    from tracemint.curate.dedup import Deduplicator

    return Deduplicator(threshold, method="exact" if mode == "exact" else "minhash")


class ProblemFilter:
    """Drops duplicate and contaminated problems from a stream, remembering why."""

    def __init__(self, cfg: CurateConfig) -> None:
        self.cfg = cfg
        self.index = _index(cfg.decontaminate)
        self.dedup: Any = None
        if cfg.dedup_problems != "off":
            self.dedup = _deduplicator(cfg.dedup_problems, cfg.dedup_threshold)
        self.removed: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return self.index is not None or self.dedup is not None

    def __call__(self, problems: Iterator[Record]) -> Iterator[Record]:
        for p in problems:
            why = self.reason(p)
            if why is None:
                yield p
            else:
                self.removed.append({"problem_id": p["problem_id"], **why})

    def reason(self, p: Record) -> dict[str, Any] | None:
        question = p.get("question") or ""
        if self.index is not None:
            m = self.index.match(question)
            if m is not None:
                return {"reason": "contaminated", "matched": m.to_dict()}
        if self.dedup is not None:
            first = self.dedup.add(p["problem_id"], question)
            if first is not None:
                return {"reason": "duplicate problem", "duplicate_of": first}
        return None

    def save(self, run_dir: Path) -> dict[str, int]:
        """Write the removals next to the run; the counts for ``curation.json``."""
        out = run_dir / "curation"
        out.mkdir(exist_ok=True)
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.removed)
        atomic_write_bytes(out / REMOVED_PROBLEMS_FILE, lines.encode())
        return dict(Counter(r["reason"] for r in self.removed))


_LIGHT = [
    "trace_id",
    "problem_id",
    "sample_index",
    "accepted",
    "completion_tokens",
    "pass_rate",
    "first_wrong_step",
]


def _trace_reasons(
    store: RunStore, cfg: CurateConfig, selected: dict[str, bool], index: Any
) -> dict[str, str]:
    """trace_id -> why an accepted rationale is curated out (text-based steps), streaming."""
    if not cfg.decontaminate_rationales:
        index = None
    elif index is None:
        index = _index(cfg.decontaminate)
    dedup: Any = None
    if cfg.dedup_rationales != "off":
        dedup = _deduplicator(cfg.dedup_rationales, cfg.dedup_threshold)
    reasons: dict[str, str] = {}
    cols = ["trace_id", "completion", "completion_tokens"]
    for shard in store.shards():
        for r in pq.read_table(shard, columns=cols).to_pylist():
            tid = r["trace_id"]
            if not selected.get(tid):
                continue
            text = r["completion"] or ""
            limit = cfg.max_completion_tokens
            if limit is not None and (r["completion_tokens"] or 0) > limit:
                reasons[tid] = f"longer than {limit} tokens"
            elif index is not None and (m := index.match(text)) is not None:
                reasons[tid] = f"copies {m.benchmark} item {m.item_id}"
            elif dedup is not None and (first := dedup.add(tid, text)) is not None:
                reasons[tid] = f"duplicate of {first}"
    return reasons


def _budget(
    rows: list[Record], keep: set[str], cfg: CurateConfig
) -> tuple[set[str], dict[str, str]]:
    """Keep at most ``cfg.budget`` of ``keep``: hardest problems first, one trace per problem
    per round (``uniform``), or quotas proportional to 1 - pass rate (``prop2diff``)."""
    budget = cfg.budget
    if budget is None or len(keep) <= budget:
        return keep, {}
    by_problem: dict[str, list[Record]] = defaultdict(list)
    for r in rows:
        if r["trace_id"] in keep:
            by_problem[r["problem_id"]].append(r)
    for traces in by_problem.values():  # within a problem: shortest first, then by sample
        traces.sort(key=lambda r: (r["completion_tokens"] or 0, r["sample_index"]))
    difficulty = {p: 1.0 - (ts[0].get("pass_rate") or 0.0) for p, ts in by_problem.items()}
    order = sorted(by_problem, key=lambda p: (-difficulty[p], p))
    chosen: list[str] = []
    if cfg.balance == "prop2diff":
        weights = {p: difficulty[p] + 0.05 for p in order}
        total = sum(weights.values())
        for p in order:
            quota = int(budget * weights[p] / total)
            chosen += [r["trace_id"] for r in by_problem[p][:quota]]
    taken = set(chosen)
    left = {p: [r["trace_id"] for r in by_problem[p] if r["trace_id"] not in taken] for p in order}
    while len(chosen) < budget and any(left.values()):
        for p in order:
            if left[p] and len(chosen) < budget:
                chosen.append(left[p].pop(0))
    kept = set(chosen[:budget])
    return kept, {t: f"over the budget of {budget}" for t in keep - kept}


def _selected(row: Record) -> bool:
    """The selection stage's verdict: ``selected`` once curation has run on the row's shard,
    else ``accepted`` (shards written after the last curation, e.g. by a resumed run)."""
    sel = row.get("selected")
    return bool(row.get("accepted") if sel is None else sel)


def curate_run(store: RunStore, cfg: CurateConfig, index: Any = None) -> dict[str, Any]:
    """Apply rationale-level curation to a finished run; returns the counts it wrote.

    ``index``: the benchmark index the problem filter already built (else built here)."""
    if not store.shards():
        return {}
    names = store.column_names()
    cols = [c for c in _LIGHT if c in names] + (["selected"] if "selected" in names else [])
    light = store.read_traces(columns=cols).to_pylist()
    selected = {r["trace_id"]: _selected(r) for r in light}
    reasons = _trace_reasons(store, cfg, selected, index)
    keep = {t for t, ok in selected.items() if ok and t not in reasons}
    _, over = _budget(light, keep, cfg)
    reasons.update(over)
    for shard in store.shards():
        rows = pq.read_table(shard).to_pylist()
        for r in rows:
            sel = _selected(r)
            why = reasons.get(r["trace_id"]) if sel else None
            r["selected"] = sel
            r["curation_drop"] = why
            if sel:
                r["accepted"] = why is None
                r["drop_reason"] = why
        store.rewrite_shard(shard, rows, unify=False)  # every shard gets the same columns
    store.unify()  # ... so this only checks, unless a killed curate left some behind
    counts: dict[str, int] = Counter()
    for why in reasons.values():
        counts[_kind(why)] += 1
    return {
        "rationales": {
            "selected": sum(selected.values()),
            **counts,
            "kept": len(keep) - len(over),
        }
    }


def _kind(reason: str) -> str:
    for prefix, kind in (
        ("longer than", "too long"),
        ("copies", "contaminated"),
        ("duplicate of", "duplicate rationale"),
        ("over the budget", "over budget"),
    ):
        if reason.startswith(prefix):
            return kind
    return reason


def write_summary(store: RunStore, summary: dict[str, Any]) -> None:
    atomic_write_json(store.root / SUMMARY_FILE, summary)
