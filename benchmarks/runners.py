"""The local runner and the Ray runner on the same recipe against the shipped test server.

    python benchmarks/runners.py --problems 200 --samples 4 --latency 0.1 --concurrency 16

Starts the test server in a subprocess (its latency stands in for an inference server),
then mints the same recipe with ``LocalRunner`` (one process, ``concurrency`` requests in
flight) and with ``RayRunner`` on a private Ray instance: first with the same requests in
flight split over 2 actors, then with 4 actors at that per-actor concurrency (what a
cluster adds: more processes, each with its own HTTP session and concurrency).
Prints wall time, traces/s and the ratio to the local run, all measured in this one run,
plus Ray's start-up (``ray.init``) and a Ray run's fixed cost (a 2-problem run: actor
start-up, dataset planning), so the ratio can be read for longer runs too. Every run dir is
fresh: no call comes from a cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"


def _problems(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            question = f"Tom has {i} apples and buys {i + 3} more. How many now? (#{i})"
            f.write(json.dumps({"id": f"q{i}", "question": question, "answer": str(2 * i + 3)}))
            f.write("\n")
    return path


def _recipe(root: Path, url: str, problems: Path, args: argparse.Namespace, conc: int) -> Any:
    from tracemint.config import load_recipe

    root.mkdir(parents=True)
    path = root / "recipe.toml"
    path.write_text(
        f"""
name = "bench"
runs_dir = {json.dumps(str(root / "runs"))}
[source]
type = "file"
path = {json.dumps(str(problems))}
id_field = "id"
[teacher]
type = "openai"
model = "test-model"
base_url = {json.dumps(url)}
concurrency = {conc}
[sampling]
temperature = 0.7
max_tokens = 200
[budget]
samples = {args.samples}
"""
    )
    return load_recipe(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--problems", type=int, default=200)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight, local run")
    args = p.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private instance on 127.0.0.1

    import ray

    from tracemint.runner.local import LocalRunner
    from tracemint.runner.ray import RayRunner
    from tracemint.testing.server import spawn, stop

    tmp = Path(tempfile.mkdtemp(prefix="tm-bench-runners-"))
    problems = _problems(tmp / "problems.jsonl", args.problems)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    server, root = spawn(["--latency", str(args.latency), "--answers", str(problems)], env)
    url = f"{root}/v1"
    rows: list[tuple[str, float, int, str]] = []
    try:
        t0 = time.perf_counter()
        m = LocalRunner(
            _recipe(tmp / "local", url, problems, args, args.concurrency), progress=False
        ).run()
        rows.append(("local", time.perf_counter() - t0, m["counts"]["traces"], ""))

        t0 = time.perf_counter()
        ray.init(
            num_cpus=2,
            object_store_memory=256 * 1024**2,
            include_dashboard=False,
            log_to_driver=False,
        )
        ray_init = time.perf_counter() - t0
        per_actor = max(1, args.concurrency // 2)
        # The fixed cost of one Ray run (actor start-up, dataset planning): 2 problems.
        few = _problems(tmp / "few.jsonl", 2)
        t0 = time.perf_counter()
        RayRunner(
            _recipe(tmp / "ray-fixed", url, few, args, per_actor),
            progress=False,
            actors=2,
            actor_cpus=0.5,
        ).run()
        fixed = time.perf_counter() - t0
        for name, actors in (("ray, 2 actors", 2), ("ray, 4 actors", 4)):
            recipe = _recipe(tmp / name.replace(", ", "-"), url, problems, args, per_actor)
            t0 = time.perf_counter()
            m = RayRunner(recipe, progress=False, actors=actors, actor_cpus=0.5).run()
            wall = time.perf_counter() - t0
            note = f"{actors} x {per_actor} in flight"
            rows.append((name, wall, m["counts"]["traces"], note))
        ray.shutdown()
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    ceiling = args.concurrency / args.latency
    print(
        f"{args.problems} problems x {args.samples} samples, server latency {args.latency} s, "
        f"local concurrency {args.concurrency} (ceiling {ceiling:.0f} calls/s); "
        f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"ray.init (private instance, not in the times below): {ray_init:.1f} s")
    print(f"fixed cost of a Ray run (2 problems, 2 actors; in the times below): {fixed:.1f} s")
    local_wall = rows[0][1]
    print(f"{'runner':<16}{'wall s':>8}{'traces/s':>10}{'vs local':>10}  note")
    for name, wall, traces, note in rows:
        print(f"{name:<16}{wall:>8.1f}{traces / wall:>10.0f}{local_wall / wall:>10.2f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
