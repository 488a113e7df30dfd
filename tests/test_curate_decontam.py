"""Benchmark decontamination: planted GSM8K test questions are caught, train ones are not."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from benchmark_support import load_benchmark
from tracemint.cli import app
from tracemint.curate.decontam import (
    BenchmarkIndex,
    BenchmarkSpec,
    decontaminate,
    normalize,
    parse_spec,
)
from tracemint.errors import SourceError

DATA = Path(__file__).parent / "data"
TEST = DATA / "verify_gsm8k_test_300.jsonl"  # the first 300 GSM8K test questions
TRAIN = DATA / "decontam_gsm8k_train_500.jsonl"  # every 15th GSM8K train question
SVAMP = DATA / "sources_svamp.json"
runner = CliRunner()


def _bench() -> ModuleType:
    return load_benchmark("decontam")


def _questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def index() -> BenchmarkIndex:
    return BenchmarkIndex.from_files([BenchmarkSpec(None, TEST, "gsm8k")])


def test_normalize_keeps_numbers_and_drops_punctuation() -> None:
    assert normalize("Janet\u2019s ducks lay 1,600 eggs; $2.50 each!") == [
        "janet",
        "s",
        "ducks",
        "lay",
        "1600",
        "eggs",
        "2.50",
        "each",
    ]


def test_parse_spec_forms() -> None:
    assert parse_spec("data/test.jsonl") == BenchmarkSpec(None, Path("data/test.jsonl"))
    assert parse_spec("gsm8k:t.jsonl") == BenchmarkSpec(None, Path("t.jsonl"), "gsm8k")
    assert parse_spec("mine=svamp:s.json", "Body") == BenchmarkSpec(
        "mine", Path("s.json"), "svamp", "Body"
    )
    with pytest.raises(SourceError):
        parse_spec("name=")


def test_verbatim_test_questions_are_caught_by_ngram(index: BenchmarkIndex) -> None:
    for i, q in enumerate(_questions(TEST)[:50]):
        m = index.match(q)
        assert m is not None, q
        assert (m.benchmark, m.item_id) == ("verify_gsm8k_test_300", f"verify_gsm8k_test_300:{i}")
        assert m.benchmark_text == q
        if len(normalize(q)) >= 13:
            assert m.method == "13-gram" and m.score == 1.0


def test_lightly_edited_test_questions_are_caught(index: BenchmarkIndex) -> None:
    bench, rng = _bench(), random.Random(1)
    qs = _questions(TEST)[50:100]
    hits = methods = 0
    for i, q in enumerate(qs, 50):
        edited = bench.light_edit(q, rng)
        m = index.match(edited)
        hits += m is not None and m.item_id.endswith(f":{i}")
        methods += m is not None and m.method == "near-match"
    assert hits >= 48  # >= 96%
    assert methods > 0  # some edits leave no 13-gram intact


def test_short_question_near_match(index: BenchmarkIndex) -> None:
    # test item 1 (16 words): no 13-gram survives the changed number and reordering.
    q = (
        "How many bolts in total does it take? "
        "A robe takes 3 bolts of blue fiber and half that much white fiber."
    )
    m = index.match(q)
    assert m is not None and m.method == "near-match" and m.item_id.endswith(":1")
    assert 0.6 <= m.score < 1


def test_clean_train_questions_are_kept(index: BenchmarkIndex) -> None:
    qs = _questions(TRAIN)
    false = [q for q in qs if index.match(q) is not None]
    assert len(qs) >= 490
    assert len(false) <= len(qs) // 100, false


def test_decontaminate_checks_rationales_too(index: BenchmarkIndex) -> None:
    q = _questions(TEST)[3]
    records = [
        {"id": "a", "question": "What is 2 + 3?", "completion": "2 + 3 = 5"},
        {"id": "b", "question": "Solve it.", "completion": f"The problem: {q} First, ..."},
        {"id": "c", "question": q},
    ]
    kept, removed = decontaminate(records, index, fields=("question", "completion"))
    assert [r["id"] for r in kept] == ["a"]
    assert [r["id"] for r in removed] == ["b", "c"]
    assert removed[0]["contaminated_by"]["field"] == "completion"
    assert removed[1]["contaminated_by"]["item_id"].endswith(":3")
    assert "contaminated_by" not in records[1]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_end_to_end(tmp_path: Path) -> None:
    test_q = _questions(TEST)[7]
    svamp = json.loads(SVAMP.read_text())[2]
    clean = _questions(TRAIN)[:3]
    rows = [{"q": q, "n": i} for i, q in enumerate(clean)]
    rows += [{"q": test_q, "n": 3}, {"q": f"{svamp['Body']} {svamp['Question']}", "n": 4}]
    inp = _write(tmp_path / "in.jsonl", rows)
    out, rm = tmp_path / "kept.jsonl", tmp_path / "sub" / "removed.jsonl"
    res = runner.invoke(
        app,
        [
            "decontaminate", str(inp), "--against", f"gsm8k:{TEST}",
            "--against", f"svamp={SVAMP}", "--field", "q", "--out", str(out), "--removed", str(rm),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "removed" in res.output
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    removed = [json.loads(line) for line in rm.read_text().splitlines()]
    assert [r["n"] for r in kept] == [0, 1, 2]
    assert [r["n"] for r in removed] == [3, 4]
    by = removed[0]["contaminated_by"]
    assert by["benchmark"] == "verify_gsm8k_test_300" and by["item_id"].endswith(":7")
    assert by["method"] == "13-gram" and by["benchmark_text"] == test_q and by["score"] == 1.0
    assert removed[1]["contaminated_by"]["benchmark"] == "svamp"
    assert removed[1]["contaminated_by"]["item_id"] == svamp["ID"]
    assert not list(tmp_path.glob("**/*.tmp"))


def test_cli_errors_name_file_line_field(tmp_path: Path) -> None:
    inp = _write(tmp_path / "in.jsonl", [{"question": "fine"}, {"prompt": "no question"}])
    args = [
        "decontaminate",
        str(inp),
        "--out",
        str(tmp_path / "k"),
        "--removed",
        str(tmp_path / "r"),
    ]
    res = runner.invoke(app, [*args, "--against", str(TEST)])
    assert res.exit_code == 3
    msg = " ".join(res.output.split())
    assert "in.jsonl" in msg and "line 2" in msg and "'question'" in msg

    _write(inp, [{"question": 5}])
    res = runner.invoke(app, [*args, "--against", str(TEST)])
    assert res.exit_code == 3 and "line 1" in res.output and "expected a string" in res.output

    res = runner.invoke(app, [*args, "--against", str(TEST), "--against-field", "problem"])
    msg = " ".join(res.output.split())
    assert res.exit_code == 3
    assert "verify_gsm8k_test_300.jsonl" in msg and "line 1" in msg and "'problem'" in msg

    res = runner.invoke(app, [*args, "--against", "gsm8k:" + str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 3 and "no such file" in " ".join(res.output.split())
