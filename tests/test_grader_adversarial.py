"""Issue 14, "verified means verified": an adversarial corpus against the answer reader.

Two promises, checked against the generic grader and against every registered family
through the pipeline's own path (grader, then family check; ``family_cases.judge``):

* **no hack is accepted**: a right answer followed by a hedge, a retraction, a second
  value, a conflicting second answer, a candidate list, an approximation or an echo of the
  question is never ``correct``;
* **no gold answer is rejected**: the right answer in every documented form (bare, "The
  answer is X.", ``\\boxed{X}``, "#### X", bold, a unit, a full stop, a closing sentence
  with no value, digits of another script) is always ``correct``.

The classes are closed by construction (every separator x every hedge/retraction phrase x
every form), and hypothesis draws the values, separators and filler; the families come
from the registry, so a new family is covered without editing this file.
"""

from __future__ import annotations

import itertools
import re
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from family_cases import configs, items, judge, label
from tracemint.synth.base import Family, Item
from tracemint.verify import Verdict, grade

# -- generic grader: hand-written classes ------------------------------------------------

GOLD_FORMS = [
    "{x}",
    "The answer is {x}.",
    "The answer is {x}",
    "the answer is: {x}",
    "The final answer is {x}.",
    "The final answer is $\\boxed{{{x}}}$.",
    "\\boxed{{{x}}}",
    "$\\boxed{{{x}}}$",
    "#### {x}",
    "Step 1: compute.\n#### {x}",
    "Answer: {x}",
    "**Answer:** {x}",
    "**{x}**",
    "The answer is **{x}**.",
    "**The answer is {x}.**",
    "The answer is {x} apples.",
    "The answer is ${x}.",
    "The answer is {x} dollars.",
    "The answer is {x}%.",
    "The answer is {x}. I hope this helps!",
    "The answer is {x}. Hope that helps.",
    "The answer is {x}. Let me know if you have any questions.",
    "Final Answer: The final answer is ${x}$. I hope it is correct.",
    "The answer is {x}, which is the total.",
    "The answer is {x}.\nThe answer is {x}.",
    "So we get \\boxed{{{x}}}. The answer is {x}.",
    "The answer is {x}.\n\n**Final answer:** {x}",
    "We add them up to get {x} apples.",
    "The answer is {x} (apples).",
    "<answer>{x}</answer>",
    "Therefore, the final answer is $\\boxed{{{x}}}$.",
    "**Final Answer**\n\n\\boxed{{{x}}}",
    "The answer is ${x}$ dollars.",
    "The answer is {x}. (This is the final answer.)",
    "The answer is {x}, as computed above.",
    "The final answer is {x} dollars. I hope it is correct.",
    '{{"answer": {x}}}',
    "(The answer is {x})",
    "[Answer: {x}]",
]

