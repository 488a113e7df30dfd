"""Every registered verifier keeps the Verifier contract (tracemint.verify.base).

Verifiers come from the registry, so a new one is covered without editing this test:
given a batch of gold, wrong, hedged and conflicting rationales (plain problems and
generated ones), it writes its documented columns on every record, never marks a hedged
or conflicting answer correct, keeps every input column, does not mutate its input, keeps
order, and takes an empty batch.
"""

from __future__ import annotations

import copy

import pytest

from tracemint import plugins
from tracemint.records import ALL_FIELDS, VERDICTS, Record
from tracemint.synth.base import create_family, generate
from tracemint.synth.records import problem_record
from tracemint.verify.base import Verifier


def _batch() -> list[Record]:
    """(kind, record) rows: kind in gold | wrong | hedged | conflicting."""
    plain = {
        "problem_id": "p1",
        "question": "Tom has 2 apples and buys 3 more. How many apples does he have?",
        "reference": "5",
        "choices": None,
        "source": "test",
        "source_index": 0,
        "metadata": None,
    }
    family = create_family("modular", {"max_modulus": 7})
    item = next(iter(generate(family, 1, seed=3)))
    generated = problem_record(family, item, 0, 3)
    other = str(int(item.answer) + 1)
    rows: list[Record] = []
    for problem, right, wrong in ((plain, "5", "6"), (generated, item.answer, other)):
        texts = {
            "gold": f"2 + 3 = 5\nThe answer is {right}.",
            "wrong": f"The answer is {wrong}.",
            "hedged": f"The answer is {right}, or maybe {wrong}.",
            "conflicting": f"The answer is {right}. Final answer: {wrong}.",
        }
        for kind, text in texts.items():
            rows.append(
                {
                    **problem,
                    "trace_id": f"{problem['problem_id']}-{kind}",
                    "kind": kind,  # an extra input column: must survive
                    "completion": text,
                    "truncated": False,
                }
            )
    return rows


def _verifier(name: str) -> Verifier:
    verifier: Verifier = plugins.verifiers.get(name)()
    return verifier


def test_the_built_in_verifiers_are_registered() -> None:
    assert {"answer", "family", "steps"} <= set(plugins.verifiers.names())


@pytest.mark.parametrize("name", plugins.verifiers.names())
def test_verifier_contract(name: str) -> None:
    verifier = _verifier(name)
    assert verifier.name == name
    assert verifier.columns, "a verifier documents the columns it writes"
    assert set(verifier.columns) <= ALL_FIELDS.keys(), "columns of the record schema only"
    batch = _batch()
    before = copy.deepcopy(batch)
    out = verifier.verify(batch)
    assert batch == before, "input records are not mutated"
    assert [r["trace_id"] for r in out] == [r["trace_id"] for r in batch]
    for given, got in zip(batch, out, strict=True):
        for key, value in given.items():
            if key not in verifier.columns:
                assert got[key] == value, f"{name} changed input column {key!r}"
        assert set(verifier.columns) <= got.keys()
        assert set(got) - set(given) <= set(verifier.columns), "only documented columns"
        if "verdict" in verifier.columns:
            assert got["verdict"] in VERDICTS
            if given["kind"] in ("hedged", "conflicting", "wrong"):
                assert got["verdict"] != "correct", (given["completion"], got)
            if given["kind"] in ("hedged", "conflicting"):
                assert got["verdict"] == "unverifiable" and got["verdict_reason"]
    assert verifier.verify([]) == []


def test_answer_judges_every_gold_and_family_only_generated_ones() -> None:
    batch = _batch()
    answer = {r["trace_id"]: r for r in _verifier("answer").verify(batch)}
    family = {r["trace_id"]: r for r in _verifier("family").verify(batch)}
    assert answer["p1-gold"]["verdict"] == "correct"
    generated = next(k for k in family if not k.startswith("p1") and k.endswith("-gold"))
    assert answer[generated]["verdict"] == family[generated]["verdict"] == "correct"
    assert family["p1-gold"]["verdict"] == "unverifiable"
    assert family["p1-gold"]["verdict_reason"] == "not a generated problem"


def test_steps_finds_no_wrong_step_in_gold_and_writes_no_verdict() -> None:
    [gold] = [r for r in _verifier("steps").verify(_batch()) if r["trace_id"] == "p1-gold"]
    assert gold["n_claims_checked"] == 1 and gold["first_wrong_step"] is None
    assert "verdict" not in gold


def test_a_datasets_own_family_field_is_not_taken_for_a_generator() -> None:
    from tracemint.verify.answers import answer_verifier_name, verify_answers

    [plain] = [r for r in _batch() if r["trace_id"] == "p1-gold"]
    smith = {**plain, "metadata": '{"family": "Smith", "note": "\\"family\\" in text"}'}
    assert answer_verifier_name(smith) == "answer"
    assert verify_answers([smith])[0]["verdict"] == "correct"
    generated = next(r for r in _batch() if r["kind"] == "gold" and r["metadata"])
    assert answer_verifier_name(generated) == "family"
