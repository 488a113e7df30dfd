"""The scripted "model" behind the shipped test server: deterministic, cheap replies.

Why a fake and not a tiny real model: tests and benchmarks need replies that depend only on
(prompt, seed, temperature, sample), cost microseconds, and are right or wrong with a chosen
probability, so verifiers, self-consistency and resume can be checked against known answers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from tracemint.testing.fakecount import count_reply
from tracemint.testing.fakewriter import is_writer_request, writer_reply, written_answer

_WORD = re.compile(r"\S+")

_OPENERS = (
    "Read the problem and note the quantities given",
    "Restate what is asked",
    "Identify the unknown",
    "Write down the known facts",
)
_MIDDLES = (
    "Combine the quantities, giving an intermediate value of {k}",
    "Work out the intermediate result, which is {k}",
    "Carry the partial result {k} forward",
    "Check the units; the running total is {k}",
)
# "ignore-mistakes": reads its reasoning like "faithful", but a wrong arithmetic claim does
# not propagate: the model silently uses the correct value (ground truth for a mistake that
# later steps ignore, in benchmarks/faithfulness_planted.py).
REASONING_MODES = ("none", "faithful", "posthoc", "ignore-mistakes")
# What a biasing hint ("I think the answer is X") in the last user message does: ignore it
# (the usual reply), follow it silently, or follow it and say so. Ground truth for the hint
# probe (Turpin et al. 2023).
HINT_MODES = ("ignore", "follow", "follow-mention")
_HINT = re.compile(
    r"I think the answer is:?\s*\$?\(?([A-Za-z]\b|-?\d+(?:,\d{3})*(?:\.\d+)?)[^\n]*",
    re.IGNORECASE,
)
# A paraphrase request (the paraphrase probe's instruction): the first line is the ask, the
# rest the reasoning to reword.
_PARAPHRASE = re.compile(r"\A\s*Paraphrase\b[^\n]*\n", re.IGNORECASE)

# Faithful mode reads the reasoning it was given: a stated answer, a simple arithmetic claim
# ("a op b = v"), or any number. Deliberately tiny (no verify import): the fake must stay a
# leaf module that costs microseconds per request.
_STATED = re.compile(r"answer is:?\s*\$?(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_CLAIM = re.compile(
    r"(-?\d[\d,]*(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d[\d,]*(?:\.\d+)?)\s*=\s*\$?"
    r"(-?\d[\d,]*(?:\.\d+)?)"
)
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_MARKER = re.compile(r"^[ \t]*Step \d+:", re.MULTILINE)
# A number in a question, for matching a changed question to a known one ("1,200", "2.5");
# a label ("#12") is not a quantity and must match as written.
_Q_NUMBER = re.compile(r"(?<![#\d.,])\d+(?:,\d{3})*(?:\.\d+)?")
# A program-aided (PAL) request asks for a ``solution()`` function; a GSM8K annotation
# ``<<expr=value>>`` is one step of a known solution, and its expression's numbers.
_PAL = re.compile(r"\bsolution\(\)")
_ANNOTATION = re.compile(r"<<([\d\s.+\-*/()]+)=\s*\$?(-?\d[\d,]*(?:\.\d+)?)\s*>>")
_EXPR_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)")
# A prefill that ends in an answer cue ("So the answer is") is answered in a word or two.
_CUE_END = re.compile(r"answer is:?\s*$", re.IGNORECASE)

# A ChatML conversation (SmolLM2, Qwen) rendered as one raw prompt, as a client that applies
# the chat template itself sends it to /v1/completions: "<|im_start|>role\ncontent<|im_end|>"
# per turn, the last assistant turn possibly left open (a prefill to continue).
CHATML_START, CHATML_END = "<|im_start|>", "<|im_end|>"

_THOUGHTS = (
    "Let me think about what the question asks before answering.",
    "Hmm, I should be careful with the arithmetic here.",
    "Okay, let me work through this one step at a time.",
)


def count_words(text: str) -> int:
    """Whitespace word count: the test server's stand-in for a tokenizer."""
    return len(text.split())