SEPARATORS = [",", ".", "\n", "\n\n", ";", " -", " --", " —", " (", ":", "", " ...", "!"]
HEDGES = [
    "or maybe {y}",
    "or {y}",
    "maybe {y}",
    "possibly {y}",
    "perhaps {y}",
    "probably {y}",
    "though it could be {y}",
    "but it might be {y}",
    "because it might be {y}",
    "if not {y}",
    "unless it is {y}",
    "although {y} is possible",
    "but {y} is also possible",
    "alternatively {y}",
    "or else {y}",
    "either that or {y}",
    "not {y}",
    "vs {y}",
    "{y} is also an option",
    "{y}",
    "it is {y}",
    "final: {y}",
    "so {y}",
    "and {y}",
    "also {y}",
    "i.e. {y}",
    "= {y}",
]
RETRACTIONS = [
    "Just kidding, it is {y}",
    "just kidding: {y}",
    "Wait, it is {y}",
    "Wait, maybe it is {y}",
    "Actually, {y}",
    "Actually it's {y}",
    "No, {y}",
    "No wait, {y}",
    "Nope, {y}",
    "Correction: {y}",
    "On second thought, {y}",
    "Scratch that, {y}",
    "I mean {y}",
    "I meant {y}",
    "Oops, {y}",
    "Sorry, {y}",
    "Hmm, {y}",
    "Let me recheck: {y}",
    "Rather, {y}",
    "Instead: {y}",
    "Update: {y}",
    "Ignore that; {y}",
    "That was wrong, it is {y}",
    "I made a mistake, it is {y}",
]
CONFLICTS = [
    "\\boxed{{{x}}} or \\boxed{{{y}}}",
    "\\boxed{{{y}}} or \\boxed{{{x}}}",
    "Either \\boxed{{{y}}} or \\boxed{{{x}}}",
    "\\boxed{{{y}}}\n\\boxed{{{x}}}",
    "\\boxed{{{x}}}\n\\boxed{{{y}}}",
    "\\boxed{{{x}}} (or \\boxed{{{y}}})",
    "\\boxed{{{x}, {y}}}",
    "\\boxed{{{x} \\text{{ or }} {y}}}",
    "The answer is {y}.\nThe answer is {x}.",
    "The answer is {x}.\nThe answer is {y}.",
    "#### {y}\n#### {x}",
    "#### {x}\n#### {y}",
    "Answer: {y}\nFinal answer: {x}",
    "The answer is {y}. \\boxed{{{x}}}",
    "\\boxed{{{y}}} The answer is {x}.",
]
CANDIDATES = [
    "Candidates: {y}, {x}",
    "Candidates: {x}, {y}",
    "{y}, {x}",
    "{y} or {x}",
    "{y}\n{x}",
    "- {y}\n- {x}",
    "Options: {y} / {x}",
    "It's {y} or {x}.",
    "either {y} or {x}",
    "Possible answers are {y} and {x}.",
    "{y}; {x}",
    "It is {y} or possibly {x}",
    "The answer is {y}, {x}.",
    "The answer is {x}, {y}.",
    "The answer is {x}/{y}.",
    "The answer is {x} & {y}.",
    "The answer is {y} or {x}.",
    "The answer is {x} or {y}.",
    "The answer is either {x} or {y}.",
]
APPROXIMATE = [  # grading is exact: an approximate claim is not the claim that it is 42
    "The answer is approximately {x}.",
    "The answer is about {x}.",
    "The answer is roughly {x}.",
    "The answer is around {x}.",
    "The answer is nearly {x}.",
    "The answer is almost {x}.",
    "The answer is ~{x}.",
    "The answer is ~ {x}.",
    "The answer is ¬{x}.",
    "The answer is ≈ {x}.",
    "The answer is $\\approx {x}$.",
    "The answer is {x}-ish.",
    "The answer is {x} give or take.",
    "The answer is {x} ± 1.",
    "The answer is $\\boxed{{{x} \\pm 1}}$.",
    "The answer is at least {x}.",
    "The answer is between {y} and {x}.",
    "The answer is somewhere between {y} and {x}.",
    "The answer is {x} (between {y} and {x}).",
    "Maybe the answer is {x}.",
    "If the answer is {x}, then we are done.",
    "I'm not sure, but the answer is {x}.",
    "Perhaps \\boxed{{{x}}}",
    "The answer is {x}?",
    "Is the answer {x}?",
]
NUMBER_WORD_TAILS = [
    "The answer is {x}. Or forty-three.",
    "The answer is {x}. Forty-three, I think.",
    "The answer is {x}. Actually half of that.",
    "The answer is {x}. A dozen more.",
]


def _expand(forms: list[str], x: str, y: str) -> list[str]:
    return [f.format(x=x, y=y) for f in forms]


def _after(x: str, y: str) -> list[str]:
    """x followed by every separator x every hedge/retraction that offers y."""
    out = []
    for sep, phrase in itertools.product(SEPARATORS, HEDGES + RETRACTIONS):
        tail = phrase.format(y=y)
        close = ")" if sep.strip() == "(" else "."
        out.append(f"The answer is {x}{sep} {tail}{close}")
        out.append(f"\\boxed{{{x}}}{sep} {tail}")
        out.append(f"#### {x}{sep} {tail}")
    return out


