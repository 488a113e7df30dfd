"""The export rules hold on every mixture of traces, not just on hand-picked ones.

Hypothesis draws problems with random samples: random step verdicts (ok / wrong /
unchecked), answer verdicts, acceptance (whatever selection said, even what a careless
recipe accepts), truncation, Monte-Carlo labels and majorities; the real exporters run on
them and every row is checked against the trace it came from.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint.export.preference import PreferenceExporter
from tracemint.export.process import LABEL_SOURCES, PartialSFTExporter, ProcessExporter
from tracemint.export.sft import (
    TASK_PREFIXES,
    SFTExporter,
    SFTMessagesExporter,
    SFTMultitaskExporter,
)
from tracemint.plugins import exporters

STEP_VERDICTS = st.sampled_from(["ok", "wrong", "unchecked"])


@st.composite
def trace(draw: st.DrawFn, problem: int, index: int, reference: str | None) -> dict[str, Any]:
    verdicts = draw(st.lists(STEP_VERDICTS, min_size=0, max_size=5))
    steps, text = [], ""
    for i, v in enumerate(verdicts):
        line = f"Step {i}: {v} claim."
        start = len(text) + (1 if text else 0)
        text = (text + "\n" if text else "") + line
        steps.append({"text": line, "start": start, "end": start + len(line), "verdict": v})
    first_wrong = next((i for i, v in enumerate(verdicts) if v == "wrong"), None)
    mc = draw(st.none() | st.lists(st.none() | st.booleans(), min_size=0, max_size=6))
    answer = draw(st.sampled_from([None, "1", "2"]))
    return {
        "problem_id": f"p{problem}",
        "question": f"Question {problem}?",
        "choices": None,
        "reference": reference,
        "trace_id": f"p{problem}-t{index}",
        "sample_index": index,
        "completion": text or "The answer is 1.",
        "steps": steps,
        "first_wrong_step": first_wrong,
        "step_labels": mc,
        "answer": answer,
        "majority_answer": draw(st.sampled_from([None, "1", "2"])),
        "agreement": draw(st.sampled_from([0.0, 0.5, 0.75, 1.0])),
        "verdict": draw(st.sampled_from(["correct", "wrong", "unverifiable"])),
        "truncated": draw(st.booleans()),
        "accepted": draw(st.sampled_from([True, False, None])),
        "program_status": draw(st.sampled_from([None, "ok"])),
    }


@st.composite
def runs(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for p in range(draw(st.integers(1, 4))):
        reference = draw(st.sampled_from([None, "1"]))
        n = draw(st.integers(1, 5))
        out += [draw(trace(p, i, reference)) for i in range(n)]
    return out


def _known_wrong(t: dict[str, Any]) -> bool:
    if t["truncated"]:
        return False
    if t["verdict"] == "wrong" or t["first_wrong_step"] is not None:
        return True
    return (
        t["reference"] is None
        and t["agreement"] > 0.5
        and None not in (t["answer"], t["majority_answer"])
        and t["answer"] != t["majority_answer"]
    )


@settings(max_examples=300, deadline=None)
@given(traces=runs(), max_pairs=st.integers(1, 4))
def test_every_export_row_rests_on_a_check(traces: list[dict[str, Any]], max_pairs: int) -> None:
    by_id = {t["trace_id"]: t for t in traces}

    for r in SFTExporter().rows(traces):
        assert by_id[r["trace_id"]]["accepted"] is True
    for r in SFTMessagesExporter().rows(traces):
        assert by_id[r["trace_id"]]["accepted"] is True
        assert r["messages"][-1]["content"] == by_id[r["trace_id"]]["completion"]

    # rationales as a second task: per accepted trace an answer row and a rationale row
    tasks: dict[str, list[str]] = {}
    for r in SFTMultitaskExporter().rows(traces):
        t = by_id[r["trace_id"]]
        assert t["accepted"] is True
        tasks.setdefault(r["trace_id"], []).append(r["task"])
        user, reply = r["messages"][-2]["content"], r["messages"][-1]["content"]
        assert user == TASK_PREFIXES[r["task"]] + t["question"]
        want = f"The answer is {t['answer']}." if r["task"] == "answer" else t["completion"]
        assert reply == want
    assert all(v == ["answer", "rationale"] for v in tasks.values())
    answered = {t["trace_id"] for t in traces if t["accepted"] is True and t["answer"] is not None}
    assert set(tasks) == answered

    pairs = list(PreferenceExporter(max_pairs_per_problem=max_pairs).rows(traces))
    for r in pairs:
        chosen, rejected = by_id[r["chosen_trace_id"]], by_id[r["rejected_trace_id"]]
        assert chosen["accepted"] is True and not chosen["truncated"]
        assert not _known_wrong(chosen)
        assert _known_wrong(rejected)
        assert chosen["problem_id"] == rejected["problem_id"]
    for side in ("chosen_trace_id", "rejected_trace_id"):
        assert len({r[side] for r in pairs}) == len(pairs)  # each trace used once
    per_problem: dict[str, int] = {}
    for r in pairs:
        per_problem[r["problem_id"]] = per_problem.get(r["problem_id"], 0) + 1
    assert all(n <= max_pairs for n in per_problem.values())

    for r in PartialSFTExporter().rows(traces):
        t = by_id[r["trace_id"]]
        text = r["messages"][-1]["content"]
        (last,) = [i for i, s in enumerate(t["steps"]) if s["end"] == len(text)]
        assert t["steps"][last]["verdict"] == "ok"
        assert t["first_wrong_step"] is not None and last < t["first_wrong_step"]
        assert t["verdict"] != "correct"

    for r in ProcessExporter().rows(traces):
        t = by_id[r["trace_id"]]
        mc = t["step_labels"]
        assert not t["truncated"]
        assert len(r["labels"]) == len(r["label_sources"]) == len(r["completions"]) > 0
        assert all(r["labels"][:-1])
        covered = [i for first, last in r["step_ranges"] for i in range(first, last + 1)]
        assert covered == list(range(len(covered)))  # contiguous from the first step
        for (first, last), label, source in zip(
            r["step_ranges"], r["labels"], r["label_sources"], strict=True
        ):
            assert source in LABEL_SOURCES
            step = t["steps"][last]
            if source == "arithmetic":
                assert step["verdict"] == ("ok" if label else "wrong")
            elif source == "montecarlo":
                assert mc is not None and mc[last] is label and step["verdict"] != "wrong"
            else:
                assert last == len(t["steps"]) - 1 and t["reference"] is not None
                assert t["verdict"] == ("correct" if label else "wrong")
                assert (source == "program") == (t["program_status"] == "ok")
            for s in range(first, last):  # merged steps carry no check of their own
                assert t["steps"][s]["verdict"] == "unchecked"
                assert mc is None or s >= len(mc) or mc[s] is None


def test_the_property_test_covers_every_registered_exporter() -> None:
    """A new exporter is attacked here before it ships (its rows rest on a check)."""
    covered = {
        SFTExporter.name,
        SFTMessagesExporter.name,
        SFTMultitaskExporter.name,
        PreferenceExporter.name,
        PartialSFTExporter.name,
        ProcessExporter.name,
    }
    assert set(exporters.names()) <= covered
