"""Arithmetic slips per 100 steps with and without the ``calculator`` strategy.

Each rationale goes the way a run takes it (``runner/mint.py::draw``): the strategy's
prompt, the teacher's reply through ``stages.sample``, ``stages.calculate`` (a no-op for
``cot``), ``stages.verify``, ``stages.check_steps``; a slip is a claim the step checker
judges wrong. Two teachers:

* **The shipped test server, playing a teacher that slips** (answer-book ``reply`` rows; one
  server per strategy, since a question has one scripted reply). Its rationales are GSM8K
  test solutions (``tests/data/verify_gsm8k_test_300.jsonl``) in the teacher's own hand:
  each calculation's result is the teacher's mental arithmetic, wrong with probability
  ``--slip-rate`` (off by 1, 2 or 10). Half the slips are *carried* (later steps compute
  with the wrong value, and the text says so), half are slips of the pen (the next step
  uses the right value). Under ``cot`` the teacher writes its values; under ``calculator``
  it writes each calculation as a placeholder and, by GSM8K habit, its own value with it
  (``<<9*2=19>>19``), which the stage replaces. The draws are shared by both strategies
  (``random.Random(seed + index)``), so the difference is the calculator's alone.
* **The embedded model** (SmolLM2-135M on the CPU, ``--embedded N`` SVAMP problems from
  ``../shared/data/svamp``, greedy): ``cot_oneshot`` against ``calculator``, both one-shot.

Columns: steps (the step checker's), claims checked, slips (wrong claims), slips per 100
steps, answers correct, and for the calculator its tool calls evaluated and teacher values
it replaced that were wrong (slips caught before the data).

Run: ``python benchmarks/calculator_slips.py [--problems 200] [--slip-rate 0.1] [--seed 0]
[--embedded 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from tracemint import stages
from tracemint.config import SamplingConfig
from tracemint.stages.calculator import evaluate
from tracemint.strategies import load_strategy
from tracemint.teachers.base import Teacher
from tracemint.testing.server import spawn, stop
from tracemint.verify.exact import format_exact
from tracemint.verify.numbers import rounds_to

ROOT = Path(__file__).resolve().parent.parent
GSM8K = ROOT / "tests" / "data" / "verify_gsm8k_test_300.jsonl"
SVAMP = ROOT.parent / "shared" / "data" / "svamp" / "SVAMP.json"
Records = list[dict[str, Any]]

_ANNOTATION = re.compile(r"<<(?P<expr>[^<>=]+)=(?P<value>[^<>]+)>>(?P<glued>\d[\d,]*(?:\.\d+)?)?")
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


def problem(pid: str, question: str, reference: str, index: int) -> dict[str, Any]:
    return {
        "problem_id": pid,
        "question": question,
        "reference": reference,
        "choices": None,
        "source": "bench",
        "source_index": index,
        "metadata": None,
    }


def slipping_teacher(solution: str, gold: str, rng: random.Random, rate: float) -> tuple[str, str]:
    """(cot reply, calculator reply) of one GSM8K solution (``gold``: its answer) in a
    slipping teacher's hand."""
    carried: dict[str, str] = {}  # a gold result -> the value the teacher's chain has instead
    cot, calc = [], []
    last_expr, last_guess, last_gold = "", "", ""

    def carry(text: str) -> str:
        return _NUMBER.sub(lambda m: carried.get(m[0], m[0]), text) if carried else text

    for line in solution.split("\n"):
        if line.startswith("####"):
            continue
        parts_cot, parts_calc, pos = [], [], 0
        for m in _ANNOTATION.finditer(line):
            before = carry(line[pos : m.start()])
            expr = carry(m["expr"])
            value = evaluate(expr)
            true = format_exact(value) if value is not None else m["value"]
            guess, held = true, true  # written now; what later steps compute with
            if value is not None and value.denominator == 1 and rng.random() < rate:
                guess = str(value + rng.choice((-10, -2, -1, 1, 2, 10)))
                held = guess if rng.random() < 0.5 else true
            if held != m["value"]:  # later text names the gold value: the teacher's instead
                carried[m["value"]] = held
            parts_cot += [before, guess]
            parts_calc += [before, f"<<{expr}={guess}>>{guess}"]
            last_expr, last_guess, last_gold, pos = expr, guess, m["value"], m.end()
        tail = carry(line[pos:])
        cot.append("".join(parts_cot) + tail)
        calc.append("".join(parts_calc) + tail)
    if last_gold == gold:  # the last calculation is the answer: its value, or its placeholder
        cot.append(f"The answer is {last_guess}.")
        calc.append(f"The answer is <<{last_expr}>>.")
    else:  # the answer is stated in words: the teacher's value, a carried slip included
        cot.append(f"The answer is {carry(gold)}.")
        calc.append(f"The answer is {carry(gold)}.")
    return "\n".join(cot), "\n".join(calc)


async def draw(problems: Records, teacher: Teacher, name: str) -> Records:
    """One greedy round per problem, the run's way (calculate is a no-op for cot)."""
    strategy = load_strategy(name)
    sampling = SamplingConfig(temperature=0.0, max_tokens=300)
    pairs = stages.build_requests(problems, strategy, sampling, [0])
    new = stages.calculate(await stages.sample(pairs, teacher, None, strategy=strategy))
    return stages.check_steps(stages.verify(new))


