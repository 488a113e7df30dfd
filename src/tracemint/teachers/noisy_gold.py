"""The ``noisy_gold`` teacher: a family's gold rationales, with a stated fraction of steps
slipped. A controlled noisy teacher for experiments on what verification buys.

Why a scripted teacher and not a real LLM: to measure whether answer and step verification
recover the value of clean rationales, the noise must be known and dialled. This teacher
answers each problem with its gold rationale (read from a problems JSONL, e.g. one written
by ``tracemint generate``) and, with probability ``noise``, corrupts each *checkable* step:
a line holding an ``expr = value`` claim that ``verify.arithmetic.check_steps`` verifies.
A corrupted step writes one of its claims' values off by 1 or 2 units:

* a **propagating** slip (probability ``propagate``): later lines use the wrong value and
  recompute every claim from it, so the rest of the chain is arithmetically consistent and
  the final answer is (almost always) wrong: answer verification catches it;
* a **silent** slip (the rest): later lines go on from the right value, so the final answer
  is right but one written claim is wrong: only step verification catches it.

Carrying is textual: after a slip, a later number spelled like a changed value is read as
that value (operands, "so 5x = 10", the final line), except a modulus after ``mod``. A
coincidence can therefore change a constant too; the chain stays arithmetically consistent.

The corruption of a sample is seeded by (question, ``sample_index``, ``seed``): rerunning a
recipe gives the same traces, and the samples of one problem differ from each other.
``answer_only = true`` replies with the final line alone (the answer-only baseline).

**Continuing a prefix** (Monte-Carlo step labels, probes: ``request.prefill``): the teacher
goes on from the lines written so far *as written*: where a prefix line's numbers differ from
gold's, the continuation carries the written values (a model believes its own context), and
its own lines slip with the same ``noise``. So a prefix with a slip that changes the outcome
leads to a wrong answer in every continuation; one whose slip its own line does not carry (a
wrong sum followed by the residue of the right one), or whose changed value leaves the outcome
alone (a residue off by the modulus), does not: what rollout labels can and cannot see.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracemint.errors import ConfigError, TeacherError
from tracemint.teachers.base import Completion, GenerationRequest, Teacher, teachers
from tracemint.verify.arithmetic import OK, check_steps

# An operand: a plain or parenthesised signed number ("24 / (-3)"); never glued to a letter
# ("7x" is algebra, not a number).
_OPERAND = r"(?:\(-?\d+(?:\.\d+)?\)|-?\d+(?:\.\d+)?)(?![\w])"
_OP = r"(?:[-+*/]|mod)"
_VALUE = r"-?\d+(?:\.\d+)?(?:/\d+)?(?![\w])"
_CLAIM = re.compile(rf"(?<![\w.)])({_OPERAND}(?:\s*{_OP}\s*{_OPERAND})+)\s*=\s*({_VALUE})")
_TOKEN = re.compile(rf"\s*({_OPERAND}|{_OP})")
_NUMBER = re.compile(r"(?<![\w./])-?\d+(?:\.\d+)?(?:/\d+)?(?![\w/])(?!\.\d)")
_AFTER_MOD = re.compile(r"mod\s*$")
_DELTAS = (-2, -1, 1, 2)


class NoisyGoldTeacherConfig(BaseModel):
    """Settings of the controlled noisy teacher; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    problems: Path  # JSONL rows with question, answer and rationale (`tracemint generate`)
    noise: float = Field(0.0, ge=0.0, le=1.0)  # probability that a checkable step slips
    propagate: float = Field(0.5, ge=0.0, le=1.0)  # share of slips that later steps carry
    answer_only: bool = False  # reply "The answer is X." with no rationale
    seed: int = 0  # mixed into every sample's corruption seed
    model: str = Field("noisy-gold", min_length=1)  # name in traces


@dataclass
class Corruption:
    """A (possibly) corrupted rationale and what was done to it (ground truth for tests)."""

    text: str
    checkable_steps: list[int]  # line indices holding a checker-verified claim
    slipped: list[int] = field(default_factory=list)  # line indices corrupted
    propagated: list[int] = field(default_factory=list)  # of those, the propagating ones


def checkable_claims(rationale: str) -> dict[int, list[int]]:
    """Line index -> end offsets (within the line) of claims the step checker verifies."""
    ok_ends = {
        claim.end
        for step in check_steps(rationale, mode="lines").steps
        for claim in step.claims
        if claim.verdict == OK
    }
    out: dict[int, list[int]] = {}
    offset = 0
    for i, line in enumerate(rationale.split("\n")):
        ends = [m.end(2) for m in _CLAIM.finditer(line) if offset + m.end(2) in ok_ends]
        if ends:
            out[i] = ends
        offset += len(line) + 1
    return out


