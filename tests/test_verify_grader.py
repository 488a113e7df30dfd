"""The public grader: contracts, real data, time bounds, thread safety, self-consistency."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tracemint.verify import VERIFIER_VERSION, Verdict, grade, majority_vote

DATA = Path(__file__).parent / "data"
AQUA_CHOICES = ["A)5(√3 + 1)", "B)6(√3 + √2)", "C)7(√3 – 1)", "D)8(√3 – 2)", "E)None of these"]


def _gsm8k() -> list[dict[str, str]]:
    lines = (DATA / "verify_gsm8k_test_300.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_gsm8k_reference_solutions_grade_correct_against_themselves() -> None:
    rows = _gsm8k()
    assert len(rows) == 300
    verdicts = [grade(r["answer"], r["answer"]) for r in rows]
    assert [v.verdict for v in verdicts] == ["correct"] * 300
    assert all(v.answer == v.reference_answer for v in verdicts)


def test_gsm8k_final_answer_changed_by_one_is_wrong() -> None:
    for row in _gsm8k()[:50]:
        body, final = row["answer"].rsplit("####", 1)
        wrong = int(final.strip().replace(",", "")) + 1
        assert grade(f"{body}#### {wrong}", row["answer"]).verdict == "wrong"


def test_verdict_contract() -> None:
    v = grade("The answer is 18.", "18")
    assert v == Verdict("correct", "18", "18", None)
    assert VERIFIER_VERSION == "2"
    with pytest.raises(AttributeError):
        v.verdict = "wrong"  # type: ignore[misc]


def test_no_reference_and_truncated_still_extract() -> None:
    assert grade("The answer is 18.", None) == Verdict("unverifiable", "18", None, "no reference")
    assert grade("The answer is 18.", "") == Verdict("unverifiable", "18", None, "no reference")
    assert grade("The answer is 18.", "18", truncated=True) == Verdict(
        "unverifiable", "18", "18", "truncated"
    )
    assert grade("Let me think step", "18", truncated=True).reason == "truncated"


def test_wrong_and_unverifiable_reasons() -> None:
    assert grade("The answer is 17.", "18").verdict == "wrong"
    assert grade("I cannot solve this.", "18") == Verdict(
        "unverifiable", None, "18", "no answer found"
    )
    assert grade("we get 17 apples", "18").reason == "answer found by last-number fallback"
    assert grade("The answer is 5 cm", "5 m").reason == "different units"


def test_multiple_choice() -> None:
    assert grade("The answer is (A).", "A", choices=AQUA_CHOICES).verdict == "correct"
    assert grade("\\boxed{5(\\sqrt{3}+1)}", "A", choices=AQUA_CHOICES).verdict == "correct"
    assert grade("The answer is (B).", "A", choices=AQUA_CHOICES).verdict == "wrong"
    assert grade("The answer is 42", "A", choices=AQUA_CHOICES).reason == "not one of the choices"
    assert grade("It is (A) or (B)", "A", choices=AQUA_CHOICES).verdict != "correct"


def test_boolean_reference_uses_boolean_fallback() -> None:
    assert grade("No, he cannot afford 5 more.", "No").verdict == "correct"
    assert grade("Yes, because 3 < 4.", "no").verdict == "wrong"


PATHOLOGICAL = [
    "\\boxed{2^{2^{2^{2^{2^{10}}}}}}",
    "\\boxed{1000000!}",
    "\\boxed{10^{10^{10}}}",
    "\\boxed{(10^{1000})!}",
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{e^{e^{e^{e^{10}}}}}",
    "\\boxed{\\binom{100000}{50000}}",
    "\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}",
    "\\boxed{" + "+".join(["x^{50}"] * 80) + "}",
    "The answer is " + "9" * 100_000,
    "\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}",
    "\\boxed{" + "1+" * 40_000 + "1}",
]


@pytest.mark.parametrize("completion", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_pathological_inputs_return_quickly_unverifiable(completion: str) -> None:
    start = time.monotonic()
    result = grade(completion, "5")
    assert time.monotonic() - start < 5.0
    assert result.verdict == "unverifiable", result


def test_huge_completion_with_answer_at_end_is_fast() -> None:
    text = "Let me think. " * 8_000 + "The answer is 18."
    start = time.monotonic()
    assert grade(text, "18").verdict == "correct"
    assert time.monotonic() - start < 5.0


def test_grading_from_threads_matches_sequential() -> None:
    rows = _gsm8k()[:60]
    latex = json.loads((DATA / "verify_latex_cases.json").read_text())["equivalent"]
    pairs = [(r["answer"], r["answer"]) for r in rows]
    pairs += [(f"\\boxed{{{a}}}", b) for a, b in latex]
    pairs += [(f"\\boxed{{{a}}}", f"-({b})") for a, b in latex[:20]]
    pairs += [(c, "5") for c in PATHOLOGICAL[:7]]
    sequential = [grade(c, r) for c, r in pairs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(2):
            assert list(pool.map(lambda p: grade(*p), pairs)) == sequential


def test_majority_vote() -> None:
    assert majority_vote([]) == (None, 0.0)
    assert majority_vote([None, None]) == (None, 0.0)
    assert majority_vote(["1/2", "0.5", None, "3", "\\frac12"]) == ("1/2", 0.6)
    assert majority_vote(["3", "4"]) == ("3", 0.5)  # ties: first seen
    assert majority_vote(["$1,200", "1200", "1300"]) == ("$1,200", pytest.approx(2 / 3))
    assert majority_vote(["0.333", "1/3"]) == ("0.333", 0.5)  # undecidable never merges
