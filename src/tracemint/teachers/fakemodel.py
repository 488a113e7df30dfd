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
REASONING_MODES = ("none", "faithful", "posthoc")
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
# A prefill that ends in an answer cue ("So the answer is") is answered in a word or two.
_CUE_END = re.compile(r"answer is:?\s*$", re.IGNORECASE)

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


def answer_from_reasoning(reasoning: str, base: str) -> str:
    """What a perfectly faithful model answers after reading ``reasoning``.

    ``base`` is its answer to the question alone. In order: a wrong arithmetic claim
    propagates (the answer is off by the claim's error, so a corrupted step flips it); a
    stated answer ("the answer is X") is kept; else the last number written so far (step
    markers aside) is the answer; with no number at all (empty or filler reasoning) the
    answer is ``wrong_answer(base)``, always different from the full reasoning's.
    """
    for m in _CLAIM.finditer(reasoning):
        computed = _apply(_num(m.group(1)), m.group(2), _num(m.group(3)))
        written = _num(m.group(4))
        if computed is not None and computed != written:
            try:
                return _fmt(_num(base) + written - computed)
            except (ValueError, ZeroDivisionError):
                return wrong_answer(base)
    stated = _STATED.findall(reasoning)
    if stated:
        return stated[-1]
    numbers = _NUMBER.findall(_MARKER.sub("", reasoning))
    return numbers[-1] if numbers else wrong_answer(base)


class AnswerBook:
    """Known question -> answer, matched as a substring of the prompt.

    Why the window index: the prompt wraps the question in a template, so an exact lookup
    misses and a scan of every question per request is too slow for thousands of requests
    per second. Each question is indexed by its first ``K`` characters and the prompt is
    probed at every offset; results are memoised per prompt.
    """

    K = 16

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._by_head: dict[str, list[tuple[str, str]]] = {}
        self._short: list[tuple[str, str]] = []
        self._memo: dict[str, str | None] = {}
        for question, answer in pairs:
            question = question.strip()
            if not question:
                continue
            item = (question, normalize_answer(str(answer)))
            if len(question) < self.K:
                self._short.append(item)
            else:
                self._by_head.setdefault(question[: self.K], []).append(item)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> AnswerBook:
        """Load ``{"question": ..., "answer": ...}`` lines; blank lines are skipped."""
        pairs = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    pairs.append((row["question"], row["answer"]))
        return cls(pairs)

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
    (``answer_from_reasoning``); "posthoc" gives the answer to the question alone whatever
    the reasoning says. Requests without a prefill are answered the same in every mode,
    except that outside "none" a request starting "Paraphrase" gets its reasoning back
    reworded (``paraphrase``), so the paraphrase probe has a rewording that keeps every number.

    ``hint_mode`` decides what "I think the answer is X" in the last user message does:
    "ignore" (the default) answers as usual; "follow" answers X with no word about the hint;
    "follow-mention" answers X and says "As you suggested" in the reasoning.
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

    def _answer(self, question_text: str, key: str) -> str:
        known = self.book.lookup(question_text)
        if known is None:
            return str(_unit(key, "answer") % 1000)
        correct = (_unit(key, "correct") % 1_000_000) / 1_000_000 < self.accuracy
        return known if correct else wrong_answer(known)

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
        if prefill is not None and self.reasoning_mode != "none":
            return self._continue(prefill, question_text, key, max_tokens, stop)
        if self.reasoning_mode != "none" and _PARAPHRASE.match(question_text):
            return self._finish(paraphrase(question_text), None, max_tokens, stop)
        hint = _HINT.search(question_text) if self.hint_mode != "ignore" else None
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
            if self.hint_mode == "follow-mention":
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
        """
        key = self._key(prompt, seed, temperature, sample)
        if self.reasoning_mode != "none":
            end = self.book.question_end(prompt)
            if end is not None:
                return self._continue(prompt[end:], prompt[:end], key, max_tokens, stop)
        h = _unit(key, "steps")
        last = max((int(m) for m in re.findall(r"Step (\d+):", prompt)), default=0)
        middle = _MIDDLES[h % len(_MIDDLES)].format(k=(h >> 8) % 997)
        answer = self._answer(prompt, key)
        lead = "" if prompt.endswith(("\n", " ")) or not prompt else "\n"
        text = f"{lead}Step {last + 1}: {middle}.\nThe answer is {answer}."
        return self._finish(text, None, max_tokens, stop)

    def _continue(
        self,
        reasoning: str,
        question_text: str,
        key: str,
        max_tokens: int | None,
        stop: list[str],
    ) -> FakeReply:
        """Finish a partial reasoning in the faithful or posthoc mode."""
        # The question-alone answer: keyed by the question only, so every prefix of every
        # sample of one question agrees on it (a post-hoc rationale changes nothing).
        base = self._answer(question_text, self._key(question_text, None, 0.0, 0))
        if self.reasoning_mode == "faithful":
            answer = answer_from_reasoning(reasoning, base)
        else:
            answer = base
        if _CUE_END.search(reasoning):
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
