"""``tracemint eval``'s progress bar shows accuracy, not "accepted" (issue 18): an
evaluation keeps every trace, so "13 accepted" read like success at accuracy 0.000."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from conftest_server import apples_problems, start_test_server
from tracemint.evaluate.progress import EvalProgress, EvalStats
from tracemint.evaluate.run import eval_recipe, evaluate


def _trace(verdict: str) -> dict:
    return {"verdict": verdict, "accepted": True, "cache_hit": False, "completion_tokens": 5,
            "prompt_tokens": 3}  # fmt: skip


def test_bar_counts_correct_of_graded() -> None:
    stats = EvalStats()
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with EvalProgress(stats, 4, console=console) as bar:
        for verdicts in (["correct", "wrong"], ["wrong", "unverifiable"]):
            bar.advance(1, *stats.add([_trace(v) for v in verdicts]))
    text = out.getvalue()
    assert "evaluating" in text and "2/4" in text
    assert "accuracy 0.333 of 3 graded" in text and "accepted" not in text
    assert (stats.correct, stats.graded, stats.accepted, stats.traces) == (1, 3, 4, 4)


def test_eval_bar_shows_accuracy_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answer wrong: the bar says accuracy 0.000, and resumed, counts stored samples."""
    monkeypatch.setenv("COLUMNS", "200")
    problems = apples_problems(tmp_path / "p.jsonl", 0, 5)
    with start_test_server(answers=problems, accuracy=0.0) as (url, _):
        recipe = eval_recipe(
            "e",
            {"type": "file", "path": str(problems), "id_field": "id"},
            {"type": "openai", "model": "m", "base_url": url},
            k=2,
            runs_dir=tmp_path / "runs",
        )
        result = evaluate(recipe, progress=True, plot=False)
        first = capsys.readouterr().out
        evaluate(recipe, progress=True, plot=False)  # resumes: every problem done
        again = capsys.readouterr().out
    assert result["overall"]["accuracy"] == 0.0
    assert "accuracy 0.000 of 10 graded" in first and "accepted" not in first
    assert "accuracy 0.000 of 10 graded" in again and "5/5" in again
