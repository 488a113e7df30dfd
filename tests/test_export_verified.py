"""Exports carry only accepted work, judged from outside.

Real runs (the noisy gold teacher, whose slips the step checker must find, and the shipped
OpenAI-compatible test server with Monte-Carlo rollouts), exported by ``export_run``; the
exported JSONL and Parquet files are then read back and every row is joined to its trace
in ``runs/NAME/traces/*.parquet`` with pyarrow alone (not through the package's store):

* every SFT row and every DPO ``chosen`` is a trace selection accepted;
* every DPO ``rejected`` is known wrong: a wrong verdict or a located wrong step;
* every ``sft_partial`` prefix ends at a step whose claims checked out, before the error;
* every PRM label has a source, and the source's check says what the label says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.config import load_recipe, parse_recipe
from tracemint.export import export_run
from tracemint.runner.local import LocalRunner
from tracemint.synth.base import create_family, generate
from tracemint.synth.records import item_row

FORMATS = ["sft", "dpo", "prm", "sft_partial"]


def _traces(run_dir: Path) -> dict[str, dict[str, Any]]:
    rows = [
        r
        for f in sorted((run_dir / "traces").glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    by_id = {r["trace_id"]: r for r in rows}
    assert len(by_id) == len(rows)
    return by_id


def _rows(out: Path, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (out / f"{name}.jsonl").read_text().splitlines()]
    table = pq.read_table(out / f"{name}.parquet").to_pylist()
    assert [r.get("trace_id") or r.get("chosen_trace_id") for r in lines] == [
        r.get("trace_id") or r.get("chosen_trace_id") for r in table
    ]
    return lines


def _known_wrong(t: dict[str, Any]) -> bool:
    return not t["truncated"] and (t["verdict"] == "wrong" or t["first_wrong_step"] is not None)


def judge(run_dir: Path, out: Path) -> dict[str, int]:
    """Check every exported row against its trace; returns the row count of each format."""
    traces = _traces(run_dir)
    counts = {}
    sft = _rows(out, "sft")
    for r in sft:
        t = traces[r["trace_id"]]
        assert t["accepted"] is True, t["drop_reason"]
        assert r["completion"] == [{"role": "assistant", "content": t["completion"]}]
    counts["sft"] = len(sft)

    dpo = _rows(out, "dpo")
    for r in dpo:
        chosen, rejected = traces[r["chosen_trace_id"]], traces[r["rejected_trace_id"]]
        assert chosen["accepted"] is True, chosen["drop_reason"]
        assert chosen["first_wrong_step"] is None and chosen["verdict"] == "correct"
        assert _known_wrong(rejected) and rejected["accepted"] is False
        assert chosen["problem_id"] == rejected["problem_id"] == r["problem_id"]
        assert r["chosen"][0]["content"] == chosen["completion"]
        assert r["rejected"][0]["content"] == rejected["completion"]
    counts["dpo"] = len(dpo)

    partial = _rows(out, "sft_partial")
    for r in partial:
        t = traces[r["trace_id"]]
        text, steps = r["messages"][-1]["content"], t["steps"]
        ends = [i for i, s in enumerate(steps) if s["end"] == len(text)]
        assert ends and t["completion"].startswith(text)
        last = ends[0]
        assert steps[last]["verdict"] == "ok"  # ends at a checked claim
        assert t["first_wrong_step"] is not None and last < t["first_wrong_step"]
        assert all(s["verdict"] != "wrong" for s in steps[: last + 1])
    counts["sft_partial"] = len(partial)

    prm = _rows(out, "prm")
    for r in prm:
        t = traces[r["trace_id"]]
        assert not t["truncated"]
        assert len(r["labels"]) == len(r["label_sources"]) == len(r["completions"]) > 0
        assert all(r["labels"][:-1])  # cut after the first bad label
        mc = t.get("step_labels")
        for (first, last), label, source, chunk in zip(
            r["step_ranges"], r["labels"], r["label_sources"], r["completions"], strict=True
        ):
            step = t["steps"][last]
            assert chunk == t["completion"][t["steps"][first]["start"] : step["end"]]
            if source == "arithmetic":
                assert step["verdict"] == ("ok" if label else "wrong")
            elif source == "montecarlo":
                assert mc is not None and mc[last] is label and step["verdict"] != "wrong"
            else:
                assert source in ("answer", "program") and last == len(t["steps"]) - 1
                assert t["verdict"] == ("correct" if label else "wrong")
            # nothing in a chunk before its labelled step was checked on its own
            for s in range(first, last):
                assert t["steps"][s]["verdict"] == "unchecked"
                assert mc is None or s >= len(mc) or mc[s] is None
    counts["prm"] = len(prm)
    return counts


def test_noisy_teacher_run_exports_only_verified_work(tmp_path: Path) -> None:
    family = create_family("word_problems", {"max_start": 20, "max_factor": 5, "difficulty": 2})
    path = tmp_path / "problems.jsonl"
    with path.open("w") as f:
        for i, item in enumerate(generate(family, 30, seed=3)):
            f.write(json.dumps(item_row(family, item, i, 3)) + "\n")
    recipe = parse_recipe(
        {
            "name": "noisy",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(path), "id_field": "id"},
            "teacher": {"type": "noisy_gold", "problems": str(path), "noise": 0.4},
            "budget": {"samples": 4},
            "export": {"formats": FORMATS, "file_types": ["jsonl"]},
        },
        where="test",
    )
    LocalRunner(recipe, progress=False).run()
    run_dir = tmp_path / "runs" / "noisy"
    traces = list(_traces(run_dir).values())
    # the trap the old exporter fell into is really there: right answers, wrong steps
    assert any(t["verdict"] == "correct" and t["first_wrong_step"] is not None for t in traces)
    export_run(run_dir, FORMATS, tmp_path / "out")
    counts = judge(run_dir, tmp_path / "out")
    assert all(n > 0 for n in counts.values()), counts


def test_server_run_with_rollouts_exports_only_verified_work(tmp_path: Path) -> None:
    problems = apples_problems(tmp_path / "problems.jsonl", 0, 8)
    with start_test_server(answers=problems, accuracy=0.5) as (url, _):
        path = server_recipe(
            tmp_path / "recipe.toml",
            base_url=url,
            problems=problems,
            sampling={"temperature": 0.7, "max_tokens": 200},
            budget={"samples": 4},
            montecarlo={"enabled": True, "k": 2},
            export={"formats": ["sft"], "file_types": ["jsonl"]},
        )
        LocalRunner(load_recipe(path), progress=False).run()
    run_dir = tmp_path / "runs" / "srv"
    export_run(run_dir, FORMATS, tmp_path / "out")
    counts = judge(run_dir, tmp_path / "out")
    assert counts["sft"] > 0 and counts["dpo"] > 0 and counts["prm"] > 0, counts
    sources = {s for r in _rows(tmp_path / "out", "prm") for s in r["label_sources"]}
    assert "montecarlo" in sources