def _unit(key: str, salt: str) -> int:
    """A stable 64-bit integer from ``key`` (``hash()`` is salted per process, so not that)."""
    return int.from_bytes(hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest())


def normalize_answer(answer: str) -> str:
    """GSM8K answers end in ``#### N``; the final answer is the part after the marker."""
    if "####" in answer:
        answer = answer.rsplit("####", 1)[1]
    return answer.strip()


def wrong_answer(answer: str) -> str:
    """A plausibly wrong answer: numbers are off by one, anything else is negated."""
    try:
        value = float(answer.replace(",", ""))
    except ValueError:
        return f"not {answer}"
    wrong = value + 1
    return str(int(wrong)) if wrong.is_integer() else f"{wrong:g}"


def _num(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _apply(a: Fraction, op: str, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op in "*x×":
        return a * b
    return a / b if b else None


def claim_errors(reasoning: str) -> list[tuple[re.Match[str], Fraction]]:
    """The wrong ``a op b = v`` claims in ``reasoning``, each with its correct value."""
    wrong = []
    for m in _CLAIM.finditer(reasoning):
        computed = _apply(_num(m.group(1)), m.group(2), _num(m.group(3)))
        if computed is not None and computed != _num(m.group(4)):
            wrong.append((m, computed))
    return wrong


def rerun_solution(solution: str, answer: str, changes: dict[Fraction, Fraction]) -> str:
    """The answer ``solution``'s arithmetic gives when question values change per ``changes``.

    Each ``a op b = v`` claim in order (binary claims only; GSM8K's ``<<a*b=c>>`` included)
    is recomputed with changed operands, and its result ``v`` becomes the recomputed value
    for the claims after it. The answer is mapped the same way: unchanged when the chain
    never touches a changed value. Ground truth for the counterfactual probe.
    """
    values = dict(changes)
    for m in _CLAIM.finditer(solution):
        a, b, v = _num(m.group(1)), _num(m.group(3)), _num(m.group(4))
        new = _apply(values.get(a, a), m.group(2), values.get(b, b))
        values.pop(v, None)  # a later literal v now means this claim's result
        if new is not None and new != v:
            values[v] = new
    try:
        final = _num(answer)
    except (ValueError, ZeroDivisionError):
        return answer
    return _fmt(values.get(final, final))


def solution_program(
    solution: str, answer: str, changes: dict[Fraction, Fraction] | None = None
) -> str | None:
    """A Python ``solution()`` that computes ``answer`` the way ``solution`` does, or None.

    Each step of the solution (a GSM8K ``<<expr=value>>`` annotation, else an ``a op b = v``
    claim) becomes ``vK = expr``: a number equal to an earlier step's result reads that
    step's variable, any other number stays a literal (the question's quantity, changed per
    ``changes``). Returns the variable whose result is the final answer; None when no step
    produces it. Ground truth for program-aided runs and counterfactual variants: the
    program's literals are the question's numbers.
    """
    steps = [(e, v) for e, v in _ANNOTATION.findall(solution)] or [
        (f"{m.group(1)} {'*' if m.group(2) in 'x×' else m.group(2)} {m.group(3)}", m.group(4))
        for m in _CLAIM.finditer(solution)
    ]
    changes = changes or {}
    names: dict[Fraction, str] = {}
    lines = ["def solution():"]

    def literal(m: re.Match[str]) -> str:
        value = _num(m.group(0))
        if value in names:
            return names[value]
        new = changes.get(value, value)
        return _fmt(new) if new.denominator == 1 else str(float(new))

    try:
        for i, (expr, value) in enumerate(steps, 1):
            code = _EXPR_NUMBER.sub(literal, expr.replace(",", "")).strip()
            lines.append(f"    # step {i}")
            lines.append(f"    v{i} = {code}")
            names[_num(value)] = f"v{i}"
        final = names.get(_num(answer))
    except (ValueError, ZeroDivisionError):
        return None
    if final is None:
        return None
    return "\n".join([*lines, f"    return {final}"])


def read_answer(reasoning: str, base: str) -> str:
    """The answer read off ``reasoning`` as written, with no further computation: a stated
    answer ("the answer is X"), else the last number (step markers aside), else (empty or
    filler reasoning) ``wrong_answer(base)``."""
    stated = _STATED.findall(reasoning)
    if stated:
        return stated[-1]
    numbers = _NUMBER.findall(_MARKER.sub("", reasoning))
    return numbers[-1] if numbers else wrong_answer(base)


def answer_from_reasoning(reasoning: str, base: str) -> str:
    """What a perfectly faithful model answers after continuing ``reasoning``.

    ``base`` is its answer to the question alone. Wrong arithmetic claims propagate: the
    answer is off by the sum of their errors (exact for chains of sums and differences
    that carry the running total on the left), so a corrupted step flips it; otherwise
    the answer is ``read_answer(reasoning, base)``.
    """
    errors = claim_errors(reasoning)
    if errors:
        try:
            return _fmt(_num(base) + sum(_num(m.group(4)) - c for m, c in errors))
        except (ValueError, ZeroDivisionError):
            return wrong_answer(base)
    return read_answer(reasoning, base)


def corrected(reasoning: str) -> str:
    """``reasoning`` with each wrong claim's value replaced by the correct one."""
    for m, computed in reversed(claim_errors(reasoning)):
        reasoning = reasoning[: m.start(4)] + _fmt(computed) + reasoning[m.end(4) :]
    return reasoning


class AnswerBook:
    """Known question -> answer, matched as a substring of the prompt.

    A GSM8K-style answer (``solution #### N``) also keeps its solution, so ``near`` can
    recompute the answer of a question that differs from a known one only in its numbers.

    Why the window index: the prompt wraps the question in a template, so an exact lookup
    misses and a scan of every question per request is too slow for thousands of requests
    per second. Each question is indexed by its first ``K`` characters and the prompt is
    probed at every offset; results are memoised per prompt.
    """

    K = 16
    #: per-question behaviour a JSONL row may set, overriding the model's own setting;
    #: ``program`` is the ``solution()`` source the model writes for that question in a
    #: program-aided run (a hostile model, for the sandbox's acceptance run)
    MODE_FIELDS = ("reasoning_mode", "hint_mode", "program")

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]] = (),
        modes: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self._by_head: dict[str, list[tuple[str, str]]] = {}
        self._short: list[tuple[str, str]] = []
        self._memo: dict[str, str | None] = {}
        self._solved: list[tuple[str, str, str]] = []  # (question, answer, solution)
        self._patterns: dict[str, re.Pattern[str]] = {}
        # question -> {"reasoning_mode": ..., "hint_mode": ...}: a per-item ground truth, so
        # one server can play a faithful model on some problems and an unfaithful one on others
        self._modes = {q.strip(): dict(m) for q, m in (modes or {}).items() if m}
        self._modes_memo: dict[str, dict[str, str]] = {}
        for question, m in self._modes.items():
            if not set(m) <= set(self.MODE_FIELDS):
                raise ValueError(
                    f"unknown per-question fields {sorted(set(m) - set(self.MODE_FIELDS))} for "
                    f"{question[:40]!r}; known: {', '.join(self.MODE_FIELDS)}"
                )
            if m.get("reasoning_mode", "none") not in REASONING_MODES:
                raise ValueError(
                    f"unknown reasoning_mode {m['reasoning_mode']!r} for {question[:40]!r}; "
                    f"known: {', '.join(REASONING_MODES)}"
                )
            if not isinstance(m.get("program", ""), str):
                raise ValueError(f"program for {question[:40]!r} must be Python source text")
            if m.get("hint_mode", "ignore") not in HINT_MODES:
                raise ValueError(
                    f"unknown hint_mode {m['hint_mode']!r} for {question[:40]!r}; "
                    f"known: {', '.join(HINT_MODES)}"
                )
        for question, answer in pairs:
            question = question.strip()
            if not question:
                continue
            item = (question, normalize_answer(str(answer)))
            solution = str(answer).rsplit("####", 1)[0] if "####" in str(answer) else ""
            self._solved.append((*item, solution))
            if len(question) < self.K:
                self._short.append(item)
            else:
                self._by_head.setdefault(question[: self.K], []).append(item)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> AnswerBook:
        """Load ``{"question": ..., "answer": ...}`` lines; blank lines are skipped.

        A row may also set ``reasoning_mode`` and/or ``hint_mode``: how the model behaves on
        that question (see ``modes_of``)."""
        pairs = []
        modes: dict[str, dict[str, str]] = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    pairs.append((row["question"], row["answer"]))
                    m = {k: row[k] for k in cls.MODE_FIELDS if row.get(k) is not None}
                    if m:
                        modes[row["question"]] = m
        return cls(pairs, modes)

    def modes_of(self, text: str) -> dict[str, str]:
        """The per-question modes of the longest moded question contained in ``text``
        ({} when none). A linear scan, memoised: only books with modes pay for it."""
        if not self._modes:
            return {}
        if text not in self._modes_memo:
            best = max((q for q in self._modes if q in text), key=len, default=None)
            if len(self._modes_memo) > 100_000:  # bound memory on endless distinct prompts
                self._modes_memo.clear()
            self._modes_memo[text] = self._modes[best] if best is not None else {}
        return self._modes_memo[text]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_head.values()) + len(self._short)

    def lookup(self, text: str) -> str | None:
        """The answer to the longest known question contained in ``text``, if any."""
        if text in self._memo:
            return self._memo[text]
        best: tuple[str, str] | None = None
        if self._by_head:
            for i in range(len(text) - self.K + 1):
                for item in self._by_head.get(text[i : i + self.K], ()):
                    if (best is None or len(item[0]) > len(best[0])) and text.startswith(
                        item[0], i
                    ):
                        best = item
        if best is None:
            for item in self._short:
                if item[0] in text and (best is None or len(item[0]) > len(best[0])):
                    best = item
        found = best[1] if best else None
        if len(self._memo) > 100_000:  # bound memory on endless distinct prompts
            self._memo.clear()
        self._memo[text] = found
        return found

    def near(self, text: str) -> tuple[str, str, str, dict[Fraction, Fraction]] | None:
        """The known question that ``text`` holds with only its numbers changed (fewest
        changes wins): the question, its answer, its solution and the changed values.

        A linear scan with one regex per question: only counterfactual requests (a question
        not in the book, in a reasoning mode) need it.
        """
        best: tuple[int, tuple[str, str, str, dict[Fraction, Fraction]]] | None = None
        for question, answer, solution in self._solved:
            pattern = self._patterns.get(question)
            if pattern is None:
                parts = _Q_NUMBER.split(question)
                pattern = re.compile(f"({_Q_NUMBER.pattern})".join(map(re.escape, parts)))
                self._patterns[question] = pattern
            if pattern.groups == 0 or (m := pattern.search(text)) is None:
                continue
            changes = {
                _num(old): _num(new)
                for old, new in zip(_Q_NUMBER.findall(question), m.groups(), strict=True)
                if _num(old) != _num(new)
            }
            if best is None or len(changes) < best[0]:
                best = (len(changes), (question, answer, solution, changes))
        return None if best is None else best[1]

    def solved(self, text: str) -> tuple[str, str] | None:
        """(answer, solution) of the longest known question in ``text`` that has a GSM8K-style
        solution, or None. A linear scan: only program-aided requests need it."""
        best: tuple[str, str, str] | None = None
        for item in self._solved:
            if item[2] and item[0] in text and (best is None or len(item[0]) > len(best[0])):
                best = item
        return None if best is None else (best[1], best[2])

    def question_end(self, text: str) -> int | None:
        """Where the last occurrence of the longest known question in ``text`` ends.

        A linear scan of the book: only raw prompts in a reasoning mode need it, and those
        come from probes, not from throughput benchmarks.
        """
        best: str | None = None
        for items in (*self._by_head.values(), self._short):
            for question, _ in items:
                if question in text and (best is None or len(question) > len(best)):
                    best = question
        return None if best is None else text.rindex(best) + len(best)


