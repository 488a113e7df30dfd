"""Dataset analytics for the report: what curation removed, how hard the problems are, how
diverse and how long the kept rationales are, and the same by source.

Read from the shards with a column projection; diversity is measured on at most
``MAX_DIVERSITY_TEXTS`` accepted rationales (a seeded sample), so a million-trace run costs
a bounded amount of memory and time.
"""

from __future__ import annotations

import html
import json
import random
import re
from collections import Counter, defaultdict
from typing import Any

from tracemint.report import svg
from tracemint.store import RunStore

MAX_DIVERSITY_TEXTS = 5000
_WORD = re.compile(r"\w+")
_COLUMNS = ["problem_id", "source", "verdict", "accepted", "pass_rate", "answer", "completion"]


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over ``texts`` (Li et al. 2016): 1.0 = no repetition."""
    total, seen = 0, set()
    for text in texts:
        words = _WORD.findall(text.lower())
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def dataset_analytics(store: RunStore) -> dict[str, Any]:
    names = set(store.column_names())
    cols = [c for c in _COLUMNS if c in names]
    rows = store.read_traces(columns=cols, allow_empty=True).to_pylist() if cols else []
    accepted = [r for r in rows if r.get("accepted")]
    pass_rate: dict[str, float] = {}
    for r in rows:
        if r.get("pass_rate") is not None:
            pass_rate[r["problem_id"]] = r["pass_rate"]
    by_source: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"problems": set(), "traces": 0, "accepted": 0, "correct": 0, "graded": 0}
    )
    for r in rows:
        s = by_source[str(r.get("source"))]
        s["problems"].add(r["problem_id"])
        s["traces"] += 1
        s["accepted"] += bool(r.get("accepted"))
        s["correct"] += r.get("verdict") == "correct"
        s["graded"] += r.get("verdict") in ("correct", "wrong")
    texts = [r.get("completion") or "" for r in accepted]
    if len(texts) > MAX_DIVERSITY_TEXTS:
        texts = random.Random(0).sample(texts, MAX_DIVERSITY_TEXTS)
    summary_path = store.root / "curation.json"
    return {
        "curation": json.loads(summary_path.read_text()) if summary_path.exists() else {},
        "pass_rates": list(pass_rate.values()),
        "distinct": {n: distinct_n(texts, n) for n in (1, 2, 3)},
        "answer_chars": [len(str(r.get("answer") or "")) for r in accepted],
        "rationale_words": [len(_WORD.findall(r.get("completion") or "")) for r in accepted],
        "by_source": {
            k: {**v, "problems": len(v["problems"])} for k, v in sorted(by_source.items())
        },
    }


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def analytics_html(a: dict[str, Any]) -> str:
    """The report's curation and dataset sections."""
    parts = []
    cur = a["curation"]
    if cur:
        rows = [["problems", k, v] for k, v in (cur.get("problems") or {}).items()]
        rows += [["rationales", k, v] for k, v in (cur.get("rationales") or {}).items()]
        parts.append(
            "<h2>Curation</h2><p>What each step removed (problems before any call; accepted "
            "rationales after the run; details in <code>curation/</code> and each trace's "
            "<code>curation_drop</code>)</p>" + _table(["level", "step", "items"], rows)
        )
    src_rows = [
        [
            name,
            v["problems"],
            v["traces"],
            v["accepted"],
            f"{v['correct'] / v['graded']:.3f}" if v["graded"] else "n/a",
        ]
        for name, v in a["by_source"].items()
    ]
    parts.append(
        "<h2>By source</h2>"
        + _table(["source", "problems", "traces", "accepted", "accuracy"], src_rows)
    )
    d = a["distinct"]
    parts.append(
        "<h2>Diversity of accepted rationales</h2>"
        + _table(
            ["distinct-1", "distinct-2", "distinct-3"],
            [[("n/a" if d[n] is None else f"{d[n]:.3f}") for n in (1, 2, 3)]],
        )
    )
    return "".join(parts)


def analytics_plots(a: dict[str, Any]) -> dict[str, str]:
    """Difficulty histogram and length distributions, as inline SVG figures."""
    plots: dict[str, str] = {}
    if a["pass_rates"]:
        plots["Difficulty"] = svg.figure(
            "Difficulty",
            svg.histogram(
                a["pass_rates"],
                bins=[i / 10 for i in range(11)],
                title="Difficulty: teacher pass rate per problem",
                xlabel="share of graded samples correct (low = hard)",
                ylabel="problems",
                color="#ef6c00",
            ),
        )
    if a["rationale_words"]:
        counts = sorted(Counter(min(c, 40) for c in a["answer_chars"]).items())
        plots["Lengths"] = svg.figure(
            "Lengths",
            svg.histogram(
                a["rationale_words"],
                bins=30,
                title="Accepted rationale length",
                xlabel="words",
                color="#00838f",
            ),
            svg.bars(
                [str(k) for k, _ in counts],
                [v for _, v in counts],
                title="Accepted answer length",
                xlabel="characters (40 = 40 or more)",
                colors="#5d4037",
            ),
        )
    return plots
