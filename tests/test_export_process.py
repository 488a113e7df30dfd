"""PRM and partial-SFT exports: label rules, and TRL's column names read back by `datasets`."""

from __future__ import annotations

from pathlib import Path

import datasets

from tracemint.export.process import (
    PartialSFTExporter,
    ProcessExporter,
    labelled_chunks,
    step_labels,
)

TEXT = "Tom has 3 apples.\nHe buys 2 more, so 3 + 2 = 6.\nThe answer is 6."


def _trace(**over: object) -> dict:
    steps, pos = [], 0
    for i, line in enumerate(TEXT.split("\n")):
        steps.append(
            {
                "text": line,
                "start": pos,
                "end": pos + len(line),
                "verdict": "wrong" if i == 1 else "unchecked",
            }
        )
        pos += len(line) + 1
    base = {
        "problem_id": "p",
        "question": "Tom has 3 apples and buys 2. How many?",
        "choices": None,
        "completion": TEXT,
        "steps": steps,
        "first_wrong_step": 1,
        "verdict": "wrong",
        "truncated": False,
        "trace_id": "t1",
        "teacher": "x",
        "model": "m",
        "source": "s",
        "strategy": "cot",
        "template_hash": "h",
        "verifier_version": "1",
    }
    return {**base, **over}


def _unchecked(**over: object) -> dict:
    t = _trace(first_wrong_step=None, **over)
    t["steps"] = [{**s, "verdict": "unchecked"} for s in t["steps"]]
    return t


def test_label_rules() -> None:
    # step 0 unchecked: merged into step 1, whose wrong claim labels it; cut there
    assert step_labels(_trace()) == [False]
    # nothing but the graded answer checked: one chunk, labelled by the answer
    assert step_labels(_unchecked(verdict="correct", reference="5")) == [True]
    assert step_labels(_unchecked(verdict="correct")) is None  # no reference
    assert step_labels(_trace(truncated=True)) is None
    mc = _trace(step_labels=[True, True, False])
    # the arithmetic "wrong" beats a Monte-Carlo "good"
    assert step_labels(mc) == [True, False]
    chunks = labelled_chunks(mc)
    assert chunks is not None and [c.source for c in chunks] == ["montecarlo", "arithmetic"]


def test_prm_rows_load_with_trl_columns(tmp_path: Path) -> None:
    traces = [
        _trace(),
        _unchecked(trace_id="t2", verdict="correct", reference="5"),
        _unchecked(trace_id="t3"),
    ]
    res = ProcessExporter().write(traces, tmp_path, ("jsonl",))
    assert res["rows"] == 2
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "prm.jsonl"), split="train")
    assert {"prompt", "completions", "labels", "label_sources"} <= set(ds.column_names)
    assert ds[0]["completions"] == ["Tom has 3 apples.\nHe buys 2 more, so 3 + 2 = 6."]
    assert ds[0]["labels"] == [False] and ds[0]["label_sources"] == ["arithmetic"]
    assert ds[1]["completions"] == [TEXT] and ds[1]["label_sources"] == ["answer"]


def test_partial_sft_keeps_only_the_checked_good_prefix(tmp_path: Path) -> None:
    ok_first = _trace(trace_id="t4", first_wrong_step=2)
    ok_first["steps"] = [
        {**ok_first["steps"][0], "verdict": "ok"},
        {**ok_first["steps"][1], "verdict": "unchecked"},
        {**ok_first["steps"][2], "verdict": "wrong"},
    ]
    traces = [
        _trace(),  # the only step before the error was never checked: no row
        _trace(trace_id="t2", first_wrong_step=0),
        _trace(trace_id="t3", verdict="correct", first_wrong_step=None),
        ok_first,
    ]
    rows = list(PartialSFTExporter().rows(traces))
    assert len(rows) == 1
    # ends at the checked step 0, not at the unchecked step 1 before the error
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": "Tom has 3 apples."}
    assert rows[0]["partial"] is True and rows[0]["good_steps"] == 1
    assert rows[0]["checked_steps"] == 1 and rows[0]["trace_id"] == "t4"
