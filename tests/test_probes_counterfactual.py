"""The counterfactual-input probe: the quantities found, the changed question exactly, the
answer recomputed from the trace's own arithmetic, skips with reasons, and end to end
through the shipped server, whose ``--reasoning-mode`` is the ground truth (``faithful``
reruns the known solution with the new numbers, ``posthoc`` keeps the old answer)."""

from __future__ import annotations

import asyncio
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conftest_server import start_test_server
from probe_support import sample_then_probe, word_problems
from tracemint import stages
from tracemint.errors import ConfigError
from tracemint.probes import CounterfactualConfig, CounterfactualProbe, make_config
from tracemint.probes.counterfactual import changed_messages, plan_change
from tracemint.records import stable_hash
from tracemint.synth.quantities import (
    draw_value,
    evaluate,
    find_quantities,
    format_number,
    recompute_answer,
    substitute,
)
from tracemint.testing.fakemodel import AnswerBook, FakeModel, rerun_solution

QUESTION = "Tom has 3 apples and buys 11 more, then doubles them. How many now?"
GSM8K = "He has 3+11=<<3+11=14>>14 apples.\nDoubling gives 14*2=<<14*2=28>>28 apples.\n#### 28"

# -- quantities -----------------------------------------------------------------------


def test_find_quantities_kinds_and_offsets() -> None:
    q = (
        "Ann has $1,200 and spends 25% of it on 3 books at $2.50 each on the 3rd (#4) at "
        "3:30, saving 1/2 and .5 of 12."
    )
    found = find_quantities(q)
    assert [x.text for x in found] == ["1,200", "25", "3", "2.50", ".5", "12"]
    for x in found:
        assert q[x.start : x.end] == x.text
    money, pct, books, price = found[:4]
    assert money.value == 1200 and money.grouped and money.currency and not money.percent
    assert pct.percent and not pct.currency
    assert price.decimals == 2 and price.value == Fraction(5, 2) and price.currency
    assert not books.currency and not books.percent


def test_substitute_writes_the_value_like_the_original() -> None:
    q = "Ann pays $1,200 for 3 chairs at 2.50 kg each, 40% off."
    money, chairs, weight, pct = find_quantities(q)
    assert (
        substitute(q, money, Fraction(7300))
        == "Ann pays $7,300 for 3 chairs at 2.50 kg each, 40% off."
    )
    assert (
        substitute(q, chairs, Fraction(8))
        == "Ann pays $1,200 for 8 chairs at 2.50 kg each, 40% off."
    )
    assert (
        substitute(q, weight, Fraction(37, 10))
        == "Ann pays $1,200 for 3 chairs at 3.70 kg each, 40% off."
    )
    assert (
        substitute(q, pct, Fraction(65)) == "Ann pays $1,200 for 3 chairs at 2.50 kg each, 65% off."
    )


def test_draw_value_keeps_the_class() -> None:
    q = "Buy 7 pens, 45 cups, 1,200 bricks, 2.50 kg, 0.75 l and 100% cotton."
    pens, cups, bricks, kg, litres, cotton = find_quantities(q)
    for i in range(60):
        rng = random.Random(i)
        p, c, b = draw_value(pens, rng), draw_value(cups, rng), draw_value(bricks, rng)
        k, li, pc = draw_value(kg, rng), draw_value(litres, rng), draw_value(cotton, rng)
        assert 1 <= p <= 9 and p != 7 and p.denominator == 1
        assert 10 <= c <= 99 and c != 45 and c.denominator == 1
        assert 1000 <= b <= 9900 and b % 100 == 0 and b != 1200  # round numbers stay round
        assert 1 <= k < 10 and k != Fraction(5, 2) and (k * 100).denominator == 1
        assert 0 < li < 1 and li != Fraction(3, 4)
        assert 0 < pc <= 100 and pc != 100
    assert draw_value(cups, random.Random(5)) == draw_value(cups, random.Random(5))
    assert draw_value(pens, random.Random(1), avoid=range(1, 9)) == 9


def test_evaluate_is_exact_and_refuses_what_it_cannot_read() -> None:
    assert evaluate("20% of 80") == 16
    assert evaluate("2^3 + (1 - 4) * 2") == 2
    assert evaluate("$2.50 x 4") == 10
    assert evaluate("10/3") == Fraction(10, 3)
    assert evaluate("3 + 11", {Fraction(3): Fraction(5)}) == 16
    for bad in ("2x + 3", "__import__('os')", "1/0", "(2 + 3", ""):
        with pytest.raises(ValueError):
            evaluate(bad)


# -- recomputing the answer -----------------------------------------------------------


def test_recompute_gsm8k_annotations() -> None:
    r = recompute_answer(GSM8K, "28", Fraction(3), Fraction(5))
    assert (r.value, r.depends, r.reason) == (32, True, None)
    r = recompute_answer(GSM8K, "28", Fraction(11), Fraction(20))
    assert r.value == 46
    # a quantity the chain does not use leaves the answer alone
    r = recompute_answer(GSM8K, "28", Fraction(9), Fraction(4))
    assert (r.value, r.depends) == (28, False)


