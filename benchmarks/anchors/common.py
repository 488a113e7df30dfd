"""What every anchor driver shares: the command line and the one-line JSON result.

A driver runs inside its anchor's own virtual environment (not the repo's), so this module
imports nothing beyond the standard library. ``vs_anchors.py`` runs a driver as::

    VENV/bin/python benchmarks/anchors/NAME_driver.py --prompts P --base-url URL \
        --model M --concurrency C --max-tokens T --temperature 0.7 --work DIR

and reads the last stdout line: ``{"records": n, "version": "x.y.z"}``. The work directory
holds the anchor's cache; the same directory on a rerun is what "resume" means for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--prompts", required=True, help="JSONL with a 'question' field per row")
    p.add_argument("--base-url", required=True, help="OpenAI-compatible root, up to /v1")
    p.add_argument("--model", default="tracemint-test")
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--max-tokens", type=int, required=True)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--work", required=True, help="the anchor's cache / output directory")
    return p.parse_args()


def read_questions(path: str) -> list[str]:
    with open(path) as f:
        return [json.loads(line)["question"] for line in f if line.strip()]


def report(records: int, version: str) -> None:
    """The result line the benchmark parses (always the last line on stdout)."""
    sys.stdout.flush()
    print(json.dumps({"records": records, "version": version}), flush=True)


def work_dir(path: str) -> Path:
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    return d
