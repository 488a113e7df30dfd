"""What an exporter may trust: which traces are accepted, which are wrong, which step is checked.

Exports are training data, so every row must rest on a check that passed (or, for the
negative side of a pair or a bad step label, on a check that failed). These predicates are
the one place the export formats ask; selection (``stages/select.py``) has already decided
``accepted``, and nothing here second-guesses it upward: an exporter may only be *stricter*.
"""

from __future__ import annotations

from tracemint.records import Record
from tracemint.verify import answers_equal


def has_wrong_step(t: Record) -> bool:
    """The step checker located an error (a claim that evaluates to something else)."""
    return t.get("first_wrong_step") is not None


def is_accepted(t: Record) -> bool:
    """Selection accepted this trace: it passed the answer and step checks selection ran."""
    return t.get("accepted") is True


def disagrees_with_majority(t: Record) -> bool:
    """A reference-free trace whose answer differs from its problem's majority answer."""
    a, m = t.get("answer"), t.get("majority_answer")
    return a is not None and m is not None and answers_equal(a, m) is False


def is_wrong(t: Record) -> bool:
    """Known wrong: a ``wrong`` verdict against a reference, or a located wrong step, or
    (without a reference) an answer against the problem's strict majority.

    Never merely ``unverifiable`` (a rationale the grader could not decide may be right) and
    never truncated (a pair should differ in correctness, not in whether the text was cut).
    """
    if t.get("truncated") or not (t.get("completion") or "").strip():
        return False
    if has_wrong_step(t) or t.get("verdict") == "wrong":
        return True
    strict = (t.get("agreement") or 0.0) > 0.5  # a weak majority proves nothing wrong
    return t.get("reference") is None and strict and disagrees_with_majority(t)


def is_chosen(t: Record) -> bool:
    """May be the ``chosen`` side of a pair: accepted by selection and not known wrong (a
    recipe with ``keep = "all"`` or ``reject_wrong_steps = false`` accepts known-wrong
    traces; a preference pair built on one would teach the student nothing true)."""
    return is_accepted(t) and not is_wrong(t) and not t.get("truncated")


def step_checked_ok(step: Record) -> bool:
    """A step with at least one arithmetic claim that checked out and none that failed."""
    return step.get("verdict") == "ok"
