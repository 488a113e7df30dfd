"""The CLI end to end: real files, the shipped server, exit codes, and no leaked secrets."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest_server import start_test_server
from tracemint.cli import app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_verify_gsm8k_answers_against_themselves_agree_100(tmp_path: Path) -> None:
    out = tmp_path / "graded.jsonl"
    res = runner.invoke(
        app,
        [
            "verify",
            str(DATA / "verify_gsm8k_test_300.jsonl"),
            "--out",
            str(out),
            "--rationale-field",
            "answer",
            "--reference-field",
            "answer",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 300
    assert all(r["correct"] is True for r in rows)
    assert rows[0]["extracted_answer"] == rows[0]["extracted_reference"] == "18"
    assert "1.0000" in res.output


def test_verify_grades_mixed_rows_and_names_missing_fields(tmp_path: Path) -> None:
    src = tmp_path / "sol.jsonl"
    src.write_text(
        json.dumps({"question": "1+1?", "completion": "So the answer is 2.", "answer": "2"})
        + "\n"
        + json.dumps({"question": "2+2?", "completion": "The answer is 5.", "answer": "4"})
        + "\n"
        + json.dumps({"question": "3+3?", "completion": "I am not sure.", "answer": "6"})
        + "\n"
        + json.dumps({"question": "4+4?", "answer": "8"})
        + "\n"
    )
    out = tmp_path / "g.jsonl"
    res = runner.invoke(app, ["verify", str(src), "--out", str(out)])
    assert res.exit_code == 3  # SourceError
    assert "line 4" in res.output and "rationale" in res.output
    src.write_text("\n".join(src.read_text().splitlines()[:3]) + "\n")
    res = runner.invoke(app, ["verify", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = [json.loads(x)["correct"] for x in out.read_text().splitlines()]
    assert got == [True, False, None]


def test_run_export_report_and_no_secret_anywhere(tmp_path: Path, monkeypatch) -> None:
    secret = "sk-test-DO-NOT-LEAK-123"
    monkeypatch.setenv("TM_TEST_KEY", secret)
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"x{i}",
                    "question": f"Ann has {i} pens and gets {i} more. How many?",
                    "answer": str(2 * i),
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    with start_test_server(answers=problems, accuracy=0.5, require_key=secret) as (url, _):
        recipe = tmp_path / "r.toml"
        recipe.write_text(f"""
name = "cli"
runs_dir = {json.dumps(str(tmp_path / "runs"))}
[source]
type = "file"
path = {json.dumps(str(problems))}
[teacher]
type = "openai"
model = "m"
base_url = "{url}"
api_key_env = "TM_TEST_KEY"
[budget]
samples = 4
""")
        res = runner.invoke(app, ["run", str(recipe), "--no-progress"])
        assert res.exit_code == 0, res.output
        run_dir = tmp_path / "runs" / "cli"
        res = runner.invoke(app, ["run", str(recipe), "--no-progress"])
        assert res.exit_code == 6 and "--resume" in res.output  # RunError
        res = runner.invoke(app, ["run", str(recipe), "--no-progress", "--resume"])
        assert res.exit_code == 0, res.output
        monkeypatch.delenv("TM_TEST_KEY")
        res = runner.invoke(app, ["run", str(recipe), "--no-progress", "--fresh"])
        assert res.exit_code == 2 and "TM_TEST_KEY" in res.output  # ConfigError, says what
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f  # cache, manifest, shards, report
    out = tmp_path / "data"
    res = runner.invoke(app, ["export", str(run_dir), "--format", "sft|dpo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "sft.jsonl").exists() and (out / "dpo.parquet").exists()
    res = runner.invoke(app, ["report", str(run_dir)])
    assert res.exit_code == 0 and (run_dir / "report.html").exists()


def test_bad_recipe_exit_code_and_message(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(
        'name = "x"\n[source]\ntype = "file"\npath = "p"\n'
        '[teacher]\ntype = "openai"\nmodel = "m"\nconcurrency = "many"\n'
    )
    res = runner.invoke(app, ["run", str(recipe)])
    assert res.exit_code == 2
    assert "teacher.concurrency" in res.output


def test_verify_steps_adds_step_verdicts(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    src.write_text(
        json.dumps({"completion": "3 + 4 = 8\nThe answer is 7.", "answer": "7"})
        + "\n"
        + json.dumps({"completion": "3 + 4 = 7\nThe answer is 7.", "answer": "7"})
        + "\n"
    )
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["verify", str(src), "--out", str(out), "--steps"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, True]
    assert [r["first_wrong_step"] for r in rows] == [0, None]
    assert rows[0]["steps"][0] == {"text": "3 + 4 = 8", "start": 0, "end": 9, "verdict": "wrong"}
    assert "with a wrong step" in res.output


def test_serve_test_runs_the_shipped_server() -> None:
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "tracemint.cli", "serve-test", "--port", "0", "--models", "m1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ") + "/v1/models"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert [m["id"] for m in json.loads(resp.read())["data"]] == ["m1"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
