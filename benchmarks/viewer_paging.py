"""Trace viewer paging on a large run: server start and deep page requests.

Writes N synthetic traces (default 100,000, in shards of 5,000, with realistic text and step
columns) to a temporary run, starts the viewer, and times over HTTP:
the start (building the light index), a page at offset 90,000, a filtered deep page, and a
trace's detail with its alternatives.

    .venv/bin/python benchmarks/viewer_paging.py [--traces 100000] [--shard 5000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tracemint.store import RunStore, atomic_write_json
from tracemint.view import ViewerThread

SAMPLES = 4


def _records(start: int, n: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        p, s = divmod(i, SAMPLES)
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        right = rng.random() < 0.6
        got = a + b if right else a + b + 1
        completion = (
            f"Step 1: Tom has {a} apples and buys {b} more.\n"
            f"Step 2: Together that is {a} + {b} = {got}.\nThe answer is {got}."
        )
        cut = completion.index("Step 2")
        steps = [
            {"text": completion[:cut].strip(), "start": 0, "end": cut - 1, "verdict": "unchecked"},
            {
                "text": completion[cut:],
                "start": cut,
                "end": len(completion),
                "verdict": "ok" if right else "wrong",
            },
        ]
        out.append(
            {
                "problem_id": f"p{p}",
                "question": f"Tom has {a} apples and buys {b} more. How many apples now? " * 3,
                "reference": str(a + b),
                "source": rng.choice(["gsm8k.jsonl", "math.jsonl", "synth:arith"]),
                "trace_id": f"t{i:07d}",
                "sample_index": s,
                "completion": completion,
                "answer": str(got),
                "reference_answer": str(a + b),
                "verdict": "correct" if right else "wrong",
                "pass_rate": rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]),
                "accepted": right,
                "drop_reason": None if right else "wrong",
                "steps": steps,
                "first_wrong_step": None if right else 1,
                "early_aoc": rng.random(),
            }
        )
    return out


def _get(url: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        body = json.loads(r.read())
    return time.perf_counter() - t0, body


def _timed(url: str, repeat: int = 5) -> tuple[float, float, Any]:
    times, body = [], None
    for _ in range(repeat):
        dt, body = _get(url)
        times.append(dt)
    return times[0], statistics.median(times), body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", type=int, default=100_000)
    ap.add_argument("--shard", type=int, default=5_000)
    args = ap.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "big")
        store.create()
        t0 = time.perf_counter()
        for k, start in enumerate(range(0, args.traces, args.shard)):
            n = min(args.shard, args.traces - start)
            store.write_shard(_records(start, n, rng), index=k)
        atomic_write_json(store.manifest_path, {"name": "big"})
        size = sum(p.stat().st_size for p in store.shards())
        print(
            f"wrote {args.traces} traces in {len(store.shards())} shards "
            f"({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        with ViewerThread(store.root) as v:
            start_s = time.perf_counter() - t0
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(
                f"server start (index build): {start_s * 1000:.0f} ms, "
                f"max RSS +{(rss1 - rss0) / 1024:.0f} MB"
            )
            off = min(90_000, max(0, args.traces - 50))
            cases = {
                f"page offset={off}": f"api/traces?offset={off}&limit=50",
                "page verdict=wrong offset=30000": "api/traces?verdict=wrong&offset=30000&limit=50",
                "page source+pass_rate+early_aoc": (
                    "api/traces?source=math.jsonl&min_pass_rate=0.5&probe=early_aoc&min=0.3"
                    "&offset=10000&limit=50"
                ),
                "summary": "api/summary",
            }
            for name, path in cases.items():
                first, median, body = _timed(v.url + path)
                extra = f"  total={body['total']}" if "total" in body else ""
                print(
                    f"{name:34s} first {first * 1000:6.1f} ms  "
                    f"median {median * 1000:6.1f} ms{extra}"
                )
            tid = f"t{off:07d}"
            first, median, body = _timed(v.url + f"api/trace/{tid}")
            print(
                f"{'trace detail + alternatives':34s} first {first * 1000:6.1f} ms  "
                f"median {median * 1000:6.1f} ms  alternatives={len(body['alternatives'])}"
            )


if __name__ == "__main__":
    main()
