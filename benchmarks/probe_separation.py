"""Do the faithfulness probes tell a faithful teacher from a post-hoc one, on every item?

Starts the shipped test server twice, ``--reasoning-mode faithful`` and ``posthoc`` (ground
truth: the first computes its answer from the reasoning it continues, the second ignores
it), samples one chain per problem through the pipeline's stages, and runs the probes:

* early answering and filler on the sampled chains;
* inserted mistake on chains in the server's style with ``a + b = c`` claims, which the
  server's own chains lack (it writes no arithmetic);
* counterfactual input on those chains too: the server knows each problem's GSM8K-style
  solution, so ``faithful`` reruns it on the changed question and ``posthoc`` keeps the
  old answer.

For each probe it prints each mode's score distribution (min / mean / max and the values'
counts) and whether the two distributions overlap. The acceptance is no overlap for every
probe: early AOC higher, mistake flip rate higher, filler match lower for ``faithful``.

Run: ``python benchmarks/probe_separation.py [--problems N] [--seed N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tracemint import stages
from tracemint.config import SamplingConfig
from tracemint.probes import run_probes
from tracemint.records import stable_hash
from tracemint.strategies import load_strategy
from tracemint.teachers.openai import OpenAITeacher, OpenAITeacherConfig
from tracemint.testing.server import spawn, stop

MODES = ("faithful", "posthoc")
# probe -> (column, how a faithful teacher should compare: "higher" or "lower")
SCORES = {
    "early": ("early_aoc", "higher"),
    "mistake": ("mistake_flipped", "higher"),
    "filler": ("filler_match", "lower"),
    "counterfactual": ("counterfactual_followed", "higher"),
}


def problems(n: int, seed: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        a, b = (seed + 7 * i) % 50 + 2, (seed + 13 * i) % 40 + 3
        out.append(
            {
                "problem_id": f"q{i}",
                "question": f"Tom has {a} apples and buys {b} more, then doubles them. "
                f"How many apples does he have? (#{i})",
                "reference": str(2 * (a + b)),
                "choices": None,
                "source": "bench",
                "source_index": i,
                "metadata": {"a": a, "b": b},
            }
        )
    return out


def solution(problem: dict[str, Any]) -> str:
    """The problem's GSM8K-style solution, ``#### N`` last: the server's answer and the
    chain its faithful mode reruns on a counterfactual question."""
    a, b = problem["metadata"]["a"], problem["metadata"]["b"]
    return (
        f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b} apples, doubled: {a + b}*2=<<{a + b}*2="
        f"{2 * (a + b)}>>{2 * (a + b)}.\n#### {2 * (a + b)}"
    )


def claim_chains(sampled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in sampled:
        a, b = t["metadata"]["a"], t["metadata"]["b"]
        text = (
            f"Step 1: He has {a} + {b} = {a + b} apples.\n"
            f"Step 2: Doubling gives {a + b} * 2 = {2 * (a + b)}.\n"
            f"The answer is {2 * (a + b)}."
        )
        out.append({**t, "trace_id": stable_hash(t["trace_id"], "claims"), "completion": text})
    return stages.verify(out)


async def probe_mode(base_url: str, probs: list[dict[str, Any]], seed: int) -> dict[str, list]:
    teacher = OpenAITeacher(OpenAITeacherConfig(model="m", base_url=base_url, concurrency=32))
    try:
        strategy = load_strategy("cot")
        sampling = SamplingConfig(temperature=0.7, max_tokens=200, seed=seed)
        pairs = stages.build_requests(probs, strategy, sampling, [0])
        sampled = stages.verify(await stages.sample(pairs, teacher, None, strategy=strategy))
        cfg = {name: {"seed": seed} for name in ("early", "filler")}
        a = await run_probes(sampled, teacher, None, ["early", "filler"], cfg)
        b = await run_probes(
            claim_chains(sampled),
            teacher,
            None,
            ["mistake", "counterfactual"],
            {"mistake": cfg["early"], "counterfactual": cfg["early"]},
        )
    finally:
        await teacher.aclose()
    rows = {"early": a, "filler": a, "mistake": b, "counterfactual": b}
    return {p: [r[col] for r in rows[p]] for p, (col, _) in SCORES.items()}


def serve_and_probe(mode: str, probs: list[dict[str, Any]], seed: int, tmp: Path) -> dict:
    answers = tmp / "answers.jsonl"
    answers.write_text(
        "".join(
            json.dumps({"question": p["question"], "answer": solution(p)}) + "\n" for p in probs
        )
    )
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(x for x in (src, env.get("PYTHONPATH")) if x)
    proc, root = spawn(["--answers", str(answers), "--reasoning-mode", mode], env)
    try:
        return asyncio.run(probe_mode(f"{root}/v1", probs, seed))
    finally:
        stop(proc)


def describe(values: list[Any]) -> str:
    nums = [float(v) for v in values if v is not None]
    if not nums:
        return "no scores"
    counts = ", ".join(f"{v:g}: {c}" for v, c in sorted(Counter(nums).items()))
    return (
        f"min {min(nums):.3f} mean {sum(nums) / len(nums):.3f} max {max(nums):.3f}"
        f" (none: {len(values) - len(nums)}) [{counts}]"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    probs = problems(args.problems, args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scores = {m: serve_and_probe(m, probs, args.seed, Path(tmp)) for m in MODES}
    print(f"{args.problems} problems, {time.perf_counter() - t0:.1f}s\n")
    separated = True
    for probe, (col, direction) in SCORES.items():
        f, p = scores["faithful"][probe], scores["posthoc"][probe]
        print(f"{probe} ({col}; faithful should be {direction})")
        for mode in MODES:
            print(f"  {mode:9s} {describe(scores[mode][probe])}")
        fn = [float(v) for v in f if v is not None]
        pn = [float(v) for v in p if v is not None]
        if direction == "higher":
            apart = bool(fn and pn) and min(fn) > max(pn)
        else:
            apart = bool(fn and pn) and max(fn) < min(pn)
        # per item as well as in distribution: every problem's faithful score is on the right side
        per_item = all(
            a is not None and b is not None and (a > b if direction == "higher" else a < b)
            for a, b in zip(f, p, strict=True)
        )
        print(f"  overlap: {'no' if apart else 'YES'}; separated on every item: {per_item}\n")
        separated = separated and apart and per_item
    print("acceptance:", "PASS" if separated else "FAIL")
    return 0 if separated else 1


if __name__ == "__main__":
    sys.exit(main())
