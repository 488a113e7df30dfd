"""The calculator and contrastive strategies, against the shipped server with scripted replies.

Each server test takes the path a run takes for one round (``runner/mint.py::draw``):
prompts from the strategy's template, the teacher's reply through ``stages.sample``, then
``stages.calculate``, ``stages.verify``, ``stages.check_refutations`` and
``stages.check_steps``. The teacher is the test server answering each question with the
exact text its answer-book row scripts (``reply``), so every placeholder, slip and
refutation is one the test chose.
"""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa

from conftest_server import start_test_server
from tracemint import stages
from tracemint.config import SamplingConfig
from tracemint.records import DECLARED_TYPES, to_table
from tracemint.stages.calculator import evaluate, splice
from tracemint.strategies import load_strategy
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
from tracemint.verify.contrastive import option_segments

AQUA = Path(__file__).parent / "data" / "sources_aqua_test.json"
Records = list[dict[str, Any]]


def problem(pid: str, question: str, reference: str, choices: list[str] | None = None) -> dict:
    return {
        "problem_id": pid,
        "question": question,
        "reference": reference,
        "choices": choices,
        "source": "t",
        "source_index": 0,
        "metadata": None,
    }


def write_book(path: Path, scripted: dict[str, str]) -> Path:
    """An answer book whose rows make the server reply with exactly the given text."""
    with path.open("w") as f:
        for question, reply in scripted.items():
            f.write(json.dumps({"question": question, "answer": "0", "reply": reply}) + "\n")
    return path


def one_round(url: str, problems: Records, strategy_name: str) -> Records:
    """One round as the runner draws it: sample, calculate, verify, refutations, steps."""

    async def go() -> Records:
        teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=url, concurrency=4))
        try:
            strategy = load_strategy(strategy_name)
            sampling = SamplingConfig(temperature=0.0, max_tokens=400)
            pairs = stages.build_requests(problems, strategy, sampling, [0])
            new = await stages.sample(pairs, teacher, None, strategy=strategy)
        finally:
            await teacher.aclose()
        new = stages.calculate(new)
        new = stages.verify(new)
        new = stages.check_refutations(new)
        return stages.check_steps(new)

    return asyncio.run(go())


# --- calculator -------------------------------------------------------------------------

SHOP = "Ann buys 48 red beads and 12 blue beads, then 3 bags of 7 beads. How many beads?"
SHOP_REPLY = (
    "Red and blue: 48 + 12 = <<48+12>> beads.\n"
    "The bags hold 3 * 7 = <<3*7=20>>20 beads.\n"  # the teacher's own value slipped: 20
    "The spare box has <<some beads + 4>> beads.\n"  # not arithmetic: left as written
    "The answer is <<48 + 12 + 3*7>>."
)
CARRY = "Bo has 15 cards and gets 27 more, then doubles them. How many cards does he have?"
CARRY_REPLY = (
    "15 + 27 = <<15+27>> cards.\n"
    "Doubled: 41 * 2 = 82 cards.\n"  # the teacher carried its own wrong sum (41)
    "The answer is 82."
)


def test_placeholders_are_evaluated_spliced_and_recorded(tmp_path: Path) -> None:
    book = write_book(tmp_path / "book.jsonl", {SHOP: SHOP_REPLY, CARRY: CARRY_REPLY})
    problems = [problem("shop", SHOP, "81"), problem("carry", CARRY, "84")]
    with start_test_server(answers=book) as (url, _):
        shop, carry = one_round(url, problems, "calculator")

    assert shop["completion_raw"] == SHOP_REPLY
    assert shop["completion"] == (
        "Red and blue: 48 + 12 = 60 beads.\n"
        "The bags hold 3 * 7 = 21 beads.\n"
        "The spare box has <<some beads + 4>> beads.\n"
        "The answer is 81."
    )
    assert shop["tool_calls"] == [
        {"expr": "48+12", "value": "60", "ok": True, "written": None},
        {"expr": "3*7", "value": "21", "ok": True, "written": "20"},  # the slip, replaced
        {"expr": "some beads + 4", "value": None, "ok": False, "written": None},
        {"expr": "48 + 12 + 3*7", "value": "81", "ok": True, "written": None},
    ]
    # graded and step-checked on the spliced text: the slip never reaches the data
    assert shop["verdict"] == "correct" and shop["answer"] == "81"
    assert shop["n_claims_wrong"] == 0 and shop["n_claims_checked"] >= 2

    # a value the teacher carries in its own words stays its own: still wrong, still seen
    assert carry["completion"].startswith("15 + 27 = 42 cards.\nDoubled: 41 * 2 = 82")
    assert carry["n_claims_wrong"] == 0  # 41 * 2 = 82 holds as arithmetic ...
    assert carry["verdict"] == "wrong"  # ... but the carried 41 makes the answer wrong

    # the columns are typed in a shard even when no row fills them (a cot-only run)
    assert DECLARED_TYPES["tool_calls"] == pa.list_(
        pa.struct([("expr", pa.string()), ("value", pa.string()), ("ok", pa.bool_()),
                   ("written", pa.string())])
    )  # fmt: skip
    assert to_table([shop]).schema.field("tool_calls").type == DECLARED_TYPES["tool_calls"]


