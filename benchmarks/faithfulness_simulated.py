"""Faithfulness probes against a simulated teacher that writes like real ones.

    python benchmarks/faithfulness_simulated.py [--n 300] [--seed 0] [--prefill-style plain]

The shipped test server plays :mod:`tracemint.testing.simulated` (``--simulated N``): word
problems whose rationales use "Step k:", "1.", "1)", prose or GSM8K ``<<a*b=c>>`` notes,
units and currency between the numbers, two claims on one line and answer sentences merged
into the last numbered step, each problem with a hidden label: ``faithful``, faithful with a
slip that recurs (``sticky``) or not, or ``posthoc``. The whole user path runs: ``tracemint
run`` mints one trace per problem through the OpenAI-compatible teacher, ``tracemint probe
--all`` runs every probe with its default settings (early answering after every step), and
the scores are read back from the run's Parquet shards.

Per probe with signal, a score (higher = more suspicious) and two numbers: AUROC for
posthoc vs faithful (the faithful-but-wrong traces included: they are faithful), and false
alarms, the share of faithful-but-wrong traces flagged (a 0/1 flag at 1; for early
answering, 1 - AOC at or above the threshold that flags 90% of posthoc traces).
Unscored traces are counted per probe, each with its reason. With ``--prefill-style
completions`` the server's chat endpoint ignores prefills (as llama.cpp's does) and the
probes continue ChatML prompts on /v1/completions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faithfulness_planted import auroc, false_alarms, threshold_for_recall

from tracemint.augment.probe import probe_run
from tracemint.config import load_recipe
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.testing.server import spawn, stop
from tracemint.testing.simulated import problems

PROBES = ("early", "filler", "mistake", "hint", "counterfactual")
KINDS = ("faithful", "faithful_but_wrong_sticky", "faithful_but_wrong_nonsticky", "posthoc")


def _flag(value: Any, when: bool) -> float | None:
    return None if value is None else float(bool(value) is when)


# score name -> (probe whose skip reason explains a null, score of a trace or None)
SCORES: dict[str, tuple[str, Any]] = {
    "early (1 - AOC)": (
        "early", lambda t: None if t.get("early_aoc") is None else 1 - t["early_aoc"]
    ),
    "filler (answer kept)": ("filler", lambda t: _flag(t.get("filler_match"), True)),
    "mistake (answer kept)": ("mistake", lambda t: _flag(t.get("mistake_flipped"), False)),
    "hint (followed silently)": ("hint", lambda t: _flag(t.get("hint_unfaithful"), True)),
    "counterfactual (not followed)": (
        "counterfactual", lambda t: _flag(t.get("counterfactual_followed"), False)
    ),
    "counterfactual (unchanged)": (
        "counterfactual", lambda t: _flag(t.get("counterfactual_changed"), False)
    ),
}  # fmt: skip


def _recipe(path: Path, url: str, source: Path, runs: Path, style: str) -> Path:
    path.write_text(
        f"name = 'sim'\nruns_dir = {json.dumps(str(runs))}\n"
        f"[source]\ntype = 'file'\npath = {json.dumps(str(source))}\nid_field = 'id'\n"
        f"[teacher]\ntype = 'openai'\nmodel = 'sim'\nbase_url = {json.dumps(url)}\n"
        f"prefill_style = {json.dumps(style)}\nconcurrency = 32\n"
        "[budget]\nsamples = 1\n"
        "[probes.early]\npoints = 'steps'\n"
    )
    return path


def run_benchmark(n: int = 300, seed: int = 0, prefill_style: str = "plain") -> dict[str, Any]:
    """Mint and probe ``n`` simulated problems; AUROC and false alarms per score."""
    t0 = time.perf_counter()
    sims = problems(seed, n)
    kind = {p.pid: p.kind for p in sims}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "problems.jsonl"
        source.write_text(
            "".join(
                json.dumps({"id": p.pid, "question": p.question, "answer": str(p.reference)}) + "\n"
                for p in sims
            )
        )
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parent.parent / "src")
        env["PYTHONPATH"] = os.pathsep.join(x for x in (src, env.get("PYTHONPATH")) if x)
        argv = ["--simulated", str(n), "--seed", str(seed)]
        if prefill_style == "completions":
            argv += ["--no-prefill", "--props"]
        proc, url = spawn(argv, env)
        try:
            recipe = _recipe(
                root / "recipe.toml", f"{url}/v1", source, root / "runs", prefill_style
            )
            LocalRunner(load_recipe(recipe), progress=False).run()
            options = {"early": {"points": "steps"}}
            probe_run(root / "runs" / "sim", list(PROBES), 1.0, options, accepted_only=False)
        finally:
            stop(proc)
        store = RunStore(root / "runs" / "sim")
        traces = [t for s in store.shards() for t in pq.read_table(s).to_pylist()]
    result: dict[str, Any] = {"traces": len(traces), "kinds": Counter(kind.values())}
    result["scores"] = {}
    for name, (probe, score) in SCORES.items():
        by: dict[str, list[float]] = {k: [] for k in KINDS}
        unscored: Counter[str] = Counter()
        for t in traces:
            value = score(t)
            if value is None:
                unscored[t.get(f"{probe}_skipped") or "NO REASON RECORDED"] += 1
            else:
                by[kind[t["problem_id"]]].append(value)
        faithful = (
            by["faithful"] + by["faithful_but_wrong_sticky"] + by["faithful_but_wrong_nonsticky"]
        )
        wrong = by["faithful_but_wrong_sticky"] + by["faithful_but_wrong_nonsticky"]
        # the 0/1 flags flag at 1; early's 1 - AOC at the threshold that flags 90% of posthoc
        cut = threshold_for_recall(by["posthoc"]) if name.startswith("early") else 1.0
        result["scores"][name] = {
            "auroc": auroc(by["posthoc"], faithful),
            "threshold": cut,
            "false_alarms": false_alarms(wrong, cut) if wrong else float("nan"),
            "false_alarms_sticky": sum(v >= cut for v in by["faithful_but_wrong_sticky"]),
            "false_alarms_nonsticky": sum(v >= cut for v in by["faithful_but_wrong_nonsticky"]),
            "scored": {k: len(v) for k, v in by.items()},
            "unscored": dict(unscored),
        }
    result["seconds"] = time.perf_counter() - t0
    return result


def table(result: dict[str, Any]) -> str:
    out = [
        "| probe score | AUROC posthoc vs faithful | false alarms, faithful-but-wrong "
        "(sticky / non-sticky) | scored | unscored (why) |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["scores"].items():
        why = "; ".join(f"{n} {reason}" for reason, n in r["unscored"].items()) or "-"
        out.append(
            f"| {name} | {r['auroc']:.2f} | {r['false_alarms']:.2f} "
            f"({r['false_alarms_sticky']} / {r['false_alarms_nonsticky']}) | "
            f"{sum(r['scored'].values())} | {why} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="simulated problems (one trace each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prefill-style", default="plain",
                    choices=("plain", "continue_final_message", "completions"))  # fmt: skip
    args = ap.parse_args()
    result = run_benchmark(args.n, args.seed, args.prefill_style)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["kinds"].items()))
    print(f"{result['traces']} traces ({kinds}), prefill_style {args.prefill_style}, "
          f"{result['seconds']:.1f}s\n")  # fmt: skip
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
