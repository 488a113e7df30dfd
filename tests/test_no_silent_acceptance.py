"""No silent acceptance, end to end through the test server, the runner and the exporters.

The hostile tester's case: a row whose answer is missing became a problem without a
reference, its one sample was "accepted" by a one-vote majority and exported ("What is
1+1?" -> "The answer is 158.", agreement 1.0). Now the run refuses the row, and a source
that declares references optional gets majority voting that needs real votes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest_server import server_recipe, start_test_server
from tracemint.config import load_recipe
from tracemint.errors import SourceError
from tracemint.export import export_run
from tracemint.runner.local import LocalRunner


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _traces(run_dir: Path) -> list[dict[str, Any]]:
    return [
        r
        for f in sorted((run_dir / "traces").glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]


def test_a_row_without_a_reference_stops_the_run(tmp_path: Path) -> None:
    problems = _write(
        tmp_path / "p.jsonl",
        [
            {"id": "a", "question": "What is 2+2?", "answer": "4"},
            {"id": "b", "question": "What is 1+1?"},
        ],
    )
    with start_test_server() as (url, _):
        path = server_recipe(
            tmp_path / "r.toml", base_url=url, problems=problems, budget={"samples": 1}
        )
        with pytest.raises(SourceError) as info:
            LocalRunner(load_recipe(path), progress=False).run()
    assert (info.value.path, info.value.line, info.value.field) == (str(problems), 2, "answer")
    assert "the reference is missing" in str(info.value)


@pytest.mark.parametrize(
    ("samples", "knows", "reason"),
    [
        (1, True, "too few votes for a majority (1 < min_votes 3)"),  # the tester's case
        (3, False, "no strict majority (agreement 0.33)"),  # three different guesses
        (3, True, None),  # three samples that agree: a strict, unanimous majority
    ],
)
def test_optional_references_need_real_votes(
    tmp_path: Path, samples: int, knows: bool, reason: str | None
) -> None:
    question = "What is 1+1?"
    problems = _write(tmp_path / "p.jsonl", [{"id": "b", "question": question}])
    book = _write(tmp_path / "book.jsonl", [{"question": question, "answer": "2"}])
    with start_test_server(answers=book if knows else None) as (url, _):
        path = server_recipe(
            tmp_path / "r.toml",
            base_url=url,
            problems=problems,
            sampling={"temperature": 0.7, "max_tokens": 200},
            budget={"samples": samples},
        )
        text = path.read_text().replace(
            'id_field = "id"\n', 'id_field = "id"\nreference = "optional"\n'
        )
        path.write_text(text)
        LocalRunner(load_recipe(path), progress=False).run()
    run_dir = tmp_path / "runs" / "srv"
    traces = _traces(run_dir)
    assert len(traces) == samples and all(t["reference"] is None for t in traces)
    res = export_run(run_dir, ["sft"], tmp_path / "out", ("jsonl",))
    if reason is None:
        assert all(t["accepted"] for t in traces) and res["sft"]["rows"] == samples
        assert {t["answer"] for t in traces} == {"2"}
    else:
        assert not any(t["accepted"] for t in traces) and res["sft"]["rows"] == 0
        assert traces[0]["drop_reason"] == reason