def corrupt(rationale: str, rng: random.Random, noise: float, propagate: float) -> Corruption:
    """Slip each checkable line of ``rationale`` with probability ``noise`` (see module doc)."""
    claims = checkable_claims(rationale)
    plan = _plan(claims, rng, noise, propagate)
    result = Corruption(rationale, sorted(claims))
    if not plan:
        return result
    subst: dict[str, str] = {}  # a literal as gold wrote it -> the value this trace uses
    lines = rationale.split("\n")
    for i, line in enumerate(lines):
        lines[i] = _rewrite_line(line, i, plan, subst, rng, result)
    result.text = "\n".join(lines)
    return result


def _plan(
    claims: dict[int, list[int]], rng: random.Random, noise: float, propagate: float
) -> dict[tuple[int, int], bool]:
    """(line, claim end) -> does the slip carry, for the lines that slip.

    Draws happen for every checkable line in order, so one sample's choices never shift
    another line's: the fraction slipped is exactly Bernoulli(noise) per line."""
    plan: dict[tuple[int, int], bool] = {}
    for line_no, ends in claims.items():
        slip = rng.random() < noise
        target = rng.choice(ends)
        carries = rng.random() < propagate
        if slip:
            plan[(line_no, target)] = carries
    return plan


def _rewrite_line(
    line: str,
    line_no: int,
    plan: dict[tuple[int, int], bool],
    subst: dict[str, str],
    rng: random.Random,
    result: Corruption,
    settle: bool = False,
) -> str:
    """One line with carried values and planned slips. ``settle``: a claim that computes its
    gold value again ends that value's carrying ("-2 mod 2 = 0": back on the gold chain);
    ``corrupt`` keeps the older, textual rule its recorded traces were made with."""
    out: list[str] = []
    pos = 0
    for m in _CLAIM.finditer(line):
        gold = m.group(2)
        try:
            computes = _fmt_like(_evaluate(m.group(1)), gold) == gold
        except ZeroDivisionError:
            computes = False
        if not computes:
            continue  # not a computation ("x + 17 + 2 = -14" states an equation)
        out.append(_substitute_numbers(line[pos : m.start()], subst))
        expression = _substitute_operands(m.group(1), subst)
        try:
            value = _evaluate(expression)
        except ZeroDivisionError:  # a carried value became a divisor of 0: keep gold here
            expression, value = m.group(1), _evaluate(m.group(1))
        written = _fmt_like(value, gold)
        key = (line_no, m.end(2))
        if key in plan:
            delta = Fraction(rng.choice(_DELTAS))
            written = _fmt_like(value + delta, gold)
            result.slipped.append(line_no)
            if plan[key]:
                result.propagated.append(line_no)
                subst[gold] = written
            elif _fmt_like(value, gold) != gold:
                subst[gold] = _fmt_like(value, gold)  # an earlier slip still carries
        elif written != gold:
            subst[gold] = written
        elif settle:
            subst.pop(gold, None)
        out.append(f"{expression} = {written}")
        pos = m.end()
    out.append(_substitute_numbers(line[pos:], subst))
    return "".join(out)


def _substitute_numbers(text: str, subst: dict[str, str]) -> str:
    """Numbers outside claims ("so 10x = 19", "The answer is 7.") follow changed values."""
    if not subst:
        return text
    return _NUMBER.sub(lambda m: subst.get(m.group(), m.group()), text)


def _substitute_operands(expression: str, subst: dict[str, str]) -> str:
    parts: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(expression):
        tok = m.group(1)
        parts.append(expression[pos : m.start(1)])
        bare = tok.strip("()")
        # a modulus is a constant of the problem, never a carried value
        if bare in subst and not _AFTER_MOD.search(expression[: m.start(1)]):
            tok = tok.replace(bare, subst[bare])
        parts.append(tok)
        pos = m.end(1)
    parts.append(expression[pos:])
    return "".join(parts)


def _evaluate(expression: str) -> Fraction:
    """Exact value with the usual precedence (``mod`` binds like ``*`` and ``/``); raises
    ZeroDivisionError for a zero divisor."""
    toks = [m.group(1) for m in _TOKEN.finditer(expression)]
    values = [Fraction(toks[0].strip("()"))]
    ops: list[str] = []
    for op, operand in zip(toks[1::2], toks[2::2], strict=True):
        v = Fraction(operand.strip("()"))
        if op in ("*", "/", "mod"):
            left = values.pop()
            values.append(left * v if op == "*" else left / v if op == "/" else left % v)
        else:
            ops.append(op)
            values.append(v)
    total = values[0]
    for op, v in zip(ops, values[1:], strict=True):
        total = total + v if op == "+" else total - v
    return total


