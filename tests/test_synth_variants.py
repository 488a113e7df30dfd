"""Counterfactual variants: which literals are substituted, and a PAL run end to end."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from typer.testing import CliRunner

from conftest_server import start_test_server
from tracemint.augment.variants import (
    format_answer,
    program_literals,
    substitutable,
    substitute_program,
)
from tracemint.cli import app
from tracemint.testing.fakemodel import solution_program
from tracemint.verify import answers_equal
from tracemint.verify.sandbox import Sandbox

DATA = Path(__file__).parent / "data"
runner = CliRunner()

PERCENT = """def solution():
    # 25 percent off, as a share of 100
    price = 80
    off = price * 25 / 100
    return price - off  # "80" in a comment stays
"""


def test_literals_skip_comments_and_strings() -> None:
    lits = program_literals('def solution():\n    # 7 apples\n    x = "7"\n    return 7 + 0x10\n')
    assert [(lit.text, lit.value) for lit in lits] == [("7", Fraction(7))]


def test_constants_not_in_the_question_are_kept() -> None:
    q = "A coat costs $80 and is 25% off. How much does it cost now?"
    assert [x.text for x in substitutable(q, PERCENT)] == ["80", "25"]
    new = substitute_program(PERCENT, {Fraction(80): Fraction(60), Fraction(25): Fraction(40)})
    assert "price = 60" in new and "price * 40 / 100" in new  # 100 is a constant
    assert '"80" in a comment stays' in new


def test_repeated_values_and_minutes_are_not_substituted() -> None:
    q = "Tom reads 30 pages in 30 minutes and 2 more pages. How many pages per hour?"
    prog = "def solution():\n    rate = 30 / 30\n    return rate * 60 + 2\n"
    # 30 twice in the question: ambiguous; 60 is not in the question: a constant
    assert [x.text for x in substitutable(q, prog)] == ["2"]
    assert substitute_program(prog, {Fraction(2): Fraction(5)}).endswith("rate * 60 + 5\n")


def test_a_constant_equal_to_a_quantity_is_changed_too() -> None:
    # the documented limit: "half" written / 2 when the question also says 2
    q = "A robe takes 2 bolts of blue fiber and half that much white fiber."
    prog = "def solution():\n    return 2 + 2 / 2\n"
    assert substitute_program(prog, {Fraction(2): Fraction(3)}).endswith("3 + 3 / 3\n")
    assert [x.text for x in substitutable(q, prog)] == ["2"]


def test_floats_and_formatting() -> None:
    prog = "def solution():\n    return 2.5 * 4\n"
    new = substitute_program(prog, {Fraction(5, 2): Fraction(7, 2), Fraction(4): Fraction(6)})
    assert new.endswith("return 3.5 * 6\n")
    assert format_answer(21.000000000001) == "21" and format_answer(2.5) == "2.5"


def test_fake_solution_program_uses_the_question_numbers() -> None:
    sol = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n"
    prog = solution_program(sol, "18")
    assert prog is not None and "v1 = 16-3-4" in prog and "v2 = v1*2" in prog
    changed = solution_program(sol, "18", {Fraction(16): Fraction(20)})
    assert changed is not None and "v1 = 20-3-4" in changed


def _recipe(tmp_path: Path, url: str, problems: Path) -> Path:
    r = tmp_path / "r.toml"
    r.write_text(f"""
name = "pal"
runs_dir = {json.dumps(str(tmp_path / "runs"))}
[source]
type = "file"
path = {json.dumps(str(problems))}
preset = "gsm8k"
[teacher]
type = "openai"
model = "m"
base_url = "{url}"
[strategy]
name = "pal"
answer_from = "program"
[budget]
samples = 1
""")
    return r


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_variants_of_a_pal_run_on_gsm8k(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    problems = tmp_path / "gsm8k.jsonl"
    problems.write_text(
        "".join((DATA / "sources_gsm8k_test.jsonl").read_text().splitlines(True)[:8])
    )
    with start_test_server(answers=problems) as (url, _):
        res = runner.invoke(app, ["run", str(_recipe(tmp_path, url, problems)), "--no-progress"])
        assert res.exit_code == 0, res.output
        run_dir = tmp_path / "runs" / "pal"
        outs = []
        for i, extra in enumerate(([], [], ["--check-with-teacher"])):
            out = tmp_path / f"v{i}.jsonl"
            args = ["variants", str(run_dir), "--per-problem", "3", "--seed", "0", "--out"]
            res = runner.invoke(app, [*args, str(out), *extra])
            assert res.exit_code == 0, res.output
            assert "kept" in res.output and "unstable" in res.output
            outs.append(_read(out))
    plain, again, checked = outs
    assert len(plain) >= 8
    assert [(v["id"], v["question"], v["answer"]) for v in plain] == [
        (v["id"], v["question"], v["answer"]) for v in again
    ]
    assert len({v["id"] for v in plain}) == len(plain)
    # the fake teacher reruns the known solution with the new numbers: it agrees
    assert [v["id"] for v in checked] == [v["id"] for v in plain]
    assert {v["checked"] for v in checked} == {"program+teacher"}
    with Sandbox() as sandbox:
        for v in plain:
            assert v["question"] != v["original_question"] and v["answer"] != v["original_answer"]
            for old, new in v["substitution"].items():
                assert new in v["question"] and old in v["original_question"]
            r = sandbox.run(v["program"])
            assert r.status == "ok" and answers_equal(r.value, v["answer"]), v
