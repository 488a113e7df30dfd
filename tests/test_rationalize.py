"""STaR's rationalization (issue 19): a problem no sample solved gets one hinted round.

Against the shipped test server: its fake model with ``accuracy = 0`` never solves a
problem by plain sampling, and the answer book's per-question ``hint_mode`` decides what it
does with the rationalize prompt's hint line ("I think the answer is X"): ``follow`` writes
an honest-looking rationale reaching X, ``follow-mention`` one that cites it ("As you
suggested, ..."), which the leakage check must reject. Then the leakage check itself as an
attack surface (hypothesis): citing phrasings are caught, honest derivations that restate
their result at the end are not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest_server import server_recipe, start_test_server
from tracemint import plugins
from tracemint.config import load_recipe, parse_recipe
from tracemint.errors import ConfigError
from tracemint.export import export_run
from tracemint.report.strategies import read_strategy_stats, strategies_html, strategy_stats
from tracemint.runner.local import LocalRunner
from tracemint.runner.manifest import recipe_fingerprint
from tracemint.store import RunStore
from tracemint.verify.leakage import find_leak

N = 6
HINT_LINE = "I think the answer is"  # the rationalize template's hint wording


def _problems(path: Path, hint_mode: str | None, n: int = N) -> Path:
    """Apples problems (answer 2i + 3) whose answer-book rows set the model's hint mode."""
    with open(path, "w") as f:
        for i in range(n):
            q = f"Tom has {i} apples and buys {i + 3} more. How many apples does he have now?"
            row: dict[str, Any] = {
                "id": f"q{i}",
                "question": f"{q} (#{i})",
                "answer": str(2 * i + 3),
            }
            if hint_mode:
                row["hint_mode"] = hint_mode
            f.write(json.dumps(row) + "\n")
    return path


def _run(
    tmp_path: Path, url: str, problems: Path, name: str, **budget: Any
) -> list[dict[str, Any]]:
    recipe = server_recipe(
        tmp_path / f"{name}.toml",
        base_url=url,
        problems=problems,
        name=name,
        teacher={"concurrency": 8},
        sampling={"temperature": 0.7, "max_tokens": 200},
        budget={"k_verified": 1, "max_samples": 8, "round_size": 4, **budget},
        export={"formats": list(plugins.exporters.names())},
        run={"workers": 1},
    )
    LocalRunner(load_recipe(recipe), progress=False).run()
    return RunStore(tmp_path / "runs" / name).read_traces().to_pylist()


def test_unsolved_problems_get_a_verified_rationalization(tmp_path: Path) -> None:
    problems = _problems(tmp_path / "p.jsonl", "follow")
    with start_test_server(answers=problems, accuracy=0.0) as (url, stats):
        rows = _run(tmp_path, url, problems, "on", rationalize=True)
        calls = len(stats()["by_key"])
    assert calls == N * 8  # the same call budget as without: 4 plain + 4 rationalize
    for i in range(N):
        mine = [r for r in rows if r["problem_id"] == f"q{i}"]
        plain = [r for r in mine if r["strategy"] == "cot"]
        hinted = [r for r in mine if r["strategy"] == "rationalize"]
        assert len(plain) == 4 and len(hinted) == 4
        assert all(r["verdict"] == "wrong" and not r["accepted"] for r in plain)
        assert all(r["round"] == 1 and HINT_LINE in r["prompt"] for r in hinted)
        assert all(r["verdict"] == "correct" and r["accepted"] for r in hinted)
        assert all(r["hint_leak"] is None and r["first_wrong_step"] is None for r in hinted)
        # the difficulty estimate is the unhinted one: nothing was solved without the hint
        assert {r["pass_rate"] for r in mine} == {0.0}
    stats = read_strategy_stats(RunStore(tmp_path / "runs" / "on"))
    assert stats["strategies"]["cot"] == {"calls": N * 4, "verified": 0, "yield": 0.0, "leaking": 0}
    assert stats["strategies"]["rationalize"]["yield"] == 1.0
    assert stats["by_difficulty"]["all"]["rescued_of_rationalized"] == 1.0
    assert "<h2>Strategies</h2>" in strategies_html(stats)
    from tracemint.report import build_report  # the run's own report carries the section

    page = build_report(tmp_path / "runs" / "on").read_text()
    assert "<h2>Strategies</h2>" in page and "rescued / rationalized" in page


