"""The library API (``tracemint.api``, re-exported by ``tracemint``) against the shipped test
server, real files and the CLI: a program that calls the API gets what the command gives."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tracemint
from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint import api
from tracemint.cli import app
from tracemint.errors import ConfigError, RunError, SourceError
from tracemint.store import RunStore

N_PROBLEMS = 6

# The public API, exactly: adding a name is a deliberate change, made here too.
PUBLIC = [
    "ALL_FIELDS",
    "ConfigError",
    "MissingDependencyError",
    "Recipe",
    "Run",
    "RunError",
    "SourceError",
    "TeacherError",
    "TeacherUnavailableError",
    "TracemintError",
    "families",
    "generate",
    "grade",
    "load_recipe",
    "run",
    "trace_schema",
]


def test_public_api_is_pinned() -> None:
    assert tracemint.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(tracemint, name) is not None, name
    assert set(api.__all__) <= set(PUBLIC)


def test_reexports_are_the_package_objects() -> None:
    from tracemint import config, errors, records

    assert tracemint.load_recipe is config.load_recipe
    assert tracemint.Recipe is config.Recipe
    assert tracemint.ALL_FIELDS is records.ALL_FIELDS
    assert tracemint.trace_schema is records.trace_schema
    assert tracemint.TracemintError is errors.TracemintError
    assert "completion" in tracemint.ALL_FIELDS
    assert tracemint.trace_schema().field("verdict").type == pa.string()


def test_import_tracemint_stays_light() -> None:
    """``tracemint --help`` imports the package on every start: nothing heavy at import."""
    heavy = ("pyarrow", "pydantic", "typer", "rich", "numpy", "tracemint.config")
    code = f"import sys, tracemint; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def minted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[api.Run, Path]]:
    """One run made by ``tracemint.run`` against the shipped server; yields it and its
    recipe. The server stays up for the tests that run again."""
    tmp = tmp_path_factory.mktemp("api")
    problems = apples_problems(tmp / "problems.jsonl", 0, N_PROBLEMS)
    with start_test_server(answers=problems, accuracy=0.5) as (url, _):
        recipe = server_recipe(
            tmp / "recipe.toml",
            base_url=url,
            problems=problems,
            teacher={"concurrency": 4, "backoff_base_s": 0.01},
            sampling={"temperature": 0.7, "max_tokens": 200},
            budget={"samples": 3},
            run={"shard_rows": 4, "flush_seconds": 0.2, "workers": 1},
            export={"formats": ["sft", "dpo"]},
        )
        yield tracemint.run(tracemint.load_recipe(recipe)), recipe


def test_run_returns_the_run_it_made(minted: tuple[api.Run, Path]) -> None:
    r, _ = minted
    assert r.path == r.path.parent / "srv" and r.name == "srv"
    assert r.manifest["complete"] is True
    assert r.counts["problems"] == N_PROBLEMS
    assert r.counts["traces"] == N_PROBLEMS * 3
    assert repr(r) == f"Run({str(r.path)!r})"


def test_traces_are_what_the_store_holds(minted: tuple[api.Run, Path]) -> None:
    r, _ = minted
    table = r.traces()
    assert isinstance(table, pa.Table)
    assert table.equals(RunStore(r.path).read_traces())
    shards = sorted((r.path / "traces").glob("part-*.parquet"))
    assert table.to_pylist() == pa.concat_tables(pq.read_table(p) for p in shards).to_pylist()
    assert r.traces(["trace_id", "verdict"]).column_names == ["trace_id", "verdict"]


def test_run_exported_and_reported_like_the_command(minted: tuple[api.Run, Path]) -> None:
    r, _ = minted
    assert sorted(r.exported) == ["dpo", "sft"]
    for fmt, res in r.exported.items():
        for name in res["files"]:
            assert (r.path / "export" / name).is_file(), (fmt, name)
    assert r.exported["sft"]["rows"] == r.counts["accepted"]
    assert r.report_path == r.path / "report.html" and r.report_path.is_file()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_export_writes_the_files_tracemint_export_writes(
    minted: tuple[api.Run, Path], tmp_path: Path
) -> None:
    r, _ = minted
    got = r.export(["sft", "dpo"], tmp_path / "api", system_prompt="Be brief.")
    res = CliRunner().invoke(
        app,
        [
            "export",
            str(r.path),
            "--format",
            "sft|dpo",
            "--out",
            str(tmp_path / "cli"),
            "--system-prompt",
            "Be brief.",
        ],
    )
    assert res.exit_code == 0, res.output
    api_files, cli_files = _files(tmp_path / "api"), _files(tmp_path / "cli")
    assert sorted(api_files) == ["dpo.jsonl", "dpo.parquet", "sft.jsonl", "sft.parquet"]
    assert api_files == cli_files
    assert got["sft"]["rows"] == len(api_files["sft.jsonl"].splitlines())
    first = json.loads(api_files["sft.jsonl"].splitlines()[0])
    assert first["prompt"][0] == {"role": "system", "content": "Be brief."}
    one = r.export("sft", tmp_path / "one", file_types=["jsonl"], system_prompt="Be brief.")
    assert list(one) == ["sft"] and _files(tmp_path / "one") == {
        "sft.jsonl": api_files["sft.jsonl"]
    }


def test_report_rebuilds_the_html(minted: tuple[api.Run, Path]) -> None:
    r, _ = minted
    r.report_path.unlink()
    path = r.report()
    assert path == r.report_path and path.is_file()
    html = path.read_text(encoding="utf-8")
    assert "<html" in html and "srv" in html
    labels = [label for label, _ in r.summary()]
    assert labels[:3] == ["problems", "traces", "accuracy"]
    assert dict(r.summary())["traces"] == f"{N_PROBLEMS * 3:,}"


def test_opened_run_reads_the_same(minted: tuple[api.Run, Path]) -> None:
    r, _ = minted
    again = tracemint.Run(r.path)
    assert again.exported == {}
    assert again.counts == r.counts and again.traces().equals(r.traces())


def test_rerun_is_refused_and_resume_repeats_nothing(minted: tuple[api.Run, Path]) -> None:
    r, recipe = minted
    with pytest.raises(RunError, match="--resume"):
        tracemint.run(recipe)  # a path works as well as a Recipe
    again = tracemint.run(recipe, resume=True)
    assert again.manifest["sessions"][-1]["new_calls"] == 0
    assert again.traces().num_rows == r.traces().num_rows


def test_bad_runner_and_non_run_fail_with_package_errors(
    minted: tuple[api.Run, Path], tmp_path: Path
) -> None:
    _, recipe = minted
    with pytest.raises(ConfigError, match="unknown runner 'spark'"):
        tracemint.run(recipe, runner="spark")
    with pytest.raises(RunError, match="not a tracemint run"):
        tracemint.Run(tmp_path)


ROWS = [
    {"question": "1+1?", "completion": "So the answer is 2.", "answer": "2"},
    {"question": "2+2?", "completion": "2 + 2 = 5. The answer is 5.", "answer": "4"},
    {"question": "3+3?", "completion": "I am not sure.", "answer": "6"},
]


def test_grade_rows_like_tracemint_verify(tmp_path: Path) -> None:
    graded = list(tracemint.grade(ROWS, steps=True))
    assert [g["correct"] for g in graded] == [True, False, None]
    assert [g["verdict"] for g in graded] == ["correct", "wrong", "unverifiable"]
    assert graded[1]["first_wrong_step"] == 0
    assert graded[0]["input_answer"] == "2"  # the input's `answer` is kept
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert list(tracemint.grade(src, steps=True)) == graded
    res = CliRunner().invoke(
        app, ["verify", str(src), "--out", str(tmp_path / "g.jsonl"), "--steps"]
    )
    assert res.exit_code == 0, res.output
    cli = [json.loads(x) for x in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert cli == graded


def test_grade_names_the_row_and_the_setting() -> None:
    rows = [ROWS[0], {"question": "4+4?", "answer": "8"}]
    graded = tracemint.grade(rows)
    with pytest.raises(SourceError, match=r"rows\[1\].*rationale_field"):
        list(graded)
    named = tracemint.grade(
        [{"q": "1+1?", "text": "The answer is 2.", "gold": "2"}],
        question_field="q",
        rationale_field="text",
        reference_field="gold",
    )
    assert [g["correct"] for g in named] == [True]
    with pytest.raises(SourceError, match=r"not found|no such|does not exist"):
        tracemint.grade("no/such/file.jsonl")  # the file is checked at the call


def test_generate_is_deterministic_by_seed_and_matches_the_command(tmp_path: Path) -> None:
    first = list(tracemint.generate("modular", 8, seed=3))
    assert first == list(tracemint.generate("modular", 8, seed=3))
    assert first != list(tracemint.generate("modular", 8, seed=4))
    assert len({r["question"] for r in first}) == 8
    out = tmp_path / "p.jsonl"
    res = CliRunner().invoke(
        app, ["generate", "--family", "modular", "--n", "8", "--seed", "3", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert [json.loads(x) for x in out.read_text().splitlines()] == first
    assert "modular" in tracemint.families()


def test_generate_checks_the_family_and_knobs_at_the_call() -> None:
    with pytest.raises(ConfigError):
        tracemint.generate("modular", 3, options={"no_such_knob": 1})
    with pytest.raises(Exception, match="no_such_family"):
        tracemint.generate("no_such_family", 3)