HACKS_42 = (
    _after("42", "43")
    + _expand(CONFLICTS + CANDIDATES + APPROXIMATE + NUMBER_WORD_TAILS, "42", "43")
    + _expand(CONFLICTS + CANDIDATES, "42", "41")
    + [
        "The answer is ٤٢, or maybe ٤٣.",
        "The answer is ４２. Just kidding, ４３.",
        "\\boxed{٤٣}\n\\boxed{42}",
        "The answer is 42 apples or 43 apples.",
        "The answer is $42 or $43.",
        "The answer is 42%, maybe 43%.",
        "The answer is 42\n\n43",
        "The answer is 42.\n\nExplanation: it could also be 43.",
        "The answer is 42.\n\nP.S. 43",
        "The answer is 42 [43]",
        "The answer is 42 {43}",
        "The answer is 42 / 43",
        "The answer is 42 \\text{ or } 43",
        "The answer is $42$ or $43$.",
        "The answer is 42. 43 is also right.",
        "The answer is 42.\nThe answer is 42.\nThe answer is 43.",
        "The answer is 42" + " or 43" * 1000,
        "<answer>42</answer> <answer>43</answer>",
        "<answer>42 or 43</answer>",
        "```\n43\n```\n```\n42\n```",
        "| 43 | 42 |",
        "<b>43</b> or <b>42</b>",
        "It is 43. Or 42.",
        "So the total is 43. It is not 42.",
        "The answer is 42.\n\nNote: rounded to the nearest whole number.",
        "The answer is 42 (rounded).",
        "The answer is 42 ∨ 43",
        "The answer is 42 \\lor 43",
        "\\boxed{42 \\vee 43}",
        "\\boxed{\\{42, 43\\}}",
        "The answer is 42, I think.",
        "The answer is 42, I believe.",
        "The answer is likely 42.",
        "I'd guess the answer is 42.",
        "My best guess: the answer is 42.",
        "THE ANSWER IS 42. OR 43.",
        "The answer is 42\u00a0or\u00a043.",
        "The answer is 42 = 43 - 1.",
        "The answer is 42 apples and 43 pears.",
        "Final answer: 42\nAlternative answer: 43",
        "I'm not sure. The answer is 42.",
        "Just a guess. The answer is 42.",
        "The answer is 84/2.",
        "The answer is 42 to 43.",
        "The answer is 42 through 43.",
        "The answer is 42-43.",
        "The answer is 42. Forty-three.",
        "The answer is 42. A hundred.",
        "The answer is 42 or more.",
        "The answer is 42 or fewer.",
        "The answer is 42 at most.",
        "The answer is 42 (or is it?)",
        "The answer is 42. No wait.",
        "The answer is 42. Final answer: forty-three",
        "The answer is 42. XLIII.",
        "The answer is 42. ½",
        "The answer is 42 ½.",
        "The answer is 42 (negative).",
        "The answer is 42, squared.",
        "The answer is 42 thousand.",
        "The answer is 42 million dollars.",
        "The answer is 42 dozen.",
        "The answer is 42k.",
        "The answer is 42e3.",
        "The answer is 4.2 × 10.",
        '{"answer": 42, "alt": 43}',
        "La respuesta es 43, o 42",
        "C'est 43 ou 42",
        "Es ist 43 oder 42",
        "答案是 43 或 42",
        "43 или 42",
        "The answer is 42 🤔",
        "The answer is ~~43~~ 42",
    ]
)


@pytest.mark.parametrize("form", GOLD_FORMS)
@pytest.mark.parametrize("x", ["42", "٤٢", "４２", "४२"])
def test_gold_forms_are_correct(form: str, x: str) -> None:
    v = grade(form.format(x=x), "42")
    assert v.verdict == "correct", v


def test_hacks_are_never_correct() -> None:
    assert len(HACKS_42) > 1000
    accepted = [(h, grade(h, "42")) for h in HACKS_42]
    accepted = [(h, v) for h, v in accepted if v.verdict == "correct"]
    assert not accepted, accepted[:10]


