"""`tracemint verify` on a file and a run's verify/check_steps stages are one path: the same
rationales get the same verdicts, reasons and step columns, judged from the output files
(the run's shards, the command's JSONL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracemint.cli import app
from tracemint.config import parse_recipe
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.synth.base import create_family, generate
from tracemint.synth.records import item_row

SAME = ("answer", "reference_answer", "verdict", "verdict_reason", "verifier_version")
STEPS = ("steps", "first_wrong_step", "n_claims_checked", "n_claims_wrong")


def _problems(path: Path, *, generated: bool) -> dict[str, dict]:
    """A word-problem file; without ``generated`` the family fields are left out, so the
    generic answer verifier judges it instead of the family's check."""
    family = create_family("word_problems", {"max_start": 20, "max_factor": 5, "difficulty": 2})
    rows = {}
    with path.open("w", encoding="utf-8") as f:
        for i, item in enumerate(generate(family, 12, seed=5)):
            row = item_row(family, item, i, 5)
            if not generated:
                row = {k: row[k] for k in ("id", "question", "answer", "rationale")}
            rows[row["id"]] = row
            f.write(json.dumps(row) + "\n")
    return rows


@pytest.mark.parametrize("generated", [True, False])
def test_verify_command_and_run_stages_agree(tmp_path: Path, generated: bool) -> None:
    path = tmp_path / "problems.jsonl"
    problems = _problems(path, generated=generated)
    recipe = parse_recipe(
        {
            "name": "same",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(path), "id_field": "id"},
            "teacher": {"type": "noisy_gold", "problems": str(path), "noise": 0.5},
            "budget": {"samples": 3},
            "select": {"keep": "all"},
        },
        where="test",
    )
    LocalRunner(recipe, progress=False).run()
    traces = RunStore(tmp_path / "runs" / "same").read_traces().to_pylist()
    assert {t["verdict"] for t in traces} >= {"correct", "wrong"}

    # The rationales as a user would hand them over: the problem row plus a completion.
    src = tmp_path / "rationales.jsonl"
    src.write_text(
        "".join(
            json.dumps({**problems[t["problem_id"]], "completion": t["completion"]}) + "\n"
            for t in traces
        )
    )
    out = tmp_path / "graded.jsonl"
    res = CliRunner().invoke(app, ["verify", str(src), "--out", str(out), "--steps"])
    assert res.exit_code == 0, res.output
    graded = [json.loads(line) for line in out.read_text().splitlines()]

    assert len(graded) == len(traces)
    for t, g in zip(traces, graded, strict=True):
        assert {k: g[k] for k in SAME} == {k: t[k] for k in SAME}, t["completion"]
        assert {k: g[k] for k in STEPS} == {k: t[k] for k in STEPS}
        # the earlier column names stay, as aliases; the file's reference is kept
        assert g["extracted_answer"] == g["answer"]
        assert g["extracted_reference"] == g["reference_answer"]
        assert g["correct"] == {"correct": True, "wrong": False}.get(g["verdict"])
        assert g["input_answer"] == problems[t["problem_id"]]["answer"]


def test_verify_command_writes_the_run_columns_and_keeps_replaced_fields(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    rows = [
        {"question": "2+3?", "completion": "The answer is 5.", "answer": "5"},
        {"question": "2+3?", "completion": "The answer is 5, or maybe 6.", "answer": "5"},
        {"question": "2+3?", "completion": "The answer is 6.", "answer": "5", "verdict": "x"},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(app, ["verify", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["verdict"] for g in got] == ["correct", "unverifiable", "wrong"]
    assert [g["correct"] for g in got] == [True, None, False]
    assert got[1]["verdict_reason"].startswith("hedged answer")
    assert all(g["verifier_version"] and g["input_answer"] == "5" for g in got)
    assert got[2]["input_verdict"] == "x" and "input_verdict" not in got[0]

    # a file this command wrote verifies again to the same verdicts (reference: input_answer)
    again = tmp_path / "again.jsonl"
    res = CliRunner().invoke(app, ["verify", str(out), "--out", str(again)])
    assert res.exit_code == 0, res.output
    regraded = [json.loads(line) for line in again.read_text().splitlines()]
    assert [g["verdict"] for g in regraded] == [g["verdict"] for g in got]
    assert [g["input_answer"] for g in regraded] == ["5", "5", "5"]
