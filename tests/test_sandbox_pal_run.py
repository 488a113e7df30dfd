"""Acceptance: a program-aided run of 200 GSM8K problems with three hostile programs in it.

The teacher is the shipped test server playing a model that writes honest programs for 197
problems and, for three, a program that forges its result frame with the reference answer,
one that fills /tmp, and one that goes looking for the answer key (the problem file, the
run's cache, the recipe). Judged from outside, through the CLI a user runs: the run
completes, every other problem is graded as if the three were not there, each hostile
trace says why it failed, and ``--resume`` afterwards asks the server for nothing and
changes no trace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest_server import server_recipe, start_test_server
from test_sandbox import BYPASS, FORGED_OK
from tracemint.store import RunStore

DATA = Path(__file__).parent / "data" / "verify_gsm8k_test_300.jsonl"
N = 200
FORGER, FILLER, KEY_READER = "g10", "g20", "g30"


def forger(reference: str) -> str:
    frame = FORGED_OK.replace('"999"', json.dumps(reference)).encode()
    return BYPASS + (
        "def solution():\n"
        "    for fd in range(64):\n"
        "        try:\n"
        f"            os.write(fd, {frame!r})\n"
        "        except OSError:\n"
        "            pass\n"
        "    return -1\n"
    )


FILLER_PROGRAM = BYPASS + (
    "def solution():\n"
    "    chunk = b'x' * (1 << 20)\n"
    "    for i in range(10**6):\n"
    "        fd = os.open(f'/tmp/fill-{i}', os.O_CREAT | os.O_WRONLY)\n"
    "        try:\n"
    "            os.write(fd, chunk)\n"
    "        finally:\n"
    "            os.close(fd)\n"
)


def key_reader(paths: list[str]) -> str:
    return BYPASS + (
        "def solution():\n"
        "    tried = []\n"
        f"    for path in {paths!r}:\n"
        "        try:\n"
        "            fd = os.open(path, os.O_RDONLY)\n"
        "        except OSError as exc:\n"
        "            tried.append(f'{path}: {exc.strerror}')\n"
        "            continue\n"
        "        data = os.read(fd, 1 << 20)\n"
        "        return data.decode(errors='replace')\n"
        "    raise FileNotFoundError('; '.join(tried))\n"
    )


def write_problems(path: Path, rows: list[dict[str, str]], reference: dict[str, str]) -> None:
    with path.open("w") as f:
        for i, r in enumerate(rows):
            pid = f"g{i}"
            f.write(json.dumps({"id": pid, "question": r["question"], "answer": reference[pid]}))
            f.write("\n")


def write_book(path: Path, rows: list[dict[str, str]], programs: dict[str, str]) -> None:
    """The test server's answer book: GSM8K solutions, and a program for the hostile ids."""
    with path.open("w") as f:
        for i, r in enumerate(rows):
            row = {"question": r["question"], "answer": r["answer"]}
            if f"g{i}" in programs:
                row["program"] = programs[f"g{i}"]
            f.write(json.dumps(row) + "\n")


def pal_recipe(path: Path, url: str, problems: Path, runs: Path, name: str) -> Path:
    return server_recipe(
        path,
        base_url=url,
        problems=problems,
        name=name,
        runs_dir=runs,
        teacher={"concurrency": 16},
        strategy={"name": "pal", "answer_from": "program"},
        budget={"samples": 1},
    )


def tracemint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cli = [sys.executable, "-c", "from tracemint.cli import app; app()", *args]
    return subprocess.run(cli, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_pal_run_with_hostile_programs_completes_and_resumes_as_a_no_op(
    tmp_path: Path,
) -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[:N]]
    problems, book = tmp_path / "problems.jsonl", tmp_path / "book.jsonl"
    recipe = tmp_path / "recipe.toml"
    runs = tmp_path / "runs"
    reference = {f"g{i}": r["answer"].rsplit("####", 1)[1].strip() for i, r in enumerate(rows)}
    secrets = [str(problems), str(recipe), str(runs / "pal" / "cache.sqlite"), str(book),
               str(Path(__file__).resolve()), os.path.expanduser("~/.bash_history")]  # fmt: skip
    hostile = {
        FORGER: forger(reference[FORGER]),
        FILLER: FILLER_PROGRAM,
        KEY_READER: key_reader(secrets),
    }
    write_problems(problems, rows, reference)
    write_book(book, rows, hostile)
    write_book(tmp_path / "honest.jsonl", rows, {})
    with start_test_server(answers=book) as (url, stats):
        pal_recipe(recipe, url, problems, runs, "pal")
        first = tracemint("run", str(recipe), "--no-progress", cwd=tmp_path)
        assert first.returncode == 0, first.stderr[-3000:]
        asked = stats()["by_key"]
        traces = RunStore(runs / "pal").read_traces().to_pylist()

        again = tracemint("run", str(recipe), "--no-progress", "--resume", cwd=tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
        assert stats()["by_key"] == asked  # not one request more, none repeated
        assert RunStore(runs / "pal").read_traces().to_pylist() == traces
    # the control: the same model without the three hostile programs
    with start_test_server(answers=tmp_path / "honest.jsonl") as (url, _):
        control = pal_recipe(tmp_path / "control.toml", url, problems, runs, "control")
        assert tracemint("run", str(control), "--no-progress", cwd=tmp_path).returncode == 0
    expected = {
        t["problem_id"]: (t["program_status"], t["program_value"], t["verdict"])
        for t in RunStore(runs / "control").read_traces().to_pylist()
    }

    by_id = {t["problem_id"]: t for t in traces}
    assert sorted(by_id) == sorted(reference) and len(traces) == N
    for pid, t in by_id.items():  # graded as if the three were not there
        if pid not in hostile:
            assert (t["program_status"], t["program_value"], t["verdict"]) == expected[pid], t
    assert sum(v[2] == "correct" for v in expected.values()) >= 190  # the model is right
    forged, filled, reader = by_id[FORGER], by_id[FILLER], by_id[KEY_READER]
    assert (forged["program_status"], forged["verdict"]) == ("error", "unverifiable")
    assert "SandboxProtocolError" in forged["program_error"]
    assert filled["program_status"] in ("error", "killed") and filled["verdict"] != "correct"
    assert "No space left" in filled["program_error"] or "disk" in filled["program_error"]
    assert (reader["program_status"], reader["verdict"]) == ("error", "unverifiable")
    assert "FileNotFoundError" in reader["program_error"]
    for secret in secrets[:5]:  # each path was tried and was not there
        assert f"{secret}: No such file or directory" in reader["program_error"]
    for t in (forged, filled, reader):
        assert t["program_error"] in (t["verdict_reason"] or ""), t  # the trace says why
