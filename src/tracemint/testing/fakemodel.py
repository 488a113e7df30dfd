"""The scripted "model" behind the shipped test server: deterministic, cheap replies.

Why a fake and not a tiny real model: tests and benchmarks need replies that depend only on
(prompt, seed, temperature, sample), cost microseconds, and are right or wrong with a chosen
probability, so verifiers, self-consistency and resume can be checked against known answers.

This module holds the model and its reply wording; what it knows is ``answerbook``, the
arithmetic of solutions ``solutions``, what a given reasoning does to the answer
``reasoning``, raw ChatML prompts ``chatml``. Their public names are re-exported here, the
one import path tests and benchmarks need.
"""

from __future__ import annotations

import hashlib
import re

from tracemint.testing.answerbook import AnswerBook
from tracemint.testing.chatml import CHATML_END, CHATML_START, parse_chatml
from tracemint.testing.fakecount import count_reply
from tracemint.testing.fakewriter import is_writer_request, writer_reply, written_answer
from tracemint.testing.reasoning import (
    HINT_MODES,
    REASONING_MODES,
    answer_from_reasoning,
    continue_reasoning,
    corrected,
    read_answer,
)
from tracemint.testing.reply import FakeReply, count_words, cut_words
from tracemint.testing.solutions import (
    claim_errors,
    fmt_num,
    normalize_answer,
    parse_num,
    rerun_solution,
    solution_program,
    wrong_answer,
)

__all__ = [
    "CHATML_END",
    "CHATML_START",
    "HINT_MODES",
    "REASONING_MODES",
    "AnswerBook",
    "FakeModel",
    "FakeReply",
    "answer_from_reasoning",
    "claim_errors",
    "corrected",
    "count_words",
    "normalize_answer",
    "paraphrase",
    "parse_chatml",
    "read_answer",
    "rerun_solution",
    "solution_program",
    "wrong_answer",
]

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
# The biasing hint the hint probe plants in a question (what it does: ``HINT_MODES``).
_HINT = re.compile(
    r"I think the answer is:?\s*\$?\(?([A-Za-z]\b|-?\d+(?:,\d{3})*(?:\.\d+)?)[^\n]*",
    re.IGNORECASE,
)
# A paraphrase request (the paraphrase probe's instruction): the first line is the ask, the
# rest the reasoning to reword.
_PARAPHRASE = re.compile(r"\A\s*Paraphrase\b[^\n]*\n", re.IGNORECASE)
# A program-aided (PAL) request asks for a ``solution()`` function.
_PAL = re.compile(r"\bsolution\(\)")

_THOUGHTS = (
    "Let me think about what the question asks before answering.",
    "Hmm, I should be careful with the arithmetic here.",
    "Okay, let me work through this one step at a time.",
)


def _unit(key: str, salt: str) -> int:
    """A stable 64-bit integer from ``key`` (``hash()`` is salted per process, so not that)."""
    return int.from_bytes(hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest())


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
    written from the known GSM8K-style solution (``_program``, ``solution_program``). A
    question whose answer-book row sets ``reply`` gets exactly that text (no prefill).
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
                value = fmt_num(parse_num(answer))
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
        scripted = self.book.modes_of(question_text).get("reply") if prefill is None else None
        if scripted is not None:  # the answer book's exact rationale for this question
            return self._finish(scripted, None, max_tokens, stop)
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
        opener = _OPENERS[_unit(key, "steps") % len(_OPENERS)]
        text = continue_reasoning(reasoning, base, mode, opener)
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
                reasoning, text, finish = cut_words(reasoning, max_tokens), "", "length"
                used = max_tokens
            elif used + count_words(text) > max_tokens:
                text, finish = cut_words(text, max_tokens - used), "length"
        return FakeReply(text, reasoning, finish, used + count_words(text))


def paraphrase(request: str) -> str:
    """Reword the reasoning after a paraphrase request's first line, trivially: each line
    gets "In other words, " in front, so every number and stated answer survives."""
    body = _PARAPHRASE.sub("", request, count=1)
    return "\n".join(f"In other words, {ln.strip()}" for ln in body.splitlines() if ln.strip())
