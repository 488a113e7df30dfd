"""Check that an evaluation's verdicts are ``tracemint verify``'s on the same outputs.

    python experiments/agreement.py runs/experiments/rationales-modular/evals/gold-s0

Writes the eval run's completions to JSONL, grades them with the real ``tracemint verify``
command and compares verdict by verdict. On a family problem the eval verdict comes from the
family's own strict check and ``verify`` uses the generic grader (docs/eval.md), so any
disagreement is printed with its completion rather than hidden.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

_COLUMNS = ["trace_id", "question", "completion", "reference", "verdict", "answer"]


def agreement(run_dir: Path, work: Path) -> dict[str, Any]:
    """Verdict agreement between an eval run and ``tracemint verify`` on its outputs."""
    from tracemint.store import RunStore

    rows = RunStore(run_dir).read_traces(columns=_COLUMNS).to_pylist()
    work.mkdir(parents=True, exist_ok=True)
    src, out = work / "outputs.jsonl", work / "graded.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    common.tracemint(["verify", str(src), "--out", str(out)], log=work / "verify.log")
    graded = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    pairs = list(zip(rows, graded, strict=True))
    differ = [
        {
            "trace_id": r["trace_id"],
            "eval": r["verdict"],
            "verify": g["verdict"],
            "completion": r["completion"][-120:],
            "reference": r["reference"],
        }
        for r, g in pairs
        if r["verdict"] != g["verdict"]
    ]
    return {
        "run": str(run_dir),
        "outputs": len(rows),
        "same_verdict": len(rows) - len(differ),
        # what accuracy counts: "correct" or not (wrong and unverifiable both score 0)
        "same_correct": sum(
            (r["verdict"] == "correct") == (g["verdict"] == "correct") for r, g in pairs
        ),
        "same_answer": sum(r["answer"] == g["extracted_answer"] for r, g in pairs),
        "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in {r["verdict"] for r in rows}},
        "differ": differ,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run_dir", type=Path, help="an eval run directory (RUNS_DIR/NAME)")
    p.add_argument("--work", type=Path, default=None, help="where to write the graded files")
    args = p.parse_args()
    result = agreement(args.run_dir, args.work or args.run_dir / "agreement")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
