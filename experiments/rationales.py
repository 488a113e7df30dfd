"""Experiment: what rationales, teacher noise and verification do to a tiny student.

    python experiments/rationales.py --family modular
    python experiments/rationales.py --family word_problems
    python experiments/rationales.py --family modular --ood compositional

Conditions (all from the ``noisy_gold`` teacher through ``tracemint run``): answer only,
gold rationales, noisy rationales unfiltered, noisy filtered by answer verification, by
answer + step verification, and the latter plus verified prefixes of wrong traces. Each
condition x seed mints, trains a tiny student (``tracemint train``) and evaluates it
(``tracemint eval``) on held-out problems of the trained difficulty (ID) and a harder one
(OOD). Writes ``experiments/results/rationales-FAMILY.json`` and a PNG plot beside it.

``--ood compositional`` (issue 20; families with a ``split`` option) replaces the length
split: training and ID problems use only the family's train combinations, OOD problems the
held-out ones at the same difficulty and knobs, written to ``rationales-FAMILY-compositional``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import report

# Family settings chosen so a 2-layer student can learn something in a few minutes: small
# numbers, short chains; OOD is the next difficulty (one more operation per problem).
PRESETS: dict[str, dict[str, Any]] = {
    # parity chains ((a op b) op c) mod 2: OOD has one more operation
    "modular": {"knobs": {"max_modulus": 2}, "id_difficulty": 1, "ood_difficulty": 2},
    # a x + b = c with small numbers: OOD has larger coefficients and constants
    "linear_equations": {
        "knobs": {"max_coefficient": 3, "max_constant": 10},
        "id_difficulty": 1,
        "ood_difficulty": 1,
        "ood_knobs": {"max_coefficient": 6, "max_constant": 30},
    },
    "word_problems": {
        "knobs": {"max_start": 20, "max_factor": 5},
        "id_difficulty": 1,
        "ood_difficulty": 2,
    },
}


# Families whose config has the compositional ``split`` option (train / heldout combinations).
COMPOSITIONAL = ("linear_equations", "modular")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--family", required=True, choices=sorted(PRESETS))
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per condition")
    p.add_argument(
        "--ood",
        choices=("length", "compositional"),
        default="length",
        help="OOD set: the preset's harder problems (default, the recorded runs) or held-out "
        "compositions at the trained difficulty, training on the rest "
        f"({', '.join(COMPOSITIONAL)})",
    )
    p.add_argument("--n-train", type=int, default=None, help="training problems per seed")
    p.add_argument("--n-eval", type=int, default=None, help="held-out problems per difficulty")
    p.add_argument("--samples", type=int, default=None, help="teacher samples per problem")
    p.add_argument("--noise", type=float, default=None, help="share of checkable steps slipped")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per student")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None, help="eval decoding budget")
    p.add_argument("--d-model", type=int, default=None, help="student width")
    p.add_argument("--layers", type=int, default=None, help="student depth")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    p.add_argument(
        "--dpo-lr-scale", type=float, default=None, help="DPO's lr = --lr times this (0.1)"
    )
    p.add_argument(
        "--conditions",
        default=None,
        help="comma-separated conditions, or all (default: the first suite's six)",
    )
    p.add_argument("--name", default=None, help="results name (default rationales-FAMILY)")
    p.add_argument("--results-dir", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--work-dir", type=Path, default=common.ROOT / "runs" / "experiments")
    p.add_argument("--label", default="", help="a note stored with the results (e.g. reduced)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the work directory: seeds it finished are read back, the rest are run",
    )
    p.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the results from the work directory of a stopped run",
    )
    return p.parse_args(argv)


def build_setup(args: argparse.Namespace) -> common.Setup:
    if args.seeds < 1:
        raise SystemExit("--seeds: at least 1")
    preset = PRESETS[args.family]
    setup = common.Setup(
        family=args.family,
        knobs=dict(preset["knobs"]),
        id_difficulty=preset["id_difficulty"],
        ood_difficulty=preset["ood_difficulty"],
        ood_knobs=dict(preset.get("ood_knobs", {})),
        seeds=list(range(args.seeds)),
    )
    if args.ood == "compositional":
        if args.family not in COMPOSITIONAL:
            raise SystemExit(f"--ood compositional: only for {', '.join(COMPOSITIONAL)}")
        # same length and knobs on both sides: the held-out combinations are the only change.
        # Training problems are written from ``knobs`` too, so they are train-split as well.
        setup.knobs["split"] = "train"
        setup.ood_knobs = {"split": "heldout"}
        setup.ood_difficulty = setup.id_difficulty
    overrides = {
        "n_train": args.n_train,
        "n_eval": args.n_eval,
        "samples": args.samples,
        "noise": args.noise,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "d_model": args.d_model,
        "layers": args.layers,
        "threads": args.threads,
        "dpo_lr_scale": args.dpo_lr_scale,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(setup, key, value)
    if args.conditions:
        known = [c.name for c in common.CONDITIONS]
        wanted = [c.strip() for c in args.conditions.split(",") if c.strip()]
        wanted = known if wanted == ["all"] else wanted
        unknown = [c for c in wanted if c not in known]
        if unknown:
            raise SystemExit(f"--conditions: unknown {unknown}; known: {known}")
        setup.conditions = wanted
    return setup


def results_name(args: argparse.Namespace) -> str:
    """``--name``, else rationales-FAMILY (plus -compositional for that OOD split, so it never
    overwrites the length split's record)."""
    suffix = "-compositional" if args.ood == "compositional" else ""
    return str(args.name or f"rationales-{args.family}{suffix}")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Results from a stopped run's work directory (same options as the run it was)."""
    setup = build_setup(args)
    name = results_name(args)
    work = args.work_dir / name
    eval_file = work / "eval.jsonl"
    runs: list[dict[str, Any]] = []
    seeds_done = []
    for seed in setup.seeds:
        got = common.collect_seed(setup, seed, eval_file, work)
        runs += got
        if len(got) == len(setup.conditions):
            seeds_done.append(seed)
    # wall time: from the held-out file (written first) to the last eval written
    evals = list((work / "evals").glob("*/eval.json"))
    wall = max(p.stat().st_mtime for p in evals) - eval_file.stat().st_mtime if evals else 0.0
    context = {"name": name, "setup": setup, "eval_file": eval_file, "load_before": ""}
    result = write_results(args, context, runs, seeds_done, wall)
    print(report.table(result["conditions"], {c.name: c.label for c in common.CONDITIONS}))
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.collect:
        return collect(args)
    setup = build_setup(args)
    common.pin_threads(setup.threads)
    name = results_name(args)
    work = args.work_dir / name
    eval_file = work / "eval.jsonl"
    runs: list[dict[str, Any]] = []
    seeds_done: list[int] = []
    earlier = 0.0  # wall seconds of the sessions a resumed run continues
    if args.resume and eval_file.is_file():
        for seed in setup.seeds:
            got = common.collect_seed(setup, seed, eval_file, work)
            if len(got) == len(setup.conditions):
                runs += got
                seeds_done.append(seed)
        previous = args.results_dir / f"{name}.json"
        if previous.is_file():
            earlier = float(json.loads(previous.read_text())["wall_seconds"])
    else:
        if work.exists():
            shutil.rmtree(work)  # every run starts clean: no result comes from an older run
        work.mkdir(parents=True)
        common.write_problems(setup, eval_file, "id", setup.n_eval, setup.eval_seed, set())
        common.write_problems(setup, eval_file, "ood", setup.n_eval, setup.eval_seed, set())
    held_out = {json.loads(line)["question"] for line in eval_file.read_text().splitlines()}
    load_before = uptime()
    t0 = time.perf_counter()
    context = {"name": name, "setup": setup, "eval_file": eval_file, "load_before": load_before}
    result = write_results(args, context, runs, seeds_done, earlier) if runs else {}
    for seed in setup.seeds:
        if seed in seeds_done:
            continue
        runs += common.run_seed(setup, seed, eval_file, held_out, work)
        seeds_done.append(seed)
        # written after every seed: a run stopped early still leaves what it measured
        wall = earlier + time.perf_counter() - t0
        result = write_results(args, context, runs, seeds_done, wall)
    summary = result["conditions"]
    labels = {c.name: c.label for c in common.CONDITIONS}
    print(report.table(summary, labels))
    print(f"wrote {args.results_dir / name}.json ({result['wall_seconds'] / 60:.1f} min)")
    return result


def write_results(
    args: argparse.Namespace,
    context: dict[str, Any],
    runs: list[dict[str, Any]],
    seeds_done: list[int],
    wall: float,
) -> dict[str, Any]:
    """The results json and plot for the seeds finished so far (atomic write)."""
    setup: common.Setup = context["setup"]
    name: str = context["name"]
    labels = {c.name: c.label for c in common.CONDITIONS}
    summary = report.summarize(runs, setup.conditions)
    result = {
        "experiment": name,
        "label": args.label,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "complete": sorted(seeds_done) == sorted(setup.seeds),
        "collected": bool(args.collect),
        "resumed": bool(args.resume),
        "seeds_done": seeds_done,
        "setup": common.setup_dict(setup),
        "student": runs[0]["student"] if runs else None,
        "conditions": summary,
        "runs": runs,
        "wall_seconds": round(wall, 1),
        "load": {"before": context["load_before"], "after": uptime()},
        "machine": {"cpus": _cpus(), "platform": platform.platform()},
        "environment": common.environment(setup.threads),
        "eval_file": str(context["eval_file"]),
        "majority_baseline": majority_baseline(context["eval_file"]),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{name}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    png = args.results_dir / f"{name}.png"
    report.plot(summary, labels, report.title_of(result), png, result["majority_baseline"])
    return result


def majority_baseline(eval_file: Path) -> dict[str, float]:
    """Per split (id, ood), the accuracy of always answering the most common held-out answer:
    the floor a student that ignores the question can reach."""
    from collections import Counter

    answers: dict[str, Counter[str]] = {}
    for line in eval_file.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        answers.setdefault(row["id"].split("-")[0], Counter())[row["answer"]] += 1
    return {d: c.most_common(1)[0][1] / sum(c.values()) for d, c in answers.items()}


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    run(parse_args())