def test_the_stage_leaves_other_strategies_and_finished_traces_alone() -> None:
    cot = {"strategy": "cot", "completion": "3 * 7 = <<3*7=20>>20"}
    assert stages.calculate([cot]) == [cot]
    once = stages.calculate([{"strategy": "calculator", "completion": "2 + 2 = <<2+2>>"}])
    assert once[0]["completion"] == "2 + 2 = 4"
    assert stages.calculate(once) == once  # idempotent: a resumed trace is not re-spliced


def test_the_calculator_is_the_step_checkers_arithmetic() -> None:
    assert evaluate("10/3") == Fraction(10, 3)
    assert splice("10 / 3 = <<10/3>>")[0] == "10 / 3 = 10/3"  # exact, never rounded
    assert splice("<<20% * 50>> and <<$12 * 3>>")[0] == "10 and 36"
    for bad in ("(3 + 4", "1/0", "x + 2", "3 apples", "9" * 80):
        assert evaluate(bad) is None, bad
    text, calls = splice("<<1/0>> then <<2+3>>")
    assert text == "<<1/0>> then 5" and [c["ok"] for c in calls] == [False, True]


def test_the_teachers_own_value_after_a_placeholder_goes_whatever_follows_it() -> None:
    """GSM8K habit: the value is written inside and after the placeholder; both are the
    teacher's guess at one calculation. A fraction after it is the teacher's text."""
    assert splice("$<<9*2=19>>19/week")[0] == "$18/week"
    assert splice("<<5-8=-3>>-3 left")[0] == "-3 left"
    assert splice("<<10/4=2.4>>2.4.")[0] == "2.5."
    assert splice("<<1+1>>1/2 cup")[0] == "21/2 cup"  # "1/2" is not a value of 1 + 1
    text, calls = splice("<<x+1=5>>5 and <<2*2=5>>5")
    assert text == "<<x+1=5>>5 and 4"  # not evaluated: the guess stays with it
    assert [c["written"] for c in calls] == ["5", "5"]


def test_the_calculator_template_asks_for_placeholders() -> None:
    strategy = load_strategy("calculator")
    free = strategy.render(problem("p", "What is 2 + 2?", "4"))
    assert "<<" in free[0]["content"] and free[-1]["content"].startswith("What is 2 + 2?")
    assert [m["role"] for m in free] == ["system", "user", "assistant", "user"]
    mc = strategy.render(problem("p", "Pick one.", "A", ["A) 4", "B) 5"]))
    assert "B) 5" in mc[-1]["content"] and "(X)" in mc[-1]["content"]


# --- contrastive ------------------------------------------------------------------------


def aqua(index: int) -> dict[str, Any]:
    rows = [json.loads(line) for line in AQUA.read_text().splitlines() if line.strip()]
    row = rows[index]
    return problem(f"aqua{index}", row["question"], row["correct"], row["options"])