@dataclass(frozen=True)
class FakeReply:
    """One generated choice: visible text, optional separate thought, and why it stopped."""

    text: str
    reasoning: str | None
    finish_reason: str
    completion_tokens: int


class FakeModel:
    """Writes short chains of thought ending in ``The answer is X.``.

    ``accuracy`` is the chance a known answer is given correctly; the coin is a hash of
    (prompt, seed, temperature, sample), so different seeds get different correctness and
    reruns get the same.

    ``reasoning_mode`` decides what a given partial reasoning (a chat prefill, or the text
    after the question in a raw prompt) does to the answer, so faithfulness probes have a
    known ground truth: "none" ignores it as before; "faithful" computes the answer from it
    (``answer_from_reasoning`` when continuing; ``read_answer`` when the prefill ends in an
    answer cue, i.e. the answer is asked for at once); "posthoc" gives the answer to the
    question alone whatever the reasoning says; "ignore-mistakes" is "faithful" except that
    wrong claims count as their correct values. Requests without a prefill are answered the
    same in every mode,
    except that outside "none" a request starting "Paraphrase" gets its reasoning back
    reworded (``paraphrase``), so the paraphrase probe has a rewording that keeps every number,
    and a question that differs from a known one only in its numbers (the counterfactual
    probe's changed question; ``AnswerBook.near``) is answered as that known question's mode
    implies: "posthoc" gives the known answer as if nothing changed, the modes that read
    their reasoning rerun the known solution's claims with the new numbers
    (``rerun_solution``; the answer stays when the book has no solution).

    ``hint_mode`` decides what "I think the answer is X" in the last user message does:
    "ignore" (the default) answers as usual; "follow" answers X with no word about the hint;
    "follow-mention" answers X and says "As you suggested" in the reasoning.

    Both modes can be set per question in the answer book (``AnswerBook.modes_of``), which
    overrides these model-wide settings on requests about that question.

    A program-aided request (it mentions ``solution()``) gets a fenced ``solution()``
    written from the known GSM8K-style solution (``_program``, ``solution_program``).
    """

    def __init__(
        self,
        book: AnswerBook | None = None,
        accuracy: float = 1.0,
        think: bool = False,
        reasoning_field: bool = False,
        reasoning_mode: str = "none",
        hint_mode: str = "ignore",
    ) -> None:
        if reasoning_mode not in REASONING_MODES:
            raise ValueError(
                f"unknown reasoning_mode {reasoning_mode!r}; known: {', '.join(REASONING_MODES)}"
            )
        if hint_mode not in HINT_MODES:
            raise ValueError(f"unknown hint_mode {hint_mode!r}; known: {', '.join(HINT_MODES)}")
        self.hint_mode = hint_mode
        self.book = book or AnswerBook()
        self.accuracy = accuracy
        self.think = think or reasoning_field
        self.reasoning_field = reasoning_field
        self.reasoning_mode = reasoning_mode

    def _modes(self, text: str) -> tuple[str, str]:
        """(reasoning_mode, hint_mode) for a request about ``text``: the question's own
        modes from the answer book, else the model's."""
        m = self.book.modes_of(text)
        return m.get("reasoning_mode", self.reasoning_mode), m.get("hint_mode", self.hint_mode)

    def _answer(self, question_text: str, key: str) -> str:
        known = self.book.lookup(question_text)
        if known is None:
            known = written_answer(question_text)
        # Only a model with some reasoning mode pays for the scan (throughput runs do not).
        moded = self.reasoning_mode != "none" or bool(self.book._modes)
        near = self.book.near(question_text) if known is None and moded else None
        if near is not None:
            question, answer, solution, changes = near
            mode = self._modes(question)[0]
            if mode == "posthoc":
                known = answer
            elif mode != "none":
                known = rerun_solution(solution, answer, changes)
        if known is None:
            return str(_unit(key, "answer") % 1000)
        correct = (_unit(key, "correct") % 1_000_000) / 1_000_000 < self.accuracy
        return known if correct else wrong_answer(known)

    def _program(self, question_text: str, key: str) -> str:
        """A program-aided reply: a fenced ``solution()``.

        For a known question with a GSM8K-style solution, the program is the solution's
        steps (``solution_program``), so its literals are the question's numbers; for a
        question that differs from such a one only in its numbers (``AnswerBook.near``), the
        same program with the changed numbers. A wrong draw (``accuracy``), or a question
        without a known solution, returns its answer as a constant. A question whose
        answer-book row sets ``program`` gets exactly that program.
        """
        scripted = self.book.modes_of(question_text).get("program")
        if scripted is not None:
            return f"```python\n{scripted}\n```"
        correct = (_unit(key, "correct") % 1_000_000) / 1_000_000 < self.accuracy
        program = answer = None
        found = self.book.solved(question_text)
        near = None if found is not None else self.book.near(question_text)
        if found is not None:
            answer, solution = found
            program = solution_program(solution, answer)
        elif near is not None and near[2]:
            _, known, solution, changes = near
            answer = rerun_solution(solution, known, changes)
            program = solution_program(solution, known, changes)
        if program is None or not correct:
            answer = self._answer(question_text, key) if answer is None else answer
            answer = answer if correct else wrong_answer(answer)
            try:
                value = _fmt(_num(answer))
            except (ValueError, ZeroDivisionError):
                value = repr(answer)
            program = f"def solution():\n    return {value}"
        return f"```python\n{program}\n```"

    @staticmethod
    def _key(prompt: str, seed: int | None, temperature: float, sample: int) -> str:
        # Greedy decoding (temperature 0) gives every choice the same text, as real servers do.
        return f"{prompt}\x00{seed}\x00{temperature}\x00{sample if temperature > 0 else 0}"

    def chat(
        self,
        prompt: str,
        question_text: str,
        *,
        seed: int | None,
        temperature: float,
        sample: int,
        max_tokens: int | None,
        stop: list[str],
        prefill: str | None = None,
    ) -> FakeReply:
        """Reply to a chat prompt (``question_text`` is the last user message).

        ``prefill``: the text of a trailing assistant message to continue; it changes the
        reply only in the "faithful" and "posthoc" reasoning modes.
        """
        key = self._key(prompt, seed, temperature, sample)
        counted = count_reply(question_text, prefill)  # the prefill check (fakecount.py)
        if counted is not None:
            return self._finish(counted, None, max_tokens, stop)
        if is_writer_request(question_text):  # LLM-written problems (fakewriter.py)
            reply = writer_reply(question_text, _unit(key, "writer"))
            return self._finish(reply, None, max_tokens, stop)
        if prefill is None and _PAL.search(question_text):  # program-aided (PAL) prompts
            return self._finish(self._program(question_text, key), None, max_tokens, stop)
        mode, hint_mode = self._modes(question_text)
        if prefill is not None and mode != "none":
            return self._continue(prefill, question_text, key, max_tokens, stop, mode)
        if mode != "none" and _PARAPHRASE.match(question_text):
            return self._finish(paraphrase(question_text), None, max_tokens, stop)
        hint = _HINT.search(question_text) if hint_mode != "ignore" else None
        if hint is not None:
            # The rationale restates the question without the hint: only "follow-mention"
            # may acknowledge it.
            question_text = (question_text[: hint.start()] + question_text[hint.end() :]).strip()
        h = _unit(key, "steps")
        restated = " ".join(question_text.split()[:8]).rstrip(".?!:;,")
        steps = [f"Step 1: {_OPENERS[h % len(_OPENERS)]}: {restated}."]
        for i in range(2, 2 + (h >> 8) % 3):
            middle = _MIDDLES[(h >> (4 * i)) % len(_MIDDLES)].format(k=(h >> (8 * i)) % 997)
            steps.append(f"Step {i}: {middle}.")
        answer = self._answer(question_text, key)
        if hint is not None:
            answer = hint.group(1)
            if hint_mode == "follow-mention":
                steps.append(f"Step {len(steps) + 1}: As you suggested, the answer is {answer}.")
        text = "\n".join(steps) + f"\nThe answer is {answer}."
        thought = _THOUGHTS[(h >> 40) % len(_THOUGHTS)] if self.think else None
        return self._finish(text, thought, max_tokens, stop)

    def complete(
        self,
        prompt: str,
        *,
        seed: int | None,
        temperature: float,
        sample: int,
        max_tokens: int | None,
        stop: list[str],
    ) -> FakeReply:
        """Continue a raw prompt: the remaining steps of a partial chain, then the answer.

        Used for prefix continuation (truncate a rationale, let the model finish it), so the
        continuation numbers its steps after the last ``Step k:`` already in the prompt.

        A ChatML conversation ending in an open assistant turn (``parse_chatml``: a client
        that renders the chat template itself) is continued as ``chat`` continues that
        assistant message as a prefill, the very same reply; then, as a raw completion does,
        the text runs on past the end of the turn into the next one unless a stop sequence
        (the template's ``<|im_end|>``) ends it.
        """
        turns = parse_chatml(prompt)
        if turns is not None:
            return self._continue_chatml(turns, seed, temperature, sample, max_tokens, stop)
        key = self._key(prompt, seed, temperature, sample)
        mode = self._modes(prompt)[0]
        if mode != "none":
            end = self.book.question_end(prompt)
            if end is not None:
                return self._continue(prompt[end:], prompt[:end], key, max_tokens, stop, mode)
        h = _unit(key, "steps")
        last = max((int(m) for m in re.findall(r"Step (\d+):", prompt)), default=0)
        middle = _MIDDLES[h % len(_MIDDLES)].format(k=(h >> 8) % 997)
        answer = self._answer(prompt, key)
        lead = "" if prompt.endswith(("\n", " ")) or not prompt else "\n"
        text = f"{lead}Step {last + 1}: {middle}.\nThe answer is {answer}."
        return self._finish(text, None, max_tokens, stop)

    def _continue_chatml(
        self,
        turns: list[tuple[str, str]],
        seed: int | None,
        temperature: float,
        sample: int,
        max_tokens: int | None,
        stop: list[str],
    ) -> FakeReply:
        # the chat path's prompt for these messages: the same key, so the same reply
        prompt = "\x1e".join(f"{role}\x1f{text}" for role, text in turns)
        users = [text for role, text in turns if role == "user"]
        question = users[-1] if users else turns[-1][1]
        r = self.chat(
            prompt,
            question,
            seed=seed,
            temperature=temperature,
            sample=sample,
            max_tokens=None,
            stop=[],
            prefill=turns[-1][1],
        )
        text = r.text if r.reasoning is None else f"<think>\n{r.reasoning}\n</think>\n\n{r.text}"
        run_on = f"{CHATML_END}\n{CHATML_START}user\nThanks! Now another one.{CHATML_END}\n"
        return self._finish(text + run_on, None, max_tokens, stop)

    def _continue(
        self,
        reasoning: str,
        question_text: str,
        key: str,
        max_tokens: int | None,
        stop: list[str],
        mode: str,
    ) -> FakeReply:
        """Finish a partial reasoning in a reasoning mode other than "none"."""
        # The question-alone answer: keyed by the question only, so every prefix of every
        # sample of one question agrees on it (a post-hoc rationale changes nothing).
        base = self._answer(question_text, self._key(question_text, None, 0.0, 0))
        cue = _CUE_END.search(reasoning) is not None
        if mode == "posthoc":
            answer = base
        elif cue:
            # Asked for the answer now (early answering, filler): no further computation,
            # so the answer is read off the text; a model that ignores mistakes reads each
            # wrong claim as its correct value.
            answer = read_answer(reasoning if mode == "faithful" else corrected(reasoning), base)
        elif mode == "faithful":
            answer = answer_from_reasoning(reasoning, base)
        else:  # ignore-mistakes: finishes the computation with the correct values
            answer = base if claim_errors(reasoning) else read_answer(reasoning, base)
        if cue:
            text = f" {answer}."
        else:
            h = _unit(key, "steps")
            last = max((int(m) for m in re.findall(r"Step (\d+):", reasoning)), default=0)
            lead = "" if reasoning.endswith(("\n", " ")) or not reasoning else "\n"
            # No number in the continuation's own step: it must not read as a new claim.
            text = f"{lead}Step {last + 1}: {_OPENERS[h % len(_OPENERS)]}.\nThe answer is {answer}."
        return self._finish(text, None, max_tokens, stop)

    def _finish(
        self, text: str, thought: str | None, max_tokens: int | None, stop: list[str]
    ) -> FakeReply:
        """Apply stop strings, then the max_tokens word budget, to thought + answer."""
        reasoning = None
        if thought is not None and not self.reasoning_field:
            text = f"<think>\n{thought}\n</think>\n\n{text}"
        elif thought is not None:
            reasoning = thought
        for s in stop:
            if s and s in text:
                text = text[: text.index(s)]
        finish = "stop"
        used = count_words(reasoning) if reasoning else 0
        if max_tokens is not None:
            if reasoning is not None and used > max_tokens:
                reasoning, text, finish = _cut(reasoning, max_tokens), "", "length"
                used = max_tokens
            elif used + count_words(text) > max_tokens:
                text, finish = _cut(text, max_tokens - used), "length"
        return FakeReply(text, reasoning, finish, used + count_words(text))


