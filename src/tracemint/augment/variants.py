"""Counterfactual variants of real problems (GSM-Symbolic style), checked by their programs.

From a finished program-aided run (``[strategy] name = "pal"``, ``answer_from = "program"``),
each problem with a correct trace whose program ran gets up to ``per_problem`` variants: the
question's quantities that the program uses as literals get new values (a seeded draw of the
same magnitude class, :func:`tracemint.synth.quantities.draw_value`), in the question and in
the program alike, and the changed program, rerun in the sandbox, gives the new answer.

Public API::

    program_literals(program) -> list[Literal]             # numeric literals with offsets
    substitutable(question, program) -> list[Quantity]     # quantities the program uses
    substitute_program(program, changes) -> str            # the program with new literals
    make_variants(run_dir, VariantsConfig(...)) -> VariantsResult

Decisions a user should know (docs/variants.md):

* **A quantity is substitutable** when its value occurs exactly once among the question's
  numbers and at least once among the program's literals; then *every* literal of that
  value is changed. A value written twice in the question (which literal is which?) and a
  program constant absent from the question (100 for a percent, 60 minutes) are left alone.
  A constant equal to a substitutable quantity ("half" written ``/ 2`` when the question
  also says 2) cannot be told apart and is changed too; the stability rule or the teacher
  check is what catches it.
* **Stable**: the changed program runs, returns a finite number (integer-valued and
  non-negative when the original answer was), differs from the original answer (the
  quantities matter), and a second, independent substitution passes the same checks.
* **Teacher check** (optional): the run's teacher solves the variant with the run's own
  strategy at temperature 0 through the run's call cache; the variant is kept only when its
  answer equals the recomputed one.
"""

from __future__ import annotations

import asyncio
import io
import math
import random
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from tracemint.records import Record, problem_of, stable_hash
from tracemint.synth.quantities import Quantity, draw_value, find_quantities, render

#: why a candidate was dropped (or kept), in report order
REASONS = (
    "no substitutable quantity",
    "duplicate",
    "program failed",
    "unstable",
    "teacher disagrees",
    "kept",
)


@dataclass(frozen=True)
class Literal:
    """One numeric literal of a program: code only, never a comment or a string."""

    text: str
    start: int
    end: int
    value: Fraction


def program_literals(program: str) -> list[Literal]:
    """The numeric literals of ``program`` (decimal ints and floats), with offsets."""
    starts = [0]
    for line in program.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(program).readline):
            if tok.type != tokenize.NUMBER:
                continue
            try:
                value = Fraction(tok.string)
            except ValueError:  # hex, octal, complex: not a quantity
                continue
            (row, col), (erow, ecol) = tok.start, tok.end
            out.append(Literal(tok.string, starts[row - 1] + col, starts[erow - 1] + ecol, value))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return out


def substitutable(question: str, program: str) -> list[Quantity]:
    """The question's quantities whose value occurs once in the question and as a literal
    of the program, in question order."""
    quantities = find_quantities(question)
    counts = Counter(q.value for q in quantities)
    literals = {lit.value for lit in program_literals(program)}
    return [q for q in quantities if counts[q.value] == 1 and q.value in literals]


def _render_literal(lit: Literal, value: Fraction) -> str:
    if value.denominator == 1 and not any(c in lit.text for c in ".eE"):
        return str(value.numerator)
    return repr(float(value))


def substitute_program(program: str, changes: dict[Fraction, Fraction]) -> str:
    """``program`` with every literal whose value is a key of ``changes`` given the new
    value (an integer literal stays an integer; comments and strings are untouched)."""
    out, pos = [], 0
    for lit in program_literals(program):
        if lit.value in changes:
            out += [program[pos : lit.start], _render_literal(lit, changes[lit.value])]
            pos = lit.end
    return "".join(out) + program[pos:]


def substitute_question(question: str, changes: list[tuple[Quantity, Fraction]]) -> str:
    """``question`` with each quantity given its new value (written like the original)."""
    for q, value in sorted(changes, key=lambda c: c[0].start, reverse=True):
        question = question[: q.start] + render(q, value) + question[q.end :]
    return question


def _number(value: str | None) -> float | None:
    """A program's return value as a finite number, or None."""
    if value is None:
        return None
    try:
        x = float(Fraction(value.strip())) if "/" in value else float(value)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _is_int(x: float) -> bool:
    return abs(x - round(x)) < 1e-9 * max(1.0, abs(x))


def format_answer(x: float) -> str:
    """A recomputed answer as text: "14", "2.5" (at most 6 decimals)."""
    if _is_int(x):
        return str(round(x))
    return f"{x:.6f}".rstrip("0").rstrip(".")


class VariantsConfig:
    """Options of one ``variants`` call."""

    def __init__(
        self, per_problem: int = 3, seed: int = 0, check_with_teacher: bool = False
    ) -> None:
        if per_problem < 1:
            raise ValueError("per_problem must be at least 1")
        self.per_problem, self.seed, self.check_with_teacher = per_problem, seed, check_with_teacher


@dataclass
class VariantsResult:
    variants: list[Record]
    counts: dict[str, int] = field(default_factory=dict)
    problems: int = 0


def _draw(
    quantities: list[Quantity], rng: random.Random
) -> tuple[list[tuple[Quantity, Fraction]], dict[Fraction, Fraction]]:
    avoid = [q.value for q in quantities]
    pairs = [(q, draw_value(q, rng, avoid)) for q in quantities]
    return pairs, {q.value: v for q, v in pairs}


def _stable(value: float | None, original: float) -> bool:
    if value is None or value == original or abs(value - original) < 1e-9:
        return False
    if _is_int(original) and not _is_int(value):
        return False
    return not (original >= 0 and value < 0)