def test_a_leaking_rationalization_is_rejected_with_its_reason(tmp_path: Path) -> None:
    problems = _problems(tmp_path / "p.jsonl", "follow-mention")
    with start_test_server(answers=problems, accuracy=0.0) as (url, _):
        rows = _run(tmp_path, url, problems, "leak", rationalize=True)
    hinted = [r for r in rows if r["strategy"] == "rationalize"]
    assert len(hinted) == N * 4
    for r in hinted:
        assert r["verdict"] == "correct"  # the answer is right ...
        assert "you suggested" in r["hint_leak"]  # ... but the rationale cites the hint
        assert not r["accepted"]
        assert r["drop_reason"] == "hint leakage: cites the given answer"
    manifest = json.loads((tmp_path / "runs" / "leak" / "manifest.json").read_text())
    assert manifest["counts"]["accepted"] == 0


def test_rationalize_false_changes_nothing(tmp_path: Path) -> None:
    problems = _problems(tmp_path / "p.jsonl", "follow")
    with start_test_server(answers=problems, accuracy=0.3) as (url, _):
        before = _run(tmp_path, url, problems, "before")
        off = _run(tmp_path, url, problems, "off", rationalize=False)
        on = _run(tmp_path, url, problems, "on", rationalize=True)

    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        cols = ("trace_id", "completion", "verdict", "accepted", "drop_reason", "pass_rate")
        return sorted(tuple(r[c] for c in cols) for r in rows)

    assert key(before) == key(off)
    assert {r["strategy"] for r in off} == {"cot"}
    assert "hint_leak" not in before[0]
    # with it, a problem spends at most max_samples calls; solved ones get no hint
    for i in range(N):
        mine = [r for r in on if r["problem_id"] == f"q{i}"]
        assert len(mine) <= 8
        if any(r["verdict"] == "correct" for r in mine if r["strategy"] == "cot"):
            assert {r["strategy"] for r in mine} == {"cot"}


def test_fingerprint_is_unchanged_when_off() -> None:
    data: dict[str, Any] = {
        "name": "fp",
        "source": {"type": "file", "path": "p.jsonl"},
        "teacher": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
        "budget": {"k_verified": 1, "max_samples": 8},
    }
    # computed by runner/manifest.py before the key existed: existing runs keep theirs
    assert recipe_fingerprint(parse_recipe(data)) == "f70a9b33b9fa7cb6"
    off = {**data, "budget": {**data["budget"], "rationalize": False}}
    assert recipe_fingerprint(parse_recipe(off)) == "f70a9b33b9fa7cb6"
    on = {**data, "budget": {**data["budget"], "rationalize": True}}
    assert recipe_fingerprint(parse_recipe(on)) != "f70a9b33b9fa7cb6"
    # select.reject_mc_errors (issue 20) likewise: off keeps the fingerprint, on changes it
    plain = {**data, "select": {"reject_mc_errors": False}}
    assert recipe_fingerprint(parse_recipe(plain)) == "f70a9b33b9fa7cb6"
    mc = {**data, "montecarlo": {"enabled": True}, "select": {"reject_mc_errors": True}}
    with_labels = {**data, "montecarlo": {"enabled": True}}
    assert recipe_fingerprint(parse_recipe(mc)) != recipe_fingerprint(parse_recipe(with_labels))


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"rationalize": True}, "k_verified"),
        ({"rationalize": True, "k_verified": 1, "max_samples": 1}, "max_samples"),
    ],
)
def test_rationalize_needs_a_rejection_budget(budget: dict[str, Any], message: str) -> None:
    data = {
        "name": "x",
        "source": {"type": "file", "path": "p.jsonl"},
        "teacher": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
        "budget": budget,
    }
    with pytest.raises(ConfigError, match=message):
        parse_recipe(data)