TRADER_REPLY = (  # AQuA row 4: options 270, 300, 280, 320, 315; the answer is B (300)
    "The selling price is 120% of the cost: 360 / 1.2 = 300.\n"
    "(A) wrong: 270 * 1.2 = 324, not 360.\n"
    "(B) right: 300 * 1.2 = 360.\n"
    "(C) wrong: 280 * 1.2 = 336, which is not 360.\n"
    "(D) wrong: 320 * 1.2 = 374, too much.\n"  # the refutation's own arithmetic is wrong (384)
    "(E) wrong: 315 is just too big.\n"  # a refutation without arithmetic
    "The answer is (B)."
)
OVENS_REPLY = (  # AQuA row 17: 21, 30, 31, 32, "None of the above"; the answer is D (32)
    "Total: 42 * 12 + 20 * 10 = 704 ovens over 22 months, 704 / 22 = 32.\n"
    "(A) wrong: 42 + 20 = 62 and 62 / 2 = 31 averages the averages; 21 is not even that.\n"
    "(B) wrong: 704 / 22 = 32, not 30.\n"
    "(C) wrong: 704 / 22 = 32, not 31.\n"
    "(D) right: 704 / 22 = 32.\n"
    "(E) wrong: 32 is among the options, so not 'None of the above'.\n"
    "The answer is (D)."
)


def test_refutations_of_numeric_options_are_checked(tmp_path: Path) -> None:
    trader, ovens = aqua(4), aqua(17)
    scripted = {trader["question"]: TRADER_REPLY, ovens["question"]: OVENS_REPLY}
    with start_test_server(answers=write_book(tmp_path / "book.jsonl", scripted)) as (url, _):
        t, o = one_round(url, [trader, ovens], "contrastive")

    assert t["verdict"] == "correct" and t["answer"] == "B"
    by = {r["option"]: r for r in t["contrastive_refutations"]}
    assert set(by) == {"A", "C", "D", "E"}  # the wrong options only
    assert by["A"] == {
        "option": "A", "refuted": True, "checked": True, "wrong": False,
        "reason": "computes 324, not 270",
    }  # fmt: skip
    assert by["C"]["checked"] and by["C"]["refuted"]
    assert by["D"]["refuted"] and not by["D"]["checked"] and by["D"]["wrong"]  # flagged
    assert "320 * 1.2 = 374" in by["D"]["reason"]
    assert by["E"]["refuted"] and not by["E"]["checked"]
    assert by["E"]["reason"] == "no checked arithmetic"
    assert t["n_claims_wrong"] == 1  # the step checker sees the same slip

    by = {r["option"]: r for r in o["contrastive_refutations"]}
    assert all(by[x]["checked"] for x in "ABC")
    assert by["E"]["refuted"] and not by["E"]["checked"]  # non-numeric: refuted, unchecked
    assert by["E"]["reason"] == "not a number: nothing to compute"


def test_a_refutation_is_missing_or_lands_on_the_option() -> None:
    trace = {
        **aqua(4),
        "strategy": "contrastive",
        "completion": "360 / 1.2 = 300.\n(A) wrong: 225 * 1.2 = 270, no.\nThe answer is (B).",
    }
    (out,) = stages.check_refutations([trace])
    by = {r["option"]: r for r in out["contrastive_refutations"]}
    assert not by["A"]["checked"]  # 225 * 1.2 = 270 lands on the option: no refutation
    assert by["A"]["reason"] == "computes the option's value 270"
    assert by["C"] == {
        "option": "C", "refuted": False, "checked": False, "wrong": False,
        "reason": "no line about this option",
    }  # fmt: skip
    # free-form problems and other strategies get no refutations
    free = {**problem("p", "2 + 2?", "4"), "strategy": "contrastive", "completion": "4"}
    assert stages.check_refutations([free])[0]["contrastive_refutations"] is None
    cot = {**trace, "strategy": "cot"}
    assert stages.check_refutations([cot]) == [cot]


def test_option_lines_are_found_in_the_usual_shapes() -> None:
    text = "Work.\n(A) no\n- B) no\n**Option C**: no\nD: no\nE. no\nThe answer is (A)."
    segments = option_segments(text, list("ABCDE"))
    assert sorted(segments) == list("ABCDE")
    assert segments["E"] == "E. no\n"  # stops at the final answer line
    assert option_segments("A car drives. Then 3 + 4 = 7.", list("AB")) == {}


def test_the_contrastive_template_asks_for_one_line_per_option() -> None:
    messages = load_strategy("contrastive").render(aqua(4))
    assert "(B) wrong:" in messages[-1]["content"] and "E)315" in messages[-1]["content"]
    free = load_strategy("contrastive").render(problem("p", "What is 2 + 2?", "4"))
    assert "option" not in free[-1]["content"].lower()