def pick_trace(traces: list[Record]) -> Record | None:
    """The problem's first correct trace whose program ran (by sample index, trace id)."""
    ok = [t for t in traces if t.get("verdict") == "correct" and t.get("program_status") == "ok"]
    ok.sort(key=lambda t: (t.get("sample_index") or 0, t.get("trace_id") or ""))
    return ok[0] if ok else None


class _TeacherCheck:
    """Solve a variant with the run's teacher and strategy at temperature 0 (cached)."""

    def __init__(self, store: Any, sandbox: Any) -> None:
        from tracemint.cache import CallCache
        from tracemint.config import parse_recipe
        from tracemint.runner.local import build_teacher
        from tracemint.stages import CachedCaller
        from tracemint.strategies import load_strategy

        self.recipe = parse_recipe(store.read_manifest()["recipe"], str(store.manifest_path))
        self.strategy = load_strategy(self.recipe.strategy.name, self.recipe.strategy.template_dir)
        self.teacher = build_teacher(self.recipe)
        self.cache = CallCache(store.cache_path)
        self.caller = CachedCaller(self.teacher, self.cache)
        self.sandbox = sandbox

    async def answer(self, problem: Record) -> str | None:
        """The answer the teacher gives to ``problem`` (a problem record)."""
        from tracemint import stages
        from tracemint.teachers.base import GenerationRequest

        s = self.recipe.sampling
        req = GenerationRequest(
            messages=self.strategy.render(problem),
            max_tokens=s.max_tokens,
            temperature=0.0,
            top_p=1.0,
            stop=tuple(s.stop),
            seed=s.seed,
            sample_index=0,
        )
        completion, _ = await self.caller.call(req)
        trace: Record = {
            **problem,
            "reference": None,
            "completion": completion.text,
            "truncated": completion.truncated,
        }
        if self.recipe.strategy.answer_from == "program":
            (trace,) = await stages.execute([trace], self.sandbox)
        (trace,) = stages.verify([trace])
        answer = trace.get("answer")
        return None if answer is None else str(answer)

    async def aclose(self) -> None:
        self.cache.close()
        await self.teacher.aclose()


async def _variants_of(
    trace: Record, cfg: VariantsConfig, sandbox: Any, check: _TeacherCheck | None
) -> tuple[list[Record], Counter[str]]:
    from tracemint.verify import answers_equal
    from tracemint.verify.programs import extract_program

    counts: Counter[str] = Counter()
    question, pid = trace["question"], trace["problem_id"]
    program = extract_program(trace.get("completion") or "")
    original = _number(trace.get("program_value"))
    quantities = substitutable(question, program) if program and original is not None else []
    if not quantities or program is None or original is None:
        counts["no substitutable quantity"] += 1
        return [], counts
    out: list[Record] = []
    seen = {question}
    for j in range(cfg.per_problem):
        rng = random.Random(stable_hash("variant", cfg.seed, pid, j))
        pairs, changes = _draw(quantities, rng)
        new_question = substitute_question(question, pairs)
        if new_question in seen:
            counts["duplicate"] += 1
            continue
        seen.add(new_question)
        new_program = substitute_program(program, changes)
        first = await sandbox.arun(new_program)
        if first.status != "ok":
            counts["program failed"] += 1
            continue
        value = _number(first.value)
        _, other = _draw(quantities, rng)
        second = await sandbox.arun(substitute_program(program, other))
        again = _number(second.value) if second.status == "ok" else None
        if not (_stable(value, original) and _stable(again, original)):
            counts["unstable"] += 1
            continue
        assert value is not None
        answer = format_answer(value)
        checked = "program"
        if check is not None:
            said = await check.answer({**problem_of(trace), "question": new_question})
            if said is None or answers_equal(said, answer) is not True:
                counts["teacher disagrees"] += 1
                continue
            checked = "program+teacher"
        counts["kept"] += 1
        out.append(
            {
                "id": "cf-" + stable_hash(pid, new_question),
                "question": new_question,
                "answer": answer,
                "program": new_program,
                "problem_id": pid,
                "original_question": question,
                "original_answer": format_answer(original),
                "substitution": {q.text: render(q, v) for q, v in pairs},
                "checked": checked,
                "seed": cfg.seed,
            }
        )
    return out, counts


async def _make(run_dir: Path, cfg: VariantsConfig) -> VariantsResult:
    from tracemint.config import parse_recipe
    from tracemint.store import RunStore
    from tracemint.verify.sandbox import Sandbox, SandboxConfig

    store = RunStore(run_dir)
    recipe = parse_recipe(store.read_manifest()["recipe"], str(store.manifest_path))
    by_problem: dict[str, list[Record]] = {}
    for batch in store.iter_traces():
        for t in batch:
            by_problem.setdefault(t["problem_id"], []).append(t)
    picked = (pick_trace(by_problem[pid]) for pid in sorted(by_problem))
    chosen = [t for t in picked if t is not None]
    result = VariantsResult([], Counter(), len(by_problem))
    counts: Counter[str] = Counter()
    with Sandbox(SandboxConfig.model_validate(recipe.sandbox)) as sandbox:
        check = _TeacherCheck(store, sandbox) if cfg.check_with_teacher else None
        try:
            for t in chosen:
                found, c = await _variants_of(t, cfg, sandbox, check)
                result.variants += found
                counts.update(c)
        finally:
            if check is not None:
                await check.aclose()
    result.counts = {r: counts.get(r, 0) for r in REASONS}
    result.counts["problems without a correct program"] = len(by_problem) - len(chosen)
    return result


def make_variants(run_dir: str | Path, cfg: VariantsConfig | None = None) -> VariantsResult:
    """Counterfactual variants of a finished program-aided run's problems (see module doc)."""
    return asyncio.run(_make(Path(run_dir), cfg or VariantsConfig()))