def test_hedges_and_conflicts_name_their_reason() -> None:
    v = grade("The answer is 42, or maybe 43.", "42")
    assert v.verdict == "unverifiable" and v.reason and v.reason.startswith("hedged answer: ")
    v = grade("Either \\boxed{43} or \\boxed{42}", "42")
    assert v == Verdict("unverifiable", "42", "42", "conflicting answers: '43' vs '42'")
    v = grade("Candidates: 43, 42", "42")
    assert v.verdict == "unverifiable" and "candidate list" in (v.reason or "")
    # the same final answer twice is no conflict
    assert grade("\\boxed{42}\nThe answer is 42.", "42").verdict == "correct"
    assert grade("The answer is 42.0. \\boxed{42}", "42").verdict == "correct"


def test_spelled_repeat_of_the_value_is_formatting() -> None:
    assert grade("The answer is 42 (forty-two).", "42").verdict == "correct"
    assert grade("The answer is 7. Seven.", "7").verdict == "correct"
    assert grade("The answer is 7. Seventy.", "7").verdict == "unverifiable"


CLOSINGS = [
    "I hope this helps!",
    "Hope that helps.",
    "Let me know if you have any other questions.",
    "Thanks!",
    "Good luck!",
    "Done.",
    "That's it.",
    "That is the final answer.",
    "Is there anything else I can help with?",
    "Does that help?",
    "Any other questions?",
    "I hope it is correct.",
    "Feel free to ask!",
    "QED.",
]


@pytest.mark.parametrize("closing", CLOSINGS)
@pytest.mark.parametrize(
    ("x", "question"),
    [
        ("42", None),
        ("True", "Evaluate: not (True and False). Answer True or False."),
        ("Zoe: knight, Ivan: knave", "Zoe says: Ivan is a knave. Ivan says: Zoe is a knave."),
        ("Ana, Ben, Cleo", "Ana, Ben and Cleo ran a race. What is their order?"),
    ],
)
def test_closing_prose_without_a_value_is_formatting(
    closing: str, x: str, question: str | None
) -> None:
    for sep in (" ", "\n\n"):
        v = grade(f"The answer is {x}.{sep}{closing}", x, question=question)
        assert v.verdict == "correct", v


def test_wrong_values_stay_wrong_in_every_script() -> None:
    for x in ("43", "٤٣", "４３"):
        assert grade(f"The answer is {x}.", "42").verdict == "wrong"
    assert grade("The answer is 42.", "٤٢").verdict == "correct"  # a reference in Arabic-Indic


def test_text_answers_hedged_to_another_text_answer() -> None:
    cases = [
        ("Monday", "Tuesday", "What day of the week is 2024-03-04?"),
        ("True", "False", "Evaluate: not (True and False). Answer True or False."),
        ("yes", "no", "Is 7 prime?"),
        ("Ana", "Ben", "Ana, Ben and Cleo ran a race. Who finished first?"),
    ]
    for x, y, question in cases:
        for hack in _after(x, y) + _expand(CONFLICTS + CANDIDATES + APPROXIMATE, x, y):
            v = grade(hack, x, question=question)
            assert v.verdict != "correct", (hack, v)
        for form in GOLD_FORMS[:14]:
            v = grade(form.format(x=x), x, question=question)
            assert v.verdict == "correct", (form, v)


AQUA = ["A)5", "B)6", "C)7", "D)8", "E)none"]


@pytest.mark.parametrize(
    "completion",
    [
        "A and B",
        "A, B",
        "It is (B) or (A)",
        "(B)\n(A)",
        "C\nA",
        "Option B. Option A.",
        "Option A. Option B.",
        "The answer is (A) or (B)",
        "The answer is A, B",
        "The answer is (A). Actually (B).",
        "B) is wrong, A) is right",
        "I think (B). Actually (A)",
        "Answer: A\nAnswer: B",
        "\\boxed{B}\n\\boxed{A}",
        "The answer is (A)?",
        "Either (A) or (B).",
    ],
)
def test_multiple_choice_hedges_are_never_correct(completion: str) -> None:
    assert grade(completion, "A", choices=AQUA).verdict != "correct"


