"""PRM and partial-SFT exports: label rules, and TRL's column names read back by `datasets`."""

from __future__ import annotations

from pathlib import Path

import datasets

from tracemint.export.process import PartialSFTExporter, ProcessExporter, step_labels

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


def test_label_rules() -> None:
    assert step_labels(_trace()) == [True, False]  # cut at the first error
    assert step_labels(_trace(first_wrong_step=None, verdict="correct")) == [True] * 3
    assert step_labels(_trace(first_wrong_step=None)) is None  # wrong, error not located
    assert step_labels(_trace(truncated=True)) is None
    mc = _trace(step_labels=[True, True, False])
    assert step_labels(mc) == [True, True, False]  # Monte-Carlo labels win


def test_prm_rows_load_with_trl_columns(tmp_path: Path) -> None:
    traces = [
        _trace(),
        _trace(trace_id="t2", first_wrong_step=None, verdict="correct"),
        _trace(trace_id="t3", first_wrong_step=None),
    ]
    res = ProcessExporter().write(traces, tmp_path, ("jsonl",))
    assert res["rows"] == 2
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "prm.jsonl"), split="train")
    assert {"prompt", "completions", "labels"} <= set(ds.column_names)
    assert ds[0]["completions"] == ["Tom has 3 apples.", "He buys 2 more, so 3 + 2 = 6."]
    assert ds[0]["labels"] == [True, False]
    assert len(ds[1]["completions"]) == len(ds[1]["labels"]) == 3


def test_partial_sft_keeps_only_the_good_prefix(tmp_path: Path) -> None:
    traces = [
        _trace(),
        _trace(trace_id="t2", first_wrong_step=0),
        _trace(trace_id="t3", verdict="correct", first_wrong_step=None),
    ]
    rows = list(PartialSFTExporter().rows(traces))
    assert len(rows) == 1
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": "Tom has 3 apples."}
    assert rows[0]["partial"] is True and rows[0]["good_steps"] == 1