def test_no_export_contains_the_hint(tmp_path: Path) -> None:
    problems = _problems(tmp_path / "p.jsonl", "follow")
    with start_test_server(answers=problems, accuracy=0.3) as (url, _):
        rows = _run(tmp_path, url, problems, "exp", rationalize=True)
    hinted = [r for r in rows if r["strategy"] == "rationalize" and r["accepted"]]
    assert hinted  # the hint really was in some accepted trace's prompt
    hint_lines = {
        line.strip()
        for r in hinted
        for m in json.loads(r["prompt"])
        for line in m["content"].splitlines()
        if HINT_LINE in line
    }
    assert hint_lines
    run = tmp_path / "runs" / "exp"
    out = export_run(run, list(plugins.exporters.names()), tmp_path / "export", ("jsonl",))
    assert set(out) == set(plugins.exporters.names())
    exported_rationalized = 0
    for fmt, result in out.items():
        for path in result["files"]:
            text = Path(path).read_text()
            assert HINT_LINE not in text, fmt
            assert "answer key" not in text, fmt
            assert not any(h in text for h in hint_lines), fmt
            exported_rationalized += text.count('"strategy": "rationalize"')
    assert exported_rationalized > 0  # the rationalized traces were exported, hint-free


def test_strategy_stats_by_difficulty() -> None:
    def t(pid: str, level: str, strategy: str, verdict: str, leak: str | None = None) -> Any:
        meta = json.dumps({"difficulty": level})
        return {
            "problem_id": pid,
            "metadata": meta,
            "strategy": strategy,
            "verdict": verdict,
            "first_wrong_step": None,
            "hint_leak": leak,
        }

    rows = [
        t("a", "easy", "cot", "correct"),
        t("b", "hard", "cot", "wrong"),
        t("b", "hard", "rationalize", "correct"),
        t("c", "hard", "cot", "wrong"),
        t("c", "hard", "rationalize", "correct", leak="cites the given answer"),
    ]
    s = strategy_stats(rows)
    assert s["strategies"]["rationalize"] == {"calls": 2, "verified": 1, "yield": 0.5, "leaking": 1}
    hard = s["by_difficulty"]["hard"]
    assert (hard["problems"], hard["rationalized"], hard["rescued"]) == (2, 2, 1)
    assert hard["rescued_of_rationalized"] == 0.5
    assert s["by_difficulty"]["easy"]["rescued_of_problems"] == 0.0
    assert s["by_difficulty"]["all"]["with_verified"] == 2
    assert strategies_html(strategy_stats(rows[:1])) == ""  # one strategy: no section


# -- the leakage check as an attack surface ------------------------------------------------

_CITING = [
    "the answer is given as {v}",
    "since we know the answer is {v}",
    "we are told the answer is {v}",
    "We were told that the answer is {v}",
    "I've been told the final answer is {v}",
    "we already know that the answer is {v}",
    "the given answer is {v}",
    "the expected answer is {v}",
    "using the reference answer {v}",
    "the answer provided is {v}",
    "as you suggested, the answer is {v}",
    "you said it is {v}",
    "as the hint says, {v}",
    "the answer key says {v}",
    "working backwards from {v}",
    "the problem says the answer is {v}",
    "we need to show that the answer is {v}",
    "let us verify that the answer is {v}",
    "the answer we were given is {v}",
    "the target answer of {v}",
]
_ENDINGS = [
    "The answer is {v}.",
    "So the answer is {v}.",
    "Therefore, he has {v} in total.",
    "The final answer is {v}.",
    "That gives {v}, which is the answer.",
    "So the correct answer is {v}.",
    "As a result, the total is {v}.",
]
_case = st.sampled_from([str, str.lower, str.upper, str.capitalize])


def _derivation(a: int, b: int, ending: str) -> str:
    """An honest derivation: restate, compute from the question's numbers, conclude."""
    return (
        f"Step 1: We are given {a} apples and {b} more are bought.\n"
        f"Step 2: We know that Tom has {a} apples, so we add: {a} + {b} = {a + b}.\n"
        f"Step 3: {ending.format(v=a + b)}"
    )


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(1, 10_000),
    b=st.integers(1, 10_000),
    phrase=st.sampled_from(_CITING),
    case=_case,
    where=st.sampled_from(["first", "middle", "last"]),
    ending=st.sampled_from(_ENDINGS),
)
def test_citing_the_hint_is_rejected(
    a: int, b: int, phrase: str, case: Any, where: str, ending: str
) -> None:
    total = a + b
    question = f"Tom has {a} apples and buys {b} more. How many apples does he have?"
    steps = _derivation(a, b, ending).splitlines()
    cite = case(phrase.format(v=f"{total:,}" if total > 999 else total)).strip() + "."
    at = {"first": 0, "middle": 1, "last": 2}[where]
    steps[at] = f"{steps[at]} {cite}" if where != "first" else f"Step 1: {cite} {steps[0][8:]}"
    assert find_leak("\n".join(steps), str(total), question) is not None


