"""The run store on real Parquet shards whose schemas differ (a probe rewrites only some)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracemint.errors import RunError
from tracemint.report.html import report_stats
from tracemint.store import RunStore


def _trace(pid: str, **extra: object) -> dict[str, object]:
    return {
        "problem_id": pid,
        "trace_id": pid + "-0",
        "verdict": "correct",
        "accepted": True,
        "drop_reason": None,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        **extra,
    }


def test_columns_missing_from_some_shards_read_as_nulls(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create()
    store.write_shard([_trace("a")])
    store.write_shard([_trace("b", early_aoc=0.5, filler_match=False)])
    store.write_shard([_trace("c")])

    assert {"early_aoc", "filler_match", "problem_id"} <= set(store.column_names())
    t = store.read_traces(columns=["problem_id", "early_aoc"])
    assert t.column_names == ["problem_id", "early_aoc"]
    assert t.to_pylist() == [
        {"problem_id": "a", "early_aoc": None},
        {"problem_id": "b", "early_aoc": 0.5},
        {"problem_id": "c", "early_aoc": None},
    ]
    assert store.read_traces().num_rows == 3
    with pytest.raises(RunError, match="no column 'nope'"):
        store.read_traces(columns=["nope"])


def test_report_on_partly_probed_shards(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create()
    store.write_shard([_trace("a")])
    store.write_shard([_trace("b", early_aoc=0.75, filler_match=True)])
    faith = report_stats(store)["faithfulness"]
    assert faith["early_aoc"] == [0.75]
    assert faith["filler_match"] == 1.0 and faith["filler_match_n"] == 1


def test_a_run_with_no_shards_reads_empty_for_reports(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create()
    with pytest.raises(RunError, match="no trace shards"):
        store.read_traces()
    t = store.read_traces(columns=["problem_id", "accepted"], allow_empty=True)
    assert t.num_rows == 0 and t.column_names == ["problem_id", "accepted"]
    stats = report_stats(store)
    assert stats["traces"] == 0 and stats["accuracy"] is None
