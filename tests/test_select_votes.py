"""Reference-free acceptance needs real evidence: ``min_votes`` answers and a strict majority.

Records run through the real ``consensus`` and ``select`` stages (no mocks); hypothesis
varies the answers so the rule is checked on every mixture, not on one hand-picked case.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracemint import stages
from tracemint.config import SelectConfig


def _group(answers: list[str | None], reference: str | None = None) -> list[dict]:
    return [
        {
            "problem_id": "p",
            "question": "What is 1+1?",
            "reference": reference,
            "trace_id": f"t{i}",
            "sample_index": i,
            "completion": f"The answer is {a}." if a is not None else "I am not sure.",
            "answer": a,
            "verdict": "unverifiable",
            "verdict_reason": "no reference",
            "truncated": False,
            "first_wrong_step": None,
        }
        for i, a in enumerate(answers)
    ]


def _select(answers: list[str | None], **cfg: object) -> list[dict]:
    return stages.select(stages.consensus(_group(answers)), SelectConfig(**cfg))  # type: ignore[arg-type]


def test_one_sample_is_not_a_majority() -> None:
    (t,) = _select(["158"])
    assert not t["accepted"]
    assert t["drop_reason"] == "too few votes for a majority (1 < min_votes 3)"


def test_min_votes_is_configurable() -> None:
    assert [t["accepted"] for t in _select(["158"], min_votes=1)] == [True]
    assert not any(t["accepted"] for t in _select(["4", "4"]))
    assert [t["accepted"] for t in _select(["4", "4"], min_votes=2)] == [True, True]


def test_a_tie_is_not_a_strict_majority() -> None:
    out = _select(["2", "3", "2", "3"])
    assert not any(t["accepted"] for t in out)
    assert out[0]["drop_reason"] == "no strict majority (agreement 0.50)"
    assert out[1]["drop_reason"] == "disagrees with majority"


def test_missing_answers_count_against_the_majority() -> None:
    # 2 of 5 samples say "2", the rest found no answer: 3 votes would be too few anyway,
    # and 0.4 is no majority
    out = _select(["2", "2", None, None, None], min_votes=2)
    assert not any(t["accepted"] for t in out)
    assert out[0]["drop_reason"] == "no strict majority (agreement 0.40)"


def test_with_a_reference_the_reference_decides() -> None:
    group = _group(["2"], reference="2")
    group[0]["verdict"] = "correct"
    (t,) = stages.select(stages.consensus(group), SelectConfig())
    assert t["accepted"]  # graded against a reference: one sample is enough


@settings(max_examples=150, deadline=None)
@given(
    answers=st.lists(st.sampled_from(["1", "2", "3", None]), min_size=1, max_size=8),
    min_votes=st.integers(1, 5),
    keep=st.sampled_from(["correct", "majority"]),
)
def test_accepted_only_with_enough_votes_and_a_strict_majority(
    answers: list[str | None], min_votes: int, keep: str
) -> None:
    out = _select(answers, min_votes=min_votes, keep=keep)
    votes = sum(a is not None for a in answers)
    for t in out:
        if t["accepted"]:
            same = sum(a == t["answer"] for a in answers)
            assert votes >= min_votes
            assert same * 2 > len(answers)  # strict majority over all samples
        else:
            assert t["drop_reason"]  # nothing is dropped without a reason