@settings(max_examples=200, deadline=None)
@given(a=st.integers(1, 10_000), b=st.integers(1, 10_000), ending=st.sampled_from(_ENDINGS))
def test_honest_derivations_restating_the_result_pass(a: int, b: int, ending: str) -> None:
    question = f"Tom has {a} apples and buys {b} more. How many apples does he have?"
    text = _derivation(a, b, ending)
    assert find_leak(text, str(a + b), question) is None


@settings(max_examples=100, deadline=None)
@given(a=st.integers(1, 10_000), b=st.integers(1, 10_000), spelled=st.booleans())
def test_the_bare_value_in_the_first_step_is_rejected(a: int, b: int, spelled: bool) -> None:
    total = a + b
    question = f"Tom has {a} apples and buys {b} more. How many apples does he have?"
    value = f"{total:,}.0" if spelled else str(total)
    text = f"Step 1: He ends up with {value} apples.\nStep 2: {a} + {b} = {total}.\n"
    text += f"The answer is {total}."
    why = find_leak(text, str(total), question)
    assert why is not None and "before deriving" in why


def test_a_value_the_question_contains_may_open_the_rationale() -> None:
    question = "Tom has 9 apples and eats none. How many apples does he have?"
    text = "Step 1: Tom has 9 apples.\nStep 2: He eats 0, so 9 - 0 = 9.\nThe answer is 9."
    assert find_leak(text, "9", question) is None
    assert find_leak("So 9 - 0 = 9 apples are left.", "9", question) is None
    # but called the answer before anything is derived, it is a citation of the hint
    assert find_leak("The answer is 9.", "9", question) is not None
    assert find_leak("Step 1: The answer is 9.\nStep 2: He has 9 - 0 = 9.", "9", question)


@pytest.mark.parametrize(
    "reply",
    [  # the embedded model (SmolLM2-135M) shown "I think the answer is 46"
        "1. The answer is 46.\n2. The answer is 48.",
        "To solve this problem, break it down.\n\nStep 1: The answer is 46.\n\nStep 2: 49.",
        "The answer is 46.\n\nHere's the step-by-step solution:\nThe answer is 46.",
        "The answer is 46.",
        "Answer: 46\nBecause 40 + 6 = 46.",
    ],
)
def test_the_answer_up_front_is_rejected(reply: str) -> None:
    question = "There were 46 apples on the tree and 3 fell. How many are left on the tree?"
    assert find_leak(reply, "46", question) is not None


def test_a_one_line_derivation_passes() -> None:
    question = "Tom has 3 apples and buys 6 more. How many apples does he have?"
    assert find_leak("He has 3 + 6 = 9 apples, so the answer is 9.", "9", question) is None
    # the answer line is the conclusion even when nothing before it holds a number
    reply = "Step 1: Restate what is asked: how many apples.\nThe answer is 9."
    assert find_leak(reply, "9", question) is None


@pytest.mark.parametrize("marker", ["Step 1:", "1.", "(1)", "1)", "STEP 1 -"])
def test_a_step_number_is_not_the_value(marker: str) -> None:
    question = "3 birds sat on the fence. 2 more came. How many more birds came than sat?"
    first = f"{marker} There were 3 birds and 2 more came."
    assert find_leak(f"{first}\n3 - 2 = 1.\nThe answer is 1.", "1", question) is None
    assert find_leak(f"{marker} It is 1.\n3 - 2 = 1.\nThe answer is 1.", "1", question)


def test_option_letters() -> None:
    q = "Which is larger? A) 1 B) 2"
    assert find_leak("Step 1: Option B is right.\nStep 2: 2 > 1.\nThe answer is (B).", "B", q)
    assert find_leak("Step 1: Compare 1 and 2.\nStep 2: 2 > 1.\nThe answer is (B).", "B", q) is None