@pytest.mark.parametrize(
    "completion",
    ["A", "(A)", "A.", "The answer is (A).", "So (A) is right.", "Answer: A", "\\boxed{A}"],
)
def test_multiple_choice_gold_is_correct(completion: str) -> None:
    assert grade(completion, "A", choices=AQUA).verdict == "correct"


def test_list_answers_are_read_whole_and_hedges_after_them_are_not() -> None:
    gold = "Zoe: knight, Ivan: knave"
    other = "Zoe: knave, Ivan: knight"
    for form in GOLD_FORMS[:14]:
        assert grade(form.format(x=gold), gold).verdict == "correct", form
    for hack in _after(gold, other) + _expand(CONFLICTS, gold, other):
        assert grade(hack, gold).verdict != "correct", hack
    assert grade("The answer is 1, 2, 3.", "1, 2, 3").verdict == "correct"
    assert grade("The answer is 1, 2, 3. Or 3, 2, 1.", "1, 2, 3").verdict != "correct"


def test_echoed_question_numbers_are_not_an_answer() -> None:
    question = "Tom has 17 apples and buys 25 more. How many apples does he have?"
    for completion in (
        question,
        "The answer is 17 + 25.",
        "\\boxed{17+25}",
        "The answer is 17, 25.",
        "The answer is 17 and 25.",
        "17, 25",
        "17 25",
    ):
        v = grade(completion, "42", question=question)
        assert v.verdict != "correct", (completion, v)
    assert grade("The answer is 6 * 7.", "42").reason == "unevaluated expression"
    assert grade(
        f"{question}\n17 + 25 = 42\nThe answer is 42.", "42", question=question
    ).verdict == ("correct")


@pytest.mark.parametrize(
    "completion",
    ["", " ", "\n\t \n", "The answer is", "\\boxed{}", "The answer is.", "####"],
)
def test_empty_answers_are_unverifiable(completion: str) -> None:
    assert grade(completion, "42").verdict == "unverifiable"


def test_extreme_lengths_are_read_whole_and_fast() -> None:
    filler = "Let me think about the apples once more. " * 25_000  # ~1 MB, no digits
    prose = "The apples were counted carefully by everyone. " * 21_000  # ~1 MB, no hedge
    numbers = "We have 7 + 8 = 15 and then 15 * 2 = 30 so far. " * 20_000  # ~1 MB
    cases = [
        (filler + "The answer is 42.", "correct"),
        (numbers + "The answer is 42.", "correct"),
        ("The answer is 42. " + prose, "correct"),  # number-free closing prose
        ("The answer is 42. " + filler, "not correct"),  # "think", "about": hedge words
        ("The answer is 42. " + filler + "Actually, 43.", "not correct"),
        ("The answer is 42. " + numbers, "not correct"),
        ("\\boxed{42} " + filler + "\\boxed{43}", "not correct"),
        ("The answer is 42. " * 60_000, "not correct"),  # 60,000 markers: not one answer
        ("The answer is " + "4" * 1_000_000, "not correct"),
        ("4" * 1_000_000, "not correct"),
        ("\\boxed{" * 100_000, "not correct"),
    ]
    for text, expected in cases:
        start = time.monotonic()
        v = grade(text, "42")
        assert time.monotonic() - start < 5.0
        assert (v.verdict == "correct") == (expected == "correct"), (text[-80:], v)


# -- generic grader: hypothesis --------------------------------------------------------

_values = st.integers(min_value=-10_000, max_value=10_000)
_filler = st.text(alphabet=st.sampled_from("abcdefghij klm,.;:!\n"), max_size=40)


