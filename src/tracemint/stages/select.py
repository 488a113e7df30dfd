"""Self-consistency and selection: which traces are accepted, and why the others are not."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tracemint.config import SelectConfig
from tracemint.records import Record
from tracemint.verify import answers_equal, majority_vote
from tracemint.verify.leakage import LEAK_COLUMN, leak_reason


def _by_problem(traces: Sequence[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for t in traces:
        groups[t["problem_id"]].append(t)
    return groups


def consensus(traces: Sequence[Record]) -> list[Record]:
    """Self-consistency: the majority answer of each problem and the share that gave it.

    Truncated traces do not vote: their "answer" is whatever number came last. Also the
    problem's ``pass_rate`` (correct / graded): the teacher's difficulty estimate, which
    curricula and difficulty-aware selection key on.
    """
    out = []
    for group in _by_problem(traces).values():
        votes = [None if t.get("truncated") else t.get("answer") for t in group]
        majority, agreement = majority_vote(votes)
        verdicts = [t.get("verdict") for t in group]
        graded = sum(v in ("correct", "wrong") for v in verdicts)
        rate = verdicts.count("correct") / graded if graded else None
        out += [
            {**t, "majority_answer": majority, "agreement": agreement, "pass_rate": rate}
            for t in group
        ]
    return out


def _agrees(t: Record) -> bool:
    a, m = t.get("answer"), t.get("majority_answer")
    return a is not None and m is not None and bool(answers_equal(a, m))


def _votes(group: Sequence[Record]) -> int:
    """Samples of a problem that voted: untruncated, with an answer."""
    return sum(1 for t in group if not t.get("truncated") and t.get("answer") is not None)


def _judge(t: Record, cfg: SelectConfig, votes: int) -> str | None:
    """Why this trace is not accepted, or None to accept it (``votes``: see ``_votes``)."""
    if t.get("truncated"):
        return "truncated"
    if t.get(LEAK_COLUMN):  # a rationalized trace that cites its hint: never training data
        return leak_reason(t[LEAK_COLUMN])
    band = cfg.pass_rate_band
    rate = t.get("pass_rate")
    if band is not None and rate is not None and not band[0] <= rate <= band[1]:
        return f"pass rate outside {band[0]:g}-{band[1]:g}"
    if cfg.keep == "all":
        return None if (t.get("completion") or "").strip() else "empty"
    if cfg.reject_wrong_steps and t.get("first_wrong_step") is not None:
        return f"wrong step {t['first_wrong_step']}"
    if cfg.reject_mc_errors and t.get("mc_first_error") is not None:
        return f"rollouts fail from step {t['mc_first_error']}"
    if cfg.keep == "correct" and t.get("reference") is not None:
        if t["verdict"] == "correct":
            return None
        reason = t.get("verdict_reason")
        return t["verdict"] + (f": {reason}" if reason else "")
    # majority vote (also the fallback for "correct" on problems without a reference)
    if t.get("answer") is None:
        return "no answer found"
    if not _agrees(t):
        return "disagrees with majority"
    if votes < cfg.min_votes:
        return f"too few votes for a majority ({votes} < min_votes {cfg.min_votes})"
    agreement = t.get("agreement") or 0.0
    if agreement <= 0.5:
        return f"no strict majority (agreement {agreement:.2f})"
    if (t.get("agreement") or 0.0) < cfg.min_agreement:
        return f"agreement below {cfg.min_agreement}"
    return None


def select(traces: Sequence[Record], cfg: SelectConfig) -> list[Record]:
    """Mark each trace ``accepted`` or give its ``drop_reason``: nothing vanishes silently."""
    out: list[Record] = []
    for group in _by_problem(traces).values():
        votes = _votes(group)
        judged = [{**t, "drop_reason": _judge(t, cfg, votes)} for t in group]
        for t in judged:
            t["accepted"] = t["drop_reason"] is None
        if cfg.max_per_problem is not None:
            _apply_quota(judged, cfg)
        out += judged
    return out


def _apply_quota(group: list[Record], cfg: SelectConfig) -> None:
    """Keep ``max_per_problem`` accepted traces; distinct rationales before repeats."""
    accepted = sorted((t for t in group if t["accepted"]), key=lambda t: t["sample_index"])
    if cfg.distinct_answers_first:
        seen: set[str] = set()
        first: list[Record] = []
        repeats: list[Record] = []
        for t in accepted:
            text = " ".join((t.get("completion") or "").split())
            (repeats if text in seen else first).append(t)
            seen.add(text)
        accepted = first + repeats
    for t in accepted[cfg.max_per_problem or len(accepted) :]:
        t["accepted"] = False
        t["drop_reason"] = "over per-problem quota"


def apply_thresholds(traces: Sequence[Record], minimums: dict[str, float]) -> list[Record]:
    """Drop accepted traces whose column is below its threshold (null passes: not probed)."""
    if not minimums:
        return list(traces)
    out = []
    for t in traces:
        low = next(
            (c for c, m in minimums.items() if t.get(c) is not None and float(t[c]) < m), None
        )
        if t.get("accepted") and low is not None:
            t = {**t, "accepted": False, "drop_reason": f"{low} below {minimums[low]}"}
        out.append(t)
    return out


def probe_sample(trace_id: str, share: float) -> bool:
    """Deterministic sampling by trace id: the same traces are probed on every rerun."""
    return share >= 1.0 or int(trace_id[:8], 16) / 0xFFFFFFFF < share


def count_verified(traces: Sequence[Record], cfg: SelectConfig) -> int:
    """Traces that count toward a rejection-sampling quota: correct, and (when wrong steps
    are rejected) with no wrong step, by the checker or by rollouts. (Rollouts run after
    sampling, so during rounds ``mc_first_error`` is not there yet and does not count.)"""
    return sum(
        1
        for t in traces
        if t.get("verdict") == "correct"
        and not t.get(LEAK_COLUMN)
        and not (cfg.reject_wrong_steps and t.get("first_wrong_step") is not None)
        and not (cfg.reject_mc_errors and t.get("mc_first_error") is not None)
    )


def summarize(traces: Iterable[Record]) -> dict[str, Any]:
    """Counts for the manifest and the report (one pass, streaming-friendly)."""
    verdicts: dict[str, int] = defaultdict(int)
    drops: dict[str, int] = defaultdict(int)
    n = accepted = 0
    for t in traces:
        n += 1
        verdicts[t.get("verdict") or "none"] += 1
        if t.get("accepted"):
            accepted += 1
        else:
            drops[t.get("drop_reason") or "unknown"] += 1
    return {
        "traces": n,
        "accepted": accepted,
        "verdicts": dict(verdicts),
        "drop_reasons": dict(drops),
    }