def _fmt_like(value: Fraction, gold: str) -> str:
    """``value`` written the way ``gold`` was: same decimals (rounded), or as a fraction."""
    if "/" in gold:
        return str(value.numerator) if value.denominator == 1 else f"{value}"
    places = len(gold.split(".")[1]) if "." in gold else 0
    scaled = value * 10**places
    if places == 0 and scaled.denominator != 1:
        return f"{value}"  # a non-integer where gold had an integer: exact, like "89/3"
    units = int(abs(scaled) + Fraction(1, 2))  # round half up, as check_steps accepts
    sign = "-" if value < 0 and units else ""
    if places == 0:
        return f"{sign}{units}"
    return f"{sign}{units // 10**places}.{units % 10**places:0{places}d}"


def _sample_rng(question: str, sample_index: int, seed: int) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\x00{sample_index}\x00{question}".encode(), digest_size=8)
    return random.Random(int.from_bytes(digest.digest()))


def load_problems(path: Path) -> dict[str, dict[str, str]]:
    """question -> {"answer", "rationale"} from a JSONL file (clear errors by line)."""
    if not path.is_file():
        raise ConfigError(f"teacher.problems: no such file {path}")
    index: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{n}: not JSON: {e}") from None
            missing = [k for k in ("question", "answer", "rationale") if not row.get(k)]
            if missing:
                raise ConfigError(f"{path}:{n}: missing field {missing[0]!r}")
            index[row["question"].strip()] = {
                "answer": str(row["answer"]),
                "rationale": str(row["rationale"]),
            }
    if not index:
        raise ConfigError(f"teacher.problems: {path} holds no problems")
    return index


@teachers.register("noisy_gold")
class NoisyGoldTeacher(Teacher):
    """Gold rationales from a problems file, a stated fraction of steps slipped."""

    name = "noisy_gold"
    config_class = NoisyGoldTeacherConfig
    supports_prefill = True  # continues the written lines (module docstring)

    def __init__(self, config: NoisyGoldTeacherConfig) -> None:
        self.config = config
        self.path = config.problems.expanduser().resolve()
        self.problems = load_problems(self.path)
        self.fingerprint = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    @property
    def model(self) -> str:
        return self.config.model

    def identity(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "teacher": self.name,
            "model": self.model,
            "problems": self.fingerprint,
            "noise": cfg.noise,
            "propagate": cfg.propagate,
            "answer_only": cfg.answer_only,
            "seed": cfg.seed,
        }

    def lookup(self, messages: Sequence[dict[str, str]]) -> tuple[str, dict[str, str]]:
        """The problem whose question opens the last user message (any prompt template)."""
        content = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        lines = content.strip().split("\n")
        for end in range(len(lines), 0, -1):
            question = "\n".join(lines[:end]).strip()
            if question in self.problems:
                return question, self.problems[question]
        raise TeacherError(f"noisy_gold: question not in {self.path}: {content[:80]!r}")

    def reply(self, request: GenerationRequest) -> Completion:
        """One sample: gold, slipped, or answer-only."""
        question, problem = self.lookup(request.messages)
        cfg = self.config
        extra: dict[str, Any] = {}
        if request.prefill is not None:
            text = self.continuation(question, problem, request)
        elif cfg.answer_only:
            text = f"The answer is {problem['answer']}."
        else:
            rng = _sample_rng(question, request.sample_index, cfg.seed)
            c = corrupt(problem["rationale"], rng, cfg.noise, cfg.propagate)
            text = c.text
            extra = {"slipped": c.slipped, "propagated": c.propagated}
        words = len(text.split())
        return Completion(
            text=text,
            prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
            completion_tokens=words,
            model=self.model,
            extra=extra,
        )

    def continuation(
        self, question: str, problem: dict[str, str], request: GenerationRequest
    ) -> str:
        """The gold lines after the prefix's, computed from the values the prefix wrote."""
        gold = problem["rationale"].split("\n")
        written = (request.prefill or "").rstrip("\n").split("\n")
        done = len(written)
        if done >= len(gold):
            return ""
        # gold's value -> the value last written in its place ("0 * 9 = 1, and 0 mod 2 = 0"
        # goes on from 0: the slip was not carried to the line's end)
        subst: dict[str, str] = {}
        for g, w in zip(gold[:done], written, strict=False):
            g_nums, w_nums = _NUMBER.findall(g), _NUMBER.findall(w)
            if len(g_nums) == len(w_nums):  # the same line, maybe other values
                subst.update(zip(g_nums, w_nums, strict=True))
        subst = {a: b for a, b in subst.items() if a != b}
        stream = f"{request.prefill}\x00{request.seed}\x00{question}"
        rng = _sample_rng(stream, request.sample_index, self.config.seed)
        claims = checkable_claims(problem["rationale"])
        plan = _plan(claims, rng, self.config.noise, self.config.propagate)
        plan = {at: carries for at, carries in plan.items() if at[0] >= done}
        result = Corruption("", sorted(claims))
        rest = [
            _rewrite_line(line, i, plan, subst, rng, result, settle=True)
            for i, line in enumerate(gold)
            if i >= done
        ]
        return "\n".join(rest)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        return [self.reply(r) for r in requests]