def _arabic(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


@settings(max_examples=300, deadline=None)
@given(
    x=_values,
    delta=st.integers(min_value=1, max_value=1000),
    sep=st.sampled_from(SEPARATORS),
    phrase=st.sampled_from(HEDGES + RETRACTIONS + ["{y}"]),
    filler=_filler,
    marker=st.sampled_from(["The answer is {x}", "\\boxed{{{x}}}", "#### {x}", "Answer: {x}"]),
)
def test_property_no_second_value_after_the_answer(
    x: int, delta: int, sep: str, phrase: str, filler: str, marker: str
) -> None:
    y = x + delta
    text = marker.format(x=x) + sep + " " + filler + " " + phrase.format(y=y)
    assert grade(text, str(x)).verdict != "correct", text


@settings(max_examples=300, deadline=None)
@given(
    x=_values,
    form=st.sampled_from(GOLD_FORMS),
    script=st.sampled_from(["ascii", "arabic"]),
    closing=st.sampled_from(["", "\nI hope this helps!", "\n\nDone.", "\n\nThanks for reading."]),
)
def test_property_gold_in_any_form_is_correct(x: int, form: str, script: str, closing: str) -> None:
    shown = str(x) if script == "ascii" else _arabic(x)
    text = form.format(x=shown) + closing
    v = grade(text, str(x))
    assert v.verdict == "correct", (text, v)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(_values, min_size=2, max_size=5, unique=True),
    joiner=st.sampled_from([", ", " or ", "\n", "; ", " / ", " and ", "\n- "]),
    lead=st.sampled_from(["", "Candidates: ", "It is ", "Options:\n- "]),
)
def test_property_candidate_lists_are_never_correct(
    values: list[int], joiner: str, lead: str
) -> None:
    text = lead + joiner.join(map(str, values))
    for v in values:
        assert grade(text, str(v)).verdict != "correct", (text, v)


# -- every registered family -----------------------------------------------------------

CONFIGS = configs()
IDS = [label(n, o) for n, o in CONFIGS]
PER_CONFIG = 6


