"""Problems with at least one verified trace, with and without rationalization, at equal calls.

For each dataset slice (SVAMP, GSM8K test; ``--data``, default ``../shared/data``), each
teacher accuracy and each *rationalizer* scenario, two runs against the shipped test server
with the same budget (``k_verified = 1``, ``max_samples``, ``round_size``):

* **plain**: rejection sampling up to ``max_samples`` plain (``cot``) samples;
* **rationalize**: ``[budget] rationalize = true``: plain rounds up to ``max_samples`` less
  one round, then, for problems with no verified trace, one round with the rationalize
  template (the reference answer shown). Calls per problem never exceed ``max_samples``.

The fake model's ``accuracy`` is the chance one plain sample is right, the same for every
problem (so "difficulty" does not vary; real teachers differ by problem). What it does with
the hint is set per question in its answer book (``hint_mode``), the scenario:

* ``ideal``: every question ``follow``: the reply reaches the given answer without citing it
  (an upper bound: a teacher that always uses the hint well);
* ``mixed``: a third each ``follow``, ``follow-mention`` (the reply says "As you suggested":
  the leakage check must reject it) and ``ignore`` (the hint changes nothing: another plain
  sample under another prompt).

Printed per cell: problems with >= 1 verified trace for each run, calls, yield (verified
traces per call) per strategy, the share of rationalized problems rescued, and traces
rejected for citing the hint. For GSM8K the problems also carry a difficulty (solution
lines: 2, 3, 4, 5+), reported as rescued / problems per difficulty.

``--embedded N``: also the embedded model (SmolLM2 on CPU, slow) on N SVAMP problems.

Run: ``python benchmarks/rationalize_yield.py [--n 200] [--accuracy 0.1 0.3]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tracemint.config import parse_recipe
from tracemint.report.strategies import read_strategy_stats
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.testing.server import spawn, stop

ROOT = Path(__file__).resolve().parent.parent
MODES = ("follow", "follow-mention", "ignore")


def _mode(question: str, scenario: str) -> str:
    if scenario == "ideal":
        return "follow"
    return MODES[int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % len(MODES)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def svamp(data: Path, n: int) -> list[dict[str, Any]]:
    rows = json.loads((data / "svamp" / "SVAMP.json").read_text())[:n]
    return [
        {
            "id": r["ID"],
            "question": f"{r['Body'].strip()} {r['Question'].strip()}",
            "answer": _number(r["Answer"]),
        }
        for r in rows
    ]


def gsm8k(data: Path, n: int) -> list[dict[str, Any]]:
    out = []
    with open(data / "gsm8k" / "test.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            r = json.loads(line)
            lines = len(r["answer"].rsplit("####", 1)[0].strip().splitlines())
            level = f"{min(lines, 5)}{'+' if lines >= 5 else ''} steps"
            out.append(
                {"id": f"gsm8k-{i}", "question": r["question"], "answer": r["answer"],
                 "difficulty": level}
            )  # fmt: skip
    return out


def _recipe(name: str, runs: Path, problems: Path, teacher: dict[str, Any], **budget: Any) -> Any:
    return parse_recipe(
        {
            "name": name,
            "runs_dir": str(runs),
            "source": {"type": "file", "path": str(problems), "id_field": "id"},
            "teacher": teacher,
            "sampling": {"temperature": 0.7, "max_tokens": 256},
            "budget": {"k_verified": 1, **budget},
            "run": {"workers": 1},
        }
    )


def mint(name: str, runs: Path, problems: Path, teacher: dict[str, Any], **budget: Any) -> dict:
    recipe = _recipe(name, runs, problems, teacher, **budget)
    t0 = time.monotonic()
    LocalRunner(recipe, progress=False).run()
    stats = read_strategy_stats(RunStore(runs / name))
    stats["wall_s"] = time.monotonic() - t0
    return stats


def _line(label: str, plain: dict, rat: dict, n: int) -> str:
    p_all, r_all = plain["by_difficulty"]["all"], rat["by_difficulty"]["all"]
    calls_p = sum(s["calls"] for s in plain["strategies"].values())
    calls_r = sum(s["calls"] for s in rat["strategies"].values())
    ys = " ".join(
        f"{k}={v['yield']:.3f}" for k, v in rat["strategies"].items() if v["yield"] is not None
    )
    share = r_all["rescued_of_rationalized"]
    leaks = sum(s["leaking"] for s in rat["strategies"].values())
    return (
        f"{label:<28} {p_all['with_verified']:>4}/{n:<4} {r_all['with_verified']:>4}/{n:<4} "
        f"{calls_p:>6} {calls_r:>6}  {plain['strategies']['cot']['yield']:.3f} | {ys}  "
        f"rescued/rationalized={'n/a' if share is None else f'{share:.2f}'} leaks={leaks}"
    )


def server_cells(args: argparse.Namespace, work: Path) -> None:
    budget = {"max_samples": args.max_samples, "round_size": args.round_size}
    print(
        f"k_verified=1 max_samples={args.max_samples} round_size={args.round_size} "
        f"(rationalize: {args.max_samples - min(args.round_size, args.max_samples // 2)} plain"
        f" + {min(args.round_size, args.max_samples // 2)} hinted at most)\n"
    )
    print(
        f"{'cell':<28} {'plain':>9} {'ration.':>9} {'calls':>6} {'calls':>6}  "
        "yield plain run | rationalize run"
    )
    for dataset, rows in (("svamp", svamp(args.data, args.n)), ("gsm8k", gsm8k(args.data, args.n))):
        for scenario in ("ideal", "mixed"):
            problems = work / f"{dataset}-{scenario}.jsonl"
            with open(problems, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({**r, "hint_mode": _mode(r["question"], scenario)}) + "\n")
            for accuracy in args.accuracy:
                proc, root = spawn(["--answers", str(problems), "--accuracy", str(accuracy)])
                try:
                    teacher = {"type": "openai", "model": "test-model",
                               "base_url": f"{root}/v1", "concurrency": 32}  # fmt: skip
                    cell = f"{dataset}-{scenario}-{accuracy}"
                    runs = work / "runs"
                    plain = mint(f"{cell}-plain", runs, problems, teacher, **budget)
                    rat = mint(f"{cell}-rat", runs, problems, teacher, rationalize=True, **budget)
                finally:
                    stop(proc)
                print(_line(f"{dataset} {scenario} acc={accuracy}", plain, rat, len(rows)))
                if dataset == "gsm8k" and scenario == "ideal":
                    by = {
                        d: f"{r['rescued']}/{r['problems']}"
                        for d, r in sorted(rat["by_difficulty"].items())
                        if d != "all"
                    }
                    print(f"{'':<28} rescued / problems by difficulty: {by}")


def embedded_cells(args: argparse.Namespace, work: Path) -> None:
    rows = svamp(args.data, args.embedded)
    problems = work / "embedded.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    teacher = {"type": "embedded"}
    budget = {"max_samples": args.embedded_samples, "round_size": args.embedded_samples // 2}
    plain = mint("emb-plain", work / "runs", problems, teacher, **budget)
    rat = mint("emb-rat", work / "runs", problems, teacher, rationalize=True, **budget)
    print(_line(f"svamp embedded (n={len(rows)})", plain, rat, len(rows)))
    print(f"{'':<28} wall: plain {plain['wall_s']:.0f} s, rationalize {rat['wall_s']:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=200, help="problems per dataset slice")
    ap.add_argument("--accuracy", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--max-samples", type=int, default=8)
    ap.add_argument("--round-size", type=int, default=4)
    ap.add_argument("--embedded", type=int, default=0, help="also N problems, embedded model")
    ap.add_argument("--embedded-samples", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server_cells(args, Path(tmp))
        if args.embedded:
            embedded_cells(args, Path(tmp))


if __name__ == "__main__":
    main()