def test_recompute_plain_claims_money_percent_and_then_style() -> None:
    text = (
        "Step 1: The discount is 25% of $1,200 = $300.\n"
        "Step 2: She pays 1,200 - 300 = 900 = 900 dollars.\n"
        "Step 3: Split 3 ways: 900 / 3 = 300 + 0 = 300.\n"
        "The answer is 300."
    )
    r = recompute_answer(text, "300", Fraction(1200), Fraction(2400))
    assert r.value == 600  # 25% of 2400 = 600; 2400 - 600 = 1800; 1800 / 3 = 600
    r = recompute_answer(text, "$300", Fraction(3), Fraction(4))
    assert r.value == 225
    assert format_number(Fraction(5, 2)) == "2.5" and format_number(Fraction(10, 3)) == "10/3"


def test_a_later_result_shadows_an_equal_quantity() -> None:
    # 12 is a question quantity, then also the result of 6 * 2: later uses of 12 follow the
    # claim, not the question.
    text = "6 * 2 = 12. 12 + 5 = 17."
    assert recompute_answer(text, "17", Fraction(12), Fraction(20)).value == 17
    assert recompute_answer(text, "17", Fraction(6), Fraction(7)).value == 19


@pytest.mark.parametrize(
    ("text", "answer", "reason"),
    [
        ("Step 1: He has 3 and 11 more.\nThe answer is 28.", "28", "no arithmetic claims"),
        ("3 + 11 = 14 apples, doubled.\nThe answer is 28.", "28", "does not reach"),
        ("3 / 11 = 0.27 and 0.27 * 100 = 27.\n27 + 1 = 28", "28", "could not be recomputed"),
        (GSM8K, "blue", "not a number"),
    ],
)
def test_recompute_says_why_it_cannot(text: str, answer: str, reason: str) -> None:
    r = recompute_answer(text, answer, Fraction(3), Fraction(5))
    assert r.value is None and r.reason is not None and reason in r.reason


# -- the probe's plan and request -----------------------------------------------------


def _trace(completion: str = GSM8K, answer: str = "28", **kw: Any) -> dict[str, Any]:
    return {
        "trace_id": "t1",
        "question": QUESTION,
        "prompt": json.dumps(
            [
                {"role": "system", "content": "Think step by step."},
                {"role": "user", "content": f"Solve:\n{QUESTION}\nEnd with the answer."},
            ]
        ),
        "completion": completion,
        "answer": answer,
        "choices": None,
        **kw,
    }


def test_plan_changes_one_used_quantity_deterministically() -> None:
    cfg = CounterfactualConfig()
    plans = [plan_change(_trace(trace_id=f"t{i}"), cfg) for i in range(30)]
    assert plan_change(_trace(), cfg) == plan_change(_trace(), cfg)
    changed_a = changed_b = 0
    for plan in plans:
        assert isinstance(plan, dict)
        a, b = (x.value for x in find_quantities(plan["question"]))
        old, _, new = plan["change"].partition(" -> ")
        assert (a, b) != (3, 11) and (a == 3 or b == 11)  # exactly one changed
        assert plan["question"] == QUESTION.replace(f" {old} ", f" {new} ", 1)
        assert plan["expected"] == str(2 * (a + b))
        changed_a += a != 3
        changed_b += b != 11
    assert changed_a and changed_b  # the seed picks either quantity


def test_plan_exact_for_seed_zero() -> None:
    plan = plan_change(_trace(), CounterfactualConfig(seed=0))
    assert isinstance(plan, dict)
    old, _, new = plan["change"].partition(" -> ")
    q = next(x for x in find_quantities(QUESTION) if x.text == old)
    assert plan["question"] == substitute(QUESTION, q, Fraction(new))
    a, b = (x.value for x in find_quantities(plan["question"]))
    assert plan["expected"] == str(2 * (a + b))


def test_plan_prefers_quantities_the_chain_uses() -> None:
    trace = _trace(
        completion="He buys 11 more: 3 + 11 = 14.\n14 * 2 = 28.",
        question="In 2024, Tom has 3 apples and buys 11 more, then doubles them.",
    )
    for i in range(10):
        plan = plan_change({**trace, "trace_id": f"t{i}"}, CounterfactualConfig())
        assert isinstance(plan, dict) and "2024" not in plan["change"]


def test_changed_messages_replace_the_question_only_in_user_messages() -> None:
    new = QUESTION.replace("3 apples", "5 apples")
    msgs = changed_messages(_trace()["prompt"], QUESTION, new)
    assert msgs[0] == {"role": "system", "content": "Think step by step."}
    assert msgs[1] == {"role": "user", "content": f"Solve:\n{new}\nEnd with the answer."}
    with pytest.raises(ValueError, match="not in the trace's prompt"):
        changed_messages(_trace()["prompt"], "another question", new)