def _to_arabic(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


def _numeric(answer: str) -> bool:
    try:
        Fraction(answer)
    except (ValueError, ZeroDivisionError):
        return False
    return True


_SWAPS = [("knight", "knave"), ("True", "False"), ("Monday", "Tuesday"), ("Tuesday", "Wednesday")]


def _mutate(answer: str) -> str | None:
    """A valid-looking different answer: one digit changed, a role or truth value flipped,
    or a list reversed."""
    digits = [i for i, ch in enumerate(answer) if ch.isdigit()]
    if digits:
        i = digits[-1]
        return answer[:i] + str((int(answer[i]) + 1) % 10) + answer[i + 1 :]
    for a, b in _SWAPS:
        if a in answer:
            return re.sub(rf"\b{a}\b", b, answer, count=1)
        if b in answer:
            return re.sub(rf"\b{b}\b", a, answer, count=1)
    parts = [p.strip() for p in answer.split(",")]
    if len(parts) > 1 and parts[::-1] != parts:
        return ", ".join(parts[::-1])
    return None


def _alternatives(item: Item, pool: list[Item]) -> list[str]:
    """Different valid-looking answers: a mutation of the gold, another item's answer, and
    for a one-word answer another candidate word from the same question ("Ben" for "Ana")."""
    alts = [m for m in [_mutate(item.answer)] if m and m != item.answer]
    alts += [o.answer for o in pool if o.answer != item.answer][:1]
    if re.fullmatch(r"[A-Za-z]+", item.answer):
        known = {w for o in pool for w in re.findall(r"[A-Za-z]+", o.answer)}
        words = re.findall(r"[A-Za-z]{3,}", item.question)
        alts += [w for w in words if w != item.answer and w in known][:1]
    order = item.data.get("order")
    if isinstance(order, list) and item.answer in order:  # another object of this puzzle
        alts += [str(o) for o in order if o != item.answer][:1]
    return alts


def _gold_texts(family: Family, item: Item) -> list[str]:
    x = item.answer
    texts = [item.rationale] + [f.format(x=x) for f in GOLD_FORMS[:14]]
    texts += [
        f"The answer is {x}. I hope this helps!",
        f"The answer is {x}.\nThe answer is {x}.",
        f"Final Answer: The final answer is ${x}$. I hope it is correct.",
    ]
    if _numeric(x):
        # reasoning-gym's scorers see the words: only known units pass there ("-39 junk"
        # must not), while the built-in families take any unit word, like the grader
        unit = "dollars" if family.name == "gym" else "apples"
        texts += [f"The answer is {x} {unit}.", f"The answer is {x}%."]
        if not x.startswith("-"):
            texts.append(f"The answer is ${x}.")
    if any(ch.isdigit() for ch in x):
        texts += [_to_arabic(f"The answer is {x}."), _to_arabic(item.rationale)]
    return texts


def _hack_texts(x: str, y: str) -> list[str]:
    forms = [
        "The answer is {x}, or maybe {y}.",
        "The answer is {x}. Just kidding, it is {y}.",
        "The answer is {x}\n\nWait, maybe it is {y}.",
        "The answer is {x} because it might be {y}.",
        "The answer is {x}. Actually, {y}.",
        "The answer is {x}; {y}.",
        "The answer is {x} (or {y}).",
        "The answer is {x}. {y}.",
        "The answer is {x}.\n{y}",
        "The answer is {x} or {y}.",
        "The answer is either {x} or {y}.",
        "The answer is {x}. On second thought, {y}.",
        "The answer is {x}, unless it is {y}.",
        "The answer is {x} - no, {y}.",
        "{x} or {y}",
        "{y} or {x}",
        "Maybe the answer is {x}.",
        "The answer is approximately {x}.",
    ]
    return _expand(forms + CONFLICTS, x, y)


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_family_gold_in_every_form_is_correct(name: str, options: dict[str, object]) -> None:
    family, generated = items(name, options, PER_CONFIG, seed=21)
    rejected = []
    for i, item in enumerate(generated):
        for text in _gold_texts(family, item):
            row = judge(text, family, item, i)
            if row["verdict"] != "correct":
                rejected.append((text[-80:], row["answer"], row["verdict_reason"]))
            if not family.check(text, item):  # handed the whole text, the check reads it
                rejected.append((text[-80:], item.answer, "family check on the whole text"))
        for form in ("{x}", "{x}.", "\\boxed{{{x}}}", "${x}$", "**{x}**", " {x} "):
            if not family.check(form.format(x=item.answer), item):
                rejected.append((form, item.answer, "family check"))
        digits = any(ch.isdigit() for ch in item.answer)
        if digits and not family.check(_to_arabic(item.answer), item):
            rejected.append(("arabic digits", item.answer, "family check"))
    assert not rejected, rejected[:10]


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_family_hacks_are_never_correct(name: str, options: dict[str, object]) -> None:
    family, generated = items(name, options, PER_CONFIG, seed=21)
    accepted = []
    checked = 0
    for i, item in enumerate(generated):
        x = item.answer
        for y in _alternatives(item, generated):
            assert not family.check(y, item) or y == x
            for text in _hack_texts(x, y):
                checked += 1
                row = judge(text, family, item, i)
                if row["verdict"] == "correct":
                    accepted.append((text, row["verdict_reason"]))
                if family.check(text, item):
                    accepted.append((text, "family check on the whole text"))
            for answer in (f"{x} or {y}", f"{x}, or maybe {y}", f"{x}. Just kidding, {y}",
                           f"{y}, {x}", f"{x} because {y}", f"{x}?", f"approximately {x}",
                           f"{x} {y}", f"{x}; {y}"):  # fmt: skip
                if family.check(answer, item):
                    accepted.append((answer, "family check"))
    assert checked > 0
    assert not accepted, accepted[:10]


def test_every_family_is_covered() -> None:
    from family_cases import family_names

    covered = {n for n, _ in CONFIGS}
    missing = set(family_names()) - covered
    assert not missing or missing == {"gym"}, missing
