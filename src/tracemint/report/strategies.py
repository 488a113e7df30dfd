"""Yield per prompt strategy, and what rationalization rescued: the report's strategy section.

Why per strategy: a run can mix strategies (the plain template and, with ``[budget]
rationalize``, STaR's hinted last round), and what each costs is calls while what each buys
is verified traces. "Verified" is what rejection sampling counts: a right answer with no
wrong step, and (for a rationalized trace) no citation of its hint. A problem is *rescued*
when no plain sample verified and a rationalized one did; its share is reported over the
problems that reached the rationalize round and over all problems, by difficulty when the
problems have one (generated families do; ``evaluate.metrics.difficulty_of``).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tracemint.evaluate.metrics import difficulty_of
from tracemint.records import Record
from tracemint.store import RunStore
from tracemint.verify.leakage import LEAK_COLUMN, RATIONALIZE

_COLUMNS = ("problem_id", "strategy", "verdict", "first_wrong_step", LEAK_COLUMN, "metadata")


def is_verified(t: Record) -> bool:
    """Correct, no wrong step, no hint cited: what counts toward ``k_verified``."""
    return (
        t.get("verdict") == "correct"
        and t.get("first_wrong_step") is None
        and not t.get(LEAK_COLUMN)
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def strategy_stats(traces: Iterable[Record]) -> dict[str, Any]:
    """Per strategy: calls (one trace = one request), verified traces, yield (verified per
    call), leaking traces; per difficulty: problems, solved by plain sampling, reaching the
    rationalize round, rescued by it, and the rescued shares."""
    calls: dict[str, int] = defaultdict(int)
    verified: dict[str, int] = defaultdict(int)
    leaks: dict[str, int] = defaultdict(int)
    problems: dict[str, dict[str, Any]] = {}
    for t in traces:
        name = t.get("strategy") or "unknown"
        ok = is_verified(t)
        calls[name] += 1
        verified[name] += ok
        leaks[name] += bool(t.get(LEAK_COLUMN))
        p = problems.setdefault(
            t["problem_id"],
            {"difficulty": difficulty_of(t), "plain": False, "hinted": False, "rescued": False},
        )
        if name == RATIONALIZE:
            p["hinted"] = True
            p["rescued"] |= ok
        else:
            p["plain"] |= ok
    by_difficulty: dict[str, dict[str, Any]] = {}
    for p in problems.values():
        for key in ("all", p["difficulty"]) if p["difficulty"] != "all" else ("all",):
            row = by_difficulty.setdefault(
                key, {"problems": 0, "solved_plain": 0, "rationalized": 0, "rescued": 0}
            )
            row["problems"] += 1
            row["solved_plain"] += p["plain"]
            row["rationalized"] += p["hinted"]
            row["rescued"] += p["rescued"] and not p["plain"]
    for row in by_difficulty.values():
        row["rescued_of_rationalized"] = _share(row["rescued"], row["rationalized"])
        row["rescued_of_problems"] = _share(row["rescued"], row["problems"])
        row["with_verified"] = row["solved_plain"] + row["rescued"]
    return {
        "strategies": {
            name: {
                "calls": calls[name],
                "verified": verified[name],
                "yield": _share(verified[name], calls[name]),
                "leaking": leaks[name],
            }
            for name in sorted(calls)
        },
        "by_difficulty": dict(sorted(by_difficulty.items(), key=lambda kv: kv[0] != "all")),
    }


def read_strategy_stats(store: RunStore) -> dict[str, Any]:
    """``strategy_stats`` of a run's shards (a run minted before rationalization existed
    has no leak column: read as none)."""
    have = set(store.schema().names) if store.shards() else set()
    columns = [c for c in _COLUMNS if c in have]
    rows = store.read_traces(columns, allow_empty=True).to_pylist() if columns else []
    return strategy_stats(rows)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else f"{v:,}"


def strategies_html(stats: dict[str, Any]) -> str:
    """The report's section: empty for a run with one strategy and no rationalization."""
    strategies = stats["strategies"]
    if len(strategies) < 2 and RATIONALIZE not in strategies:
        return ""
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{_fmt(s['calls'])}</td>"
        f"<td>{_fmt(s['verified'])}</td><td>{_fmt(s['yield'])}</td>"
        f"<td>{_fmt(s['leaking'])}</td></tr>"
        for name, s in strategies.items()
    )
    out = (
        "<h2>Strategies</h2><p>Yield: verified traces (right answer, no wrong step, no hint "
        "cited) per call.</p><table><tr><th>strategy</th><th>calls</th><th>verified</th>"
        f"<th>yield</th><th>citing the hint</th></tr>{rows}</table>"
    )
    if RATIONALIZE in strategies:
        diff = "".join(
            f"<tr><th>{html.escape(d)}</th><td>{_fmt(r['problems'])}</td>"
            f"<td>{_fmt(r['solved_plain'])}</td><td>{_fmt(r['rationalized'])}</td>"
            f"<td>{_fmt(r['rescued'])}</td><td>{_fmt(r['rescued_of_rationalized'])}</td>"
            f"<td>{_fmt(r['rescued_of_problems'])}</td></tr>"
            for d, r in stats["by_difficulty"].items()
        )
        out += (
            "<p>Rationalization (STaR): problems no plain sample solved get one round that "
            "shows the reference answer; <em>rescued</em> = a verified rationalized trace "
            "and no verified plain one.</p><table><tr><th>difficulty</th><th>problems</th>"
            "<th>solved by sampling</th><th>rationalized</th><th>rescued</th>"
            f"<th>rescued / rationalized</th><th>rescued / problems</th></tr>{diff}</table>"
        )
    return out
