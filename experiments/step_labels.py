"""What the checker's and the rollouts' step labels saw in the same traces.

    python experiments/step_labels.py runs/experiments/rationales-modular-1000-mc
    python experiments/step_labels.py --family linear_equations   # mint only, no student

Reads the ``noisy_mc`` mints of an experiment's work directory (every seed): each trace has
the step checker's ``first_wrong_step`` and the Monte-Carlo labels' ``mc_first_error`` (on
traces whose final answer is right, ``apply_to = "correct"``), and the ``noisy_gold``
gold rationales the teacher slipped. Writes
``experiments/results/step-labels-NAME.json`` with, per seed, how many answer-verified traces
each labeller flags, how many both, and how many of each are true slips.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tracemint.store import RunStore

RESULTS = Path(__file__).resolve().parent / "results"


def seed_counts(mint: Path) -> dict[str, Any]:
    """Counts over one mint's answer-verified traces (the ones rollouts labelled); a trace
    is truly slipped when its text is not its problem's gold rationale (the seed's
    ``train.jsonl``, which the teacher answered from)."""
    columns = ["question", "completion", "verdict", "first_wrong_step", "mc_first_error"]
    rows = RunStore(mint).read_traces(columns=[*columns, "mc_calls"]).to_pylist()
    problems = mint.parent.parent / "train.jsonl"
    gold = {
        row["question"]: row["rationale"]
        for row in map(json.loads, problems.read_text(encoding="utf-8").splitlines())
    }
    right = [r for r in rows if r["verdict"] == "correct"]
    truth = {i for i, r in enumerate(right) if r["completion"] != gold[r["question"]]}
    checker = {i for i, r in enumerate(right) if r["first_wrong_step"] is not None}
    rollouts = {i for i, r in enumerate(right) if r["mc_first_error"] is not None}
    return {
        "traces": len(rows),
        "answer_verified": len(right),
        "slipped": len(truth),
        "checker_flags": len(checker),
        "checker_true": len(checker & truth),
        "rollout_flags": len(rollouts),
        "rollout_true": len(rollouts & truth),
        "both": len(checker & rollouts),
        "rollouts_only": len(rollouts - checker),
        "checker_only": len(checker - rollouts),
        "rollout_calls": sum(int(r["mc_calls"] or 0) for r in right),
    }


def mint_only(family: str, seeds: int) -> Path:
    """The ``noisy_mc`` mints of an experiment's setup for ``family`` (its training problems,
    teacher and rollouts; no student): the labels alone, in a minute."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common
    import rationales

    setup = rationales.build_setup(rationales.parse_args(["--family", family]))
    setup.seeds = list(range(seeds))
    work = common.ROOT / "runs" / "experiments" / f"step-labels-{family}"
    for seed in setup.seeds:
        seed_dir = work / f"seed{seed}"
        train_file = seed_dir / "train.jsonl"
        train_file.unlink(missing_ok=True)
        common.write_problems(setup, train_file, "train", setup.n_train, 1000 + seed, set())
        common.mint(setup, "noisy_mc", seed, train_file, seed_dir)
    return work


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("work", type=Path, nargs="?", help="an experiment's work directory")
    p.add_argument("--family", help="mint the labels for this family's preset instead")
    p.add_argument("--seeds", type=int, default=3, help="with --family: seeds 0..N-1")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.family:
        args.work = mint_only(args.family, args.seeds)
    elif args.work is None:
        p.error("give a work directory or --family")
    seeds = sorted(args.work.glob("seed*/mints/noisy_mc-s*"))
    if not seeds:
        raise SystemExit(f"{args.work}: no noisy_mc mint (run the noisy_mc condition first)")
    result = {
        "work": str(args.work),
        "seeds": {m.name.rsplit("-s", 1)[1]: seed_counts(m) for m in seeds},
    }
    name = args.work.name
    out = (
        args.results_dir
        / f"{name if name.startswith('step-labels-') else 'step-labels-' + name}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["seeds"], indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