def slipped(written: str | None, value: str) -> bool:
    """The teacher's own value for a calculation was wrong (a rounding is not a slip)."""
    guess = None if written is None else evaluate(written)
    if guess is None:
        return False
    places = len(written.split(".")[1]) if written and "." in written else 0
    return not rounds_to(Fraction(value), guess, places) and guess != Fraction(value)


def row(name: str, traces: Records) -> dict[str, Any]:
    steps = sum(len(t["steps"]) for t in traces)
    calls = [c for t in traces for c in t.get("tool_calls") or []]
    caught = [c for c in calls if c["ok"] and slipped(c["written"], c["value"])]
    return {
        "strategy": name,
        "traces": len(traces),
        "steps": steps,
        "checked": sum(t["n_claims_checked"] for t in traces),
        "slips": sum(t["n_claims_wrong"] for t in traces),
        "per100": 100 * sum(t["n_claims_wrong"] for t in traces) / max(steps, 1),
        "correct": sum(t["verdict"] == "correct" for t in traces),
        "tool_ok": f"{sum(c['ok'] for c in calls)}/{len(calls)}" if calls else "-",
        "caught": len(caught) if calls else "-",
    }


def show(title: str, rows: list[dict[str, Any]], seconds: float) -> None:
    print(f"\n{title} ({seconds:.0f} s)")
    print(
        f"{'strategy':<12}{'steps':>7}{'checked':>9}{'slips':>7}{'/100 steps':>12}"
        f"{'correct':>10}{'tool ok':>10}{'caught':>8}"
    )
    for r in rows:
        print(
            f"{r['strategy']:<12}{r['steps']:>7}{r['checked']:>9}{r['slips']:>7}"
            f"{r['per100']:>12.1f}{r['correct']:>6}/{r['traces']:<3}{r['tool_ok']:>10}"
            f"{r['caught']!s:>8}"
        )
    base, calc = rows[0]["per100"], rows[1]["per100"]
    ratio = f"{calc / base:.2f}" if base else "n/a"
    print(f"slips per 100 steps, calculator / {rows[0]['strategy']}: {ratio}")


def with_server(book: Path, body: Callable[[str], Any]) -> Any:
    proc, root = spawn(["--answers", str(book)])
    try:
        return body(f"{root}/v1")
    finally:
        stop(proc)


def server_part(n: int, rate: float, seed: int) -> None:
    from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig

    rows = [json.loads(line) for line in GSM8K.read_text().splitlines()[:n]]
    problems, books = [], {"cot": [], "calculator": []}
    for i, r in enumerate(rows):
        solution, answer = r["answer"].rsplit("####", 1)
        problems.append(problem(f"g{i}", r["question"], answer.strip(), i))
        gold = answer.strip().replace(",", "")
        cot, calc = slipping_teacher(solution.strip(), gold, random.Random(seed + i), rate)
        for name, reply in (("cot", cot), ("calculator", calc)):
            books[name].append({"question": r["question"], "answer": "0", "reply": reply})
    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, book_rows in books.items():
            book = Path(tmp) / f"{name}.jsonl"
            book.write_text("".join(json.dumps(b) + "\n" for b in book_rows))

            async def go(url: str, name: str = name) -> Records:
                cfg = OpenAITeacherConfig(model="slipping", base_url=url, concurrency=32)
                teacher = OpenAITeacher(cfg)
                try:
                    return await draw(problems, teacher, name)
                finally:
                    await teacher.aclose()

            traces = with_server(book, lambda url, go=go: asyncio.run(go(url)))  # type: ignore[misc]
            results.append(row(name, traces))
    title = f"test server, a teacher slipping {rate:.0%} of its calculations, {n} GSM8K problems"
    show(title, results, time.perf_counter() - start)


def embedded_part(n: int) -> None:
    from tracemint.teachers.embedded import EmbeddedTeacher, EmbeddedTeacherConfig

    data = json.loads(SVAMP.read_text())[:n]
    problems = [
        problem(
            r["ID"],
            f"{r['Body'].strip()} {r['Question'].strip()}",
            format_exact(evaluate(str(r["Answer"])) or 0),
            i,
        )
        for i, r in enumerate(data)
    ]

    async def go() -> list[dict[str, Any]]:
        teacher = EmbeddedTeacher(EmbeddedTeacherConfig())
        try:
            return [
                row(name, await draw(problems, teacher, name))
                for name in ("cot_oneshot", "calculator")
            ]
        finally:
            await teacher.aclose()

    start = time.perf_counter()
    results = asyncio.run(go())
    show(f"embedded SmolLM2-135M, greedy, {n} SVAMP problems", results, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", type=int, default=200, help="GSM8K problems for the server")
    p.add_argument("--slip-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embedded", type=int, default=0, help="SVAMP problems for SmolLM2 (slow)")
    a = p.parse_args(argv)
    server_part(a.problems, a.slip_rate, a.seed)
    if a.embedded:
        if not SVAMP.is_file():
            sys.exit(f"no SVAMP data at {SVAMP}")
        embedded_part(a.embedded)


if __name__ == "__main__":
    main()
