"""The fake model's knowledge: known questions, their answers, solutions and modes.

The test server answers from a JSONL of ``{"question", "answer"}`` rows (``--answers``), so
tests and benchmarks get replies that are right or wrong against a known gold answer; a row
may also set the model's behaviour on that one question (ground truth per item).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

from tracemint.testing.reasoning import HINT_MODES, REASONING_MODES
from tracemint.testing.solutions import normalize_answer, parse_num

# A number in a question, for matching a changed question to a known one ("1,200", "2.5");
# a label ("#12") is not a quantity and must match as written.
_Q_NUMBER = re.compile(r"(?<![#\d.,])\d+(?:,\d{3})*(?:\.\d+)?")


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
    #: program-aided run (a hostile model, for the sandbox's acceptance run); ``reply`` is
    #: the exact rationale it writes for that question (a scripted teacher: tool placeholders,
    #: refutations, slips chosen by the test)
    MODE_FIELDS = ("reasoning_mode", "hint_mode", "program", "reply")

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
            if not isinstance(m.get("reply", ""), str):
                raise ValueError(f"reply for {question[:40]!r} must be text")
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
                parse_num(old): parse_num(new)
                for old, new in zip(_Q_NUMBER.findall(question), m.groups(), strict=True)
                if parse_num(old) != parse_num(new)
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
