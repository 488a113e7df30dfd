"""Evaluation metrics over graded samples: accuracy, pass@k and maj@k, by difficulty.

Every metric reads verdicts that the run's verify stage wrote (``tracemint.verify.grade``,
or a generated family's own ``check``), so a sample counts as correct exactly when
``tracemint run`` and ``tracemint verify`` would say so. ``unverifiable`` counts as not
correct.

- accuracy: the share of correct samples, over all samples of all problems.
- pass@k: the unbiased estimator of Chen et al. (2021), ``1 - C(n-c, k) / C(n, k)`` per
  problem (n samples, c correct), averaged over problems: the chance that at least one of
  k samples drawn without replacement from the n is correct.
- maj@k: the majority answer of a problem's first k samples (``verify.majority_vote``:
  equivalent answers are one vote, ties go to the answer seen first) is correct. It is
  judged by the verdict of the sample it came from, i.e. by the grader or family check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from math import comb
from typing import Any

from tracemint.records import Record
from tracemint.verify import majority_vote

#: difficulty of a problem with none recorded
NO_DIFFICULTY = "all"


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (k larger than n: k = n)."""
    if n <= 0:
        return 0.0
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    k = min(max(k, 1), n)
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_correct(samples: Sequence[Record], k: int) -> tuple[str | None, bool]:
    """(majority answer of the first ``k`` samples, whether it is correct).

    ``samples`` must be in sample order. The majority representative is one sample's own
    answer, so its verdict is the grader's verdict on that answer.
    """
    first = list(samples[: max(k, 1)])
    answer, _ = majority_vote([s.get("answer") for s in first])
    if answer is None:
        return None, False
    for s in first:
        if s.get("answer") == answer:
            return answer, s.get("verdict") == "correct"
    return answer, False  # pragma: no cover - the representative is always some answer


def difficulty_of(problem: Record) -> str:
    """A generated family's ``config.difficulty``, else the metadata's ``difficulty`` or
    ``level``, else ``"all"`` (as a string, so JSON keys and table rows agree)."""
    raw = problem.get("metadata")
    if not raw:
        return NO_DIFFICULTY
    try:
        meta = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        return NO_DIFFICULTY
    if not isinstance(meta, dict):
        return NO_DIFFICULTY
    config = meta.get("config")
    if meta.get("family") and isinstance(config, dict) and config.get("difficulty") is not None:
        return str(config["difficulty"])
    for key in ("difficulty", "level"):
        if meta.get(key) is not None:
            return str(meta[key])
    return NO_DIFFICULTY


def k_values(k: int) -> list[int]:
    """1, 2, 4, ... below k, and k itself."""
    out, j = [], 1
    while j < k:
        out.append(j)
        j *= 2
    return [*out, k]


def problem_result(samples: Sequence[Record], k: int) -> dict[str, Any]:
    """One problem's counts and per-problem metrics (``samples`` in sample order)."""
    n = len(samples)
    c = sum(1 for s in samples if s.get("verdict") == "correct")
    majority, maj_ok = majority_correct(samples, k)
    return {
        "problem_id": samples[0]["problem_id"],
        "difficulty": difficulty_of(samples[0]),
        "n": n,
        "correct": c,
        "majority_answer": majority,
        "majority_correct": maj_ok,
        "pass_at": {str(j): pass_at_k(n, c, j) for j in k_values(k)},
    }


def summarize(results: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """Aggregate per-problem results: accuracy over samples, the rest over problems."""
    n_samples = sum(r["n"] for r in results)
    n_problems = len(results)
    out: dict[str, Any] = {
        "problems": n_problems,
        "samples": n_samples,
        "accuracy": sum(r["correct"] for r in results) / n_samples if n_samples else 0.0,
        f"maj@{k}": (
            sum(r["majority_correct"] for r in results) / n_problems if n_problems else 0.0
        ),
    }
    for j in k_values(k):
        out[f"pass@{j}"] = (
            sum(r["pass_at"][str(j)] for r in results) / n_problems if n_problems else 0.0
        )
    return out


def _sort_key(d: str) -> tuple[int, float, str]:
    try:
        return (0, float(d), d)
    except ValueError:
        return (1, 0.0, d)


def compute(traces: Iterable[Record], k: int) -> dict[str, Any]:
    """Metrics overall and by difficulty from graded traces (any order).

    Returns ``{"k", "overall", "by_difficulty": {difficulty: summary}, "problems": [...]}``.
    """
    by_problem: dict[str, list[Record]] = {}
    for t in traces:
        by_problem.setdefault(t["problem_id"], []).append(t)
    results = [
        problem_result(sorted(ts, key=lambda t: t.get("sample_index") or 0), k)
        for ts in by_problem.values()
    ]
    results.sort(key=lambda r: str(r["problem_id"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["difficulty"], []).append(r)
    return {
        "k": k,
        "overall": summarize(results, k),
        "by_difficulty": {d: summarize(groups[d], k) for d in sorted(groups, key=_sort_key)},
        "problems": results,
    }