def parse_chatml(prompt: str) -> list[tuple[str, str]] | None:
    """The turns of a ChatML prompt that ends in an open assistant turn, as (role, text),
    the open turn last; None for any other prompt (raw text, or a finished conversation)."""
    if not prompt.lstrip().startswith(CHATML_START):
        return None
    turns: list[tuple[str, str]] = []
    parts = prompt.lstrip().split(CHATML_START)[1:]
    for i, part in enumerate(parts):
        role, nl, rest = part.partition("\n")
        last = i == len(parts) - 1
        if not nl or not role.strip():
            return None
        if last:
            if CHATML_END in rest or role.strip() != "assistant":
                return None
            turns.append((role.strip(), rest))
        else:
            text, end, _ = rest.partition(CHATML_END)
            if not end:
                return None
            turns.append((role.strip(), text))
    return turns


def paraphrase(request: str) -> str:
    """Reword the reasoning after a paraphrase request's first line, trivially: each line
    gets "In other words, " in front, so every number and stated answer survives."""
    body = _PARAPHRASE.sub("", request, count=1)
    return "\n".join(f"In other words, {ln.strip()}" for ln in body.splitlines() if ln.strip())


def _cut(text: str, n_words: int) -> str:
    """The first ``n_words`` words of ``text``, keeping the original whitespace between them."""
    if n_words <= 0:
        return ""
    for i, m in enumerate(_WORD.finditer(text), 1):
        if i == n_words:
            return text[: m.end()]
    return text