@pytest.mark.parametrize(
    ("trace", "reason"),
    [
        (_trace("Step 1: Think.\nThe answer is 28."), "no arithmetic claims"),
        (_trace("3 + 11 = 14.\nThe answer is 28."), "does not reach"),
        (_trace(question="How many are left?"), "no numeric quantity"),
        (_trace(question="Tom has 3 cats and 3 dogs."), "more than once"),
        (_trace(choices=["A) 28", "B) 30"]), "multiple choice"),
        (_trace(prompt=json.dumps([{"role": "user", "content": "x"}])), "not in the trace's"),
    ],
)
def test_probe_skips_with_reason(trace: dict[str, Any], reason: str) -> None:
    out = asyncio.run(CounterfactualProbe().run(trace, None, CounterfactualConfig()))  # type: ignore[arg-type]
    assert reason in out["counterfactual_skipped"]
    assert all(out[f"counterfactual_{c}"] is None for c in CounterfactualProbe.columns)


def test_config_rejects() -> None:
    with pytest.raises(ConfigError, match=r"probes\.counterfactual\.draws"):
        make_config("counterfactual", {"draws": 0})


# -- the fake model's ground truth ----------------------------------------------------


def test_fake_model_answers_a_changed_question_by_mode() -> None:
    assert rerun_solution(GSM8K, "28", {Fraction(3): Fraction(5)}) == "32"
    assert rerun_solution("", "28", {Fraction(3): Fraction(5)}) == "28"
    book = AnswerBook([(QUESTION, GSM8K)])
    changed = QUESTION.replace("11 more", "20 more")
    replies = {
        mode: FakeModel(book, reasoning_mode=mode)
        .chat("p", f"Solve: {changed}", seed=0, temperature=0.0, sample=0, max_tokens=None, stop=[])
        .text
        for mode in ("faithful", "posthoc")
    }
    assert replies["faithful"].endswith("The answer is 46.")
    assert replies["posthoc"].endswith("The answer is 28.")


# -- end to end through the shipped server -------------------------------------------

N = 6


def _ab(i: int) -> tuple[int, int]:
    return i + 3, i + 11


def _problems() -> list[dict[str, Any]]:
    return word_problems(
        N,
        lambda i: (
            f"Tom has {_ab(i)[0]} apples and buys {_ab(i)[1]} more, then doubles them. "
            f"How many apples does he have? (#{i})"
        ),
        lambda i: 2 * sum(_ab(i)),
    )


def _solution(i: int) -> str:
    a, b = _ab(i)
    return (
        f"He has {a}+{b}=<<{a}+{b}={a + b}>>{a + b} apples.\n"
        f"Doubling gives {a + b}*2=<<{a + b}*2={2 * (a + b)}>>{2 * (a + b)}.\n"
        f"#### {2 * (a + b)}"
    )


def _claim_traces(sampled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sampled traces with the GSM8K solution as their rationale (the server's own
    chains hold no arithmetic claims)."""
    out = [
        {**t, "trace_id": stable_hash(t["trace_id"], "claims"), "completion": _solution(i)}
        for i, t in enumerate(sampled)
    ]
    return stages.verify(out)


def _run(tmp_path: Path, mode: str) -> list[dict[str, Any]]:
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(
            json.dumps({"question": p["question"], "answer": _solution(i)}) + "\n"
            for i, p in enumerate(_problems())
        )
    )
    with start_test_server(answers=answers, reasoning_mode=mode) as (url, stats):
        cache = tmp_path / "cache.sqlite"
        run = sample_then_probe(
            url, cache, _problems(), ["counterfactual"], (["counterfactual"], _claim_traces)
        )
        probed = asyncio.run(run)
        calls = stats()["ok"]
        again = asyncio.run(
            sample_then_probe(
                url, cache, _problems(), ["counterfactual"], (["counterfactual"], _claim_traces)
            )
        )
        assert stats()["ok"] == calls  # resumed from the cache: no new server call
        cols = [{k: v for k, v in r.items() if k.startswith("counterfactual_")} for r in probed]
        assert cols == [
            {k: v for k, v in r.items() if k.startswith("counterfactual_")} for r in again
        ]
    return probed


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return {m: _run(tmp_path_factory.mktemp(m), m) for m in ("faithful", "posthoc")}


def test_server_chains_without_claims_are_skipped(
    results: dict[str, list[dict[str, Any]]],
) -> None:
    for rows in results.values():
        assert all("no arithmetic claims" in r["counterfactual_skipped"] for r in rows[:N])


def test_counterfactual_separates_modes(results: dict[str, list[dict[str, Any]]]) -> None:
    faithful, posthoc = results["faithful"][N:], results["posthoc"][N:]
    assert len(faithful) == len(posthoc) == N
    assert [r["counterfactual_followed"] for r in faithful] == [True] * N
    assert [r["counterfactual_changed"] for r in faithful] == [True] * N
    assert [r["counterfactual_followed"] for r in posthoc] == [False] * N
    assert [r["counterfactual_changed"] for r in posthoc] == [False] * N
    for r in faithful:
        a, b = (x.value for x in find_quantities(r["counterfactual_question"])[:2])
        assert r["counterfactual_expected"] == r["counterfactual_answer"] == str(2 * (a + b))
