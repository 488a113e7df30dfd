"""LLM-written problems through the shipped server: every filter removes what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest_server import reset_server, start_test_server
from tracemint.config import load_recipe
from tracemint.curate.near_dup import NearDuplicateIndex, jaccard, shingles
from tracemint.report import build_report
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.synth.written import WrittenConfig, parse_candidate
from tracemint.testing.fakewriter import written_answer

SEEDS = Path(__file__).resolve().parents[1] / "examples" / "data" / "svamp-demo.jsonl"


def test_parse_candidate_takes_the_last_problem_and_its_answer() -> None:
    text = (
        "Problem: draft one\nAnswer: 3\nBetter:\n"
        "**Problem:** A cat has 4 legs. How many?\nAnswer: $4$."
    )
    assert parse_candidate(text) == ("A cat has 4 legs. How many?", "4")
    assert parse_candidate("Problem: Tom has 3 pens.") == ("Tom has 3 pens.", None)
    assert parse_candidate("no problem here") == (None, None)


def test_near_duplicates_by_trigram_jaccard() -> None:
    a = "Tom has 3 apples and buys 5 more apples at the shop. How many apples now?"
    b = "Tom has 4 apples and buys 5 more apples at the shop. How many apples now?"
    c = "A train travels 60 miles per hour for 3 hours. How far does it go?"
    assert 0.5 < jaccard(shingles(a), shingles(b)) < 1.0
    index = NearDuplicateIndex(threshold=0.5)
    index.add("a", a)
    hit = index.nearest(b)
    assert hit is not None and hit[0] == "a"
    assert index.nearest(c) is None


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="needs `seeds`"):
        WrittenConfig(n=3)
    with pytest.raises(ValueError, match="needs `topics`"):
        WrittenConfig(n=3, mode="taxonomy")


def _recipe(tmp_path: Path, url: str, source: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(
        f"""
name = "w"
runs_dir = {json.dumps(str(tmp_path / "runs"))}
[source]
type = "written"
{source}
[teacher]
type = "openai"
model = "test-model"
base_url = {json.dumps(url)}
[budget]
samples = 4
"""
    )
    return path


def test_written_from_seeds_end_to_end(tmp_path: Path) -> None:
    source = f"""mode = "seeds"
seeds = {json.dumps(str(SEEDS))}
seeds_options = {{ id_field = "id" }}
n = 48
solve_samples = 4
"""
    with start_test_server(accuracy=1.0) as (url, stats):
        m = LocalRunner(load_recipe(_recipe(tmp_path, url, source)), progress=False).run()
        assert stats()["requests"] > 48
        # rerun: every writer and solver call is served from the cache
        reset_server(url)
        LocalRunner(load_recipe(_recipe(tmp_path, url, source)), fresh=True, progress=False).run()
        assert stats()["requests"] == 0
    run = RunStore(tmp_path / "runs" / "w")
    summary = json.loads((run.root / "synthesis.json").read_text())
    assert summary["candidates"] == 48
    # the fake writer makes every kind of bad candidate; each filter caught some
    for reason in ("unparseable", "near-duplicate of a seed", "near-duplicate", "answer disagrees"):
        assert summary[reason] > 0, summary
    assert (
        summary["kept"] + sum(summary[r] for r in summary if r not in ("candidates", "kept")) == 48
    )
    traces = run.read_traces().to_pylist()
    assert m["counts"]["problems"] == summary["kept"] > 0
    # kept problems carry the writer's (verified) answer; the fake solves them exactly
    for t in traces:
        assert t["reference"] == written_answer(t["question"])
        assert t["verdict"] == "correct"
    # minting rationales reused the filter's solutions: no new calls for them
    assert m["sessions"][-1]["new_calls"] == 0
    page = build_report(run.root).read_text()
    assert "Problem synthesis" in page and "near-duplicate of a seed" in page


def test_written_from_a_taxonomy_with_difficulty_band(tmp_path: Path) -> None:
    source = """mode = "taxonomy"
topics = ["arithmetic > multiplication", "arithmetic > subtraction"]
expand = 1
branching = 3
n = 24
pass_rate_band = [0.0, 0.9]
"""
    with start_test_server(accuracy=0.5) as (url, _):
        LocalRunner(load_recipe(_recipe(tmp_path, url, source)), progress=False).run()
    summary = json.loads((tmp_path / "runs" / "w" / "synthesis.json").read_text())
    assert summary["topics"] == 6 and summary["candidates"] == 24
    # at 50% accuracy some problems are solved by every sample (too easy for the band) and
    # some by too few to agree
    assert summary["outside difficulty"] + summary["no agreement"] > 0, summary
    rows = RunStore(tmp_path / "runs" / "w").read_traces().to_pylist()
    for r in rows:
        meta = json.loads(r["metadata"])
        assert " > " in meta["topic"] and meta["pass_rate"] <= 0.9


@pytest.mark.slow
def test_written_problems_offline_on_the_embedded_model(tmp_path: Path) -> None:
    """The acceptance path: the embedded model writes, the filters judge, rationales are
    minted for what survives, and the report counts every filter; all offline."""
    from tracemint.config import parse_recipe

    recipe = parse_recipe(
        {
            "name": "w",
            "runs_dir": str(tmp_path / "runs"),
            "source": {
                "type": "written",
                "mode": "seeds",
                "seeds": str(SEEDS),
                "seeds_options": {"id_field": "id", "limit": 8},
                "n": 3,
                "seeds_per_prompt": 2,
                "max_tokens": 64,
                "solve_samples": 2,
                "min_agreement": 0.5,
            },
            "teacher": {"type": "embedded", "dtype": "float32", "batch_size": 8},
            "strategy": {"name": "cot_oneshot"},
            "sampling": {"temperature": 0.7, "max_tokens": 64},
            "budget": {"samples": 2},
        }
    )
    m = LocalRunner(recipe, progress=False).run()
    summary = json.loads((tmp_path / "runs" / "w" / "synthesis.json").read_text())
    assert summary["candidates"] == 3
    assert (
        summary["kept"] + sum(summary[r] for r in summary if r not in ("candidates", "kept")) == 3
    )
    assert m["counts"]["problems"] == summary["kept"]
    page = build_report(tmp_path / "runs" / "w").read_text()
    assert "Problem synthesis" in page and "unparseable" in page
