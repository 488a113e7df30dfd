"""Curation inside a run, through the shipped server: problems filtered before any call,
rationales after, every removal recorded, and a budget balanced across problems."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conftest_server import server_recipe, start_test_server
from tracemint.config import load_recipe
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore

DATA = Path(__file__).parent / "data"
BENCH = DATA / "verify_gsm8k_test_300.jsonl"
TRAIN = DATA / "decontam_gsm8k_train_500.jsonl"


def _problems(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    train = [json.loads(line) for line in TRAIN.read_text().splitlines()][:20]
    test = [json.loads(line) for line in BENCH.read_text().splitlines()][:3]
    rows, expected = [], {}
    for i, r in enumerate(train):
        rows.append({"id": f"clean{i}", "question": r["question"], "answer": "7"})
    for i, r in enumerate(test):  # copied from the benchmark
        rows.append({"id": f"leak{i}", "question": r["question"], "answer": "7"})
        expected[f"leak{i}"] = "contaminated"
    for i in range(3):  # the same problem again, re-spaced and re-cased
        q = train[i]["question"]
        rows.append({"id": f"dup{i}", "question": "  " + q.upper() + " ", "answer": "7"})
        expected[f"dup{i}"] = "duplicate problem"
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, expected


def _recipe(tmp_path: Path, url: str, problems: Path, curate: dict[str, object]) -> Path:
    return server_recipe(
        tmp_path / "recipe.toml",
        base_url=url,
        problems=problems,
        name="cur",
        teacher={"model": "m"},
        budget={"samples": 3},
        curate=curate,
    )


def test_problems_are_filtered_before_sampling_and_rationales_after(tmp_path: Path) -> None:
    problems, expected = _problems(tmp_path)
    curate = {
        "dedup_problems": "exact",
        "decontaminate": ["gsm8k=" + str(BENCH)],
        "budget": 25,
        "balance": "uniform",
    }
    with start_test_server(answers=str(problems), accuracy=1.0) as (url, stats):
        m = LocalRunner(load_recipe(_recipe(tmp_path, url, problems, curate)), progress=False).run()
        # no call was made for a removed problem: 20 clean problems x 3 samples
        assert stats()["requests"] == 60
    run = RunStore(tmp_path / "runs" / "cur")
    removed = [
        json.loads(line)
        for line in (run.root / "curation" / "problems_removed.jsonl").read_text().splitlines()
    ]
    assert {r["problem_id"]: r["reason"] for r in removed} == expected
    leak = next(r for r in removed if r["reason"] == "contaminated")
    assert leak["matched"]["benchmark"] == "gsm8k" and leak["matched"]["method"] == "13-gram"
    dup = next(r for r in removed if r["problem_id"] == "dup0")
    assert dup["duplicate_of"] == "clean0"

    traces = run.read_traces().to_pylist()
    assert len(traces) == 60 and all(t["selected"] for t in traces)
    kept = [t for t in traces if t["accepted"]]
    assert len(kept) == 25 == m["counts"]["accepted"]
    # uniform: every problem keeps one before any keeps a second, none keeps a third
    per_problem = Counter(t["problem_id"] for t in kept)
    assert set(per_problem.values()) == {1, 2} and len(per_problem) == 20
    dropped = [t for t in traces if not t["accepted"]]
    assert {t["curation_drop"] for t in dropped} == {"over the budget of 25"}
    assert {t["drop_reason"] for t in dropped} == {"over the budget of 25"}
    summary = json.loads((run.root / "curation.json").read_text())
    assert summary["problems"] == {"contaminated": 3, "duplicate problem": 3}
    assert summary["rationales"] == {"selected": 60, "over budget": 35, "kept": 25}

    # rerun with other settings: recomputed from the stage's selection, never compounded
    with start_test_server(answers=str(problems), accuracy=1.0) as (url, _):
        LocalRunner(
            load_recipe(_recipe(tmp_path, url, problems, {"budget": 40, "balance": "prop2diff"})),
            fresh=True,
            progress=False,
        ).run()
    again = run.read_traces().to_pylist()
    assert sum(t["accepted"] for t in again) == 40


def test_long_and_duplicate_rationales_are_curated_out(tmp_path: Path) -> None:
    problems, _ = _problems(tmp_path)
    curate = {"dedup_rationales": "exact", "max_completion_tokens": 1000}
    with start_test_server(answers=str(problems), accuracy=1.0) as (url, _):
        LocalRunner(load_recipe(_recipe(tmp_path, url, problems, curate)), progress=False).run()
    run = RunStore(tmp_path / "runs" / "cur")
    traces = run.read_traces().to_pylist()
    by_text: dict[str, list[dict]] = {}
    for t in traces:
        by_text.setdefault(" ".join(t["completion"].lower().split()), []).append(t)
    repeated = [ts for ts in by_text.values() if len(ts) > 1]
    assert repeated, "the fake model repeats some rationales across samples"
    for ts in repeated:
        first, *rest = ts
        assert first["accepted"] and first["curation_drop"] is None
        assert all(r["curation_drop"] == f"duplicate of {first['trace_id']}" for r in rest)


def test_report_shows_curation_and_dataset_analytics(tmp_path: Path) -> None:
    from tracemint.report import build_report
    from tracemint.report.analytics import distinct_n

    assert distinct_n(["a b a b", "a b"], 2) == 2 / 4
    assert distinct_n([], 1) is None
    problems, _ = _problems(tmp_path)
    curate = {"dedup_problems": "exact", "decontaminate": [str(BENCH)], "budget": 30}
    with start_test_server(answers=str(problems), accuracy=0.7) as (url, _):
        LocalRunner(load_recipe(_recipe(tmp_path, url, problems, curate)), progress=False).run()
    page = build_report(tmp_path / "runs" / "cur").read_text()
    for needle in (
        "<h2>Curation</h2>",
        "duplicate problem",
        "contaminated",
        "over budget",
        "<h2>By source</h2>",
        "distinct-2",
        '<figure data-plot="Difficulty">',
        '<figure data-plot="Lengths">',
    ):
        assert needle in page, needle


def test_curation_after_a_resume_sees_new_shards_as_selected(tmp_path: Path) -> None:
    """Shards written after the last curation have no `selected` column: their stage
    acceptance counts, and an earlier budget cut is recomputed, not compounded."""
    from tracemint.config import CurateConfig
    from tracemint.curate.pipeline import curate_run

    def trace(pid: str, i: int, **extra: object) -> dict[str, object]:
        return {
            "problem_id": pid,
            "trace_id": f"{pid}-{i}",
            "sample_index": i,
            "accepted": True,
            "drop_reason": None,
            "completion": f"rationale {pid} {i}",
            "completion_tokens": 10 + i,
            "pass_rate": 0.5,
            **extra,
        }

    store = RunStore(tmp_path / "run")
    store.create()
    cut = {"accepted": False, "selected": True, "curation_drop": "over the budget of 1"}
    store.write_shard([trace("a", 0, selected=True, curation_drop=None), trace("a", 1, **cut)])
    store.write_shard([trace("b", 0), trace("b", 1)])  # written by the resumed session
    summary = curate_run(store, CurateConfig(budget=3))
    rows = {r["trace_id"]: r for r in store.read_traces().to_pylist()}
    assert summary["rationales"]["selected"] == 4
    assert sum(r["accepted"] for r in rows.values()) == 3
    assert all(r["selected"] for r in rows.values())
    # uniform: one per problem first (the shortest), then the next shortest of the hardest
    assert rows["a-0"]["accepted"] and rows["b-0"]["accepted"]
