"""The Ray runner against the shipped test server: same traces as the local runner, the
same resume, and a real two-process cluster that loses its worker node mid-run.

Every call is counted on the server (``GET /stats``), not by the client. Ray itself is kept
small (2 logical CPUs, 100-256 MB object stores): the machine is shared.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from conftest_server import apples_problems, server_recipe, start_test_server  # noqa: E402
from tracemint.cache import CallCache, call_key  # noqa: E402
from tracemint.config import load_recipe  # noqa: E402
from tracemint.errors import MissingDependencyError, TracemintError  # noqa: E402
from tracemint.records import stable_hash  # noqa: E402
from tracemint.runner.local import LocalRunner  # noqa: E402
from tracemint.runner.ray import RayRunner, host_cache_path  # noqa: E402
from tracemint.store import RunStore  # noqa: E402
from tracemint.teachers.base import Completion, GenerationRequest  # noqa: E402

# Ray Data's DataContext() warns about three of its own deprecated fields on first use,
# though nothing sets them (upstream: ray-project/ray#65302); ignored by their exact text.
# And the HTTP sessions Ray's driver-side code leaves to the garbage collector (an in-process
# ray.init; tracemint's teachers close theirs, test_teacher_* check).
RAY_DATACONTEXT_DEPRECATIONS = (
    "`use_push_based_shuffle` is deprecated! Configure `shuffle_strategy` instead.",
    "`use_polars` is deprecated, please configure `use_polars_sort`  instead.",
    "`use_arrow_tensor_v2` is deprecated. Configure `arrow_fixed_shape_tensor_format` instead. ",
)
pytestmark = [
    *(
        pytest.mark.filterwarnings(f"ignore:{re.escape(m.strip())}:DeprecationWarning")
        for m in RAY_DATACONTEXT_DEPRECATIONS
    ),
    pytest.mark.filterwarnings("ignore:Unclosed client session:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:Unclosed connector:ResourceWarning"),
]

# What differs between two runs of the same recipe without changing a trace: when and how
# fast a call came back, and whether this run's cache already had it.
TIMING_COLUMNS = {"latency_s", "cache_hit"}
SAMPLES = 4


def _write_problems(path: Path, start: int, stop: int) -> Path:
    return apples_problems(path, start, stop)


def _recipe(
    root: Path,
    base_url: str,
    problems: Path,
    *,
    concurrency: int = 8,
    inflight: int = 16,
    teacher: dict[str, object] | None = None,
) -> Path:
    return server_recipe(
        root / "recipe.toml",
        base_url=base_url,
        problems=problems,
        teacher={
            "concurrency": concurrency,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.2,
            **(teacher or {}),
        },
        sampling={"temperature": 0.7, "max_tokens": 200},
        budget={"samples": SAMPLES},
        run={"shard_rows": 16, "flush_seconds": 0.2, "max_inflight_problems": inflight},
    )


def content_hashes(run_dir: Path) -> Counter[str]:
    """One hash per trace over every column that the recipe and seeds decide."""
    table = RunStore(run_dir).read_traces()
    keep = [c for c in table.column_names if c not in TIMING_COLUMNS]
    return Counter(stable_hash(row) for row in table.select(keep).to_pylist())


def _assert_every_problem_once(run_dir: Path, n_problems: int) -> None:
    table = RunStore(run_dir).read_traces(["problem_id", "trace_id"])
    ids = table.column("trace_id").to_pylist()
    assert len(set(ids)) == len(ids), "a trace was written twice"
    per_problem = Counter(table.column("problem_id").to_pylist())
    assert set(per_problem) == {f"q{i}" for i in range(n_problems)}, "a problem was lost"
    assert set(per_problem.values()) == {SAMPLES}


@pytest.fixture(scope="module")
def private_ray() -> Iterator[None]:
    """One small in-process Ray instance for the module's quick tests (it takes ~10 s)."""
    # Token authentication is Ray's default; this instance lives on 127.0.0.1 for a test.
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
        # collect what Ray left behind here, not in some later module's test
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old


def test_ray_and_local_mint_the_same_traces(tmp_path: Path, private_ray: None) -> None:
    problems = _write_problems(tmp_path / "problems.jsonl", 0, 40)
    with start_test_server(answers=problems, accuracy=0.5) as (url, stats):
        local = LocalRunner(
            load_recipe(_recipe(tmp_path / "local", url, problems)), progress=False
        ).run()
        ray_m = RayRunner(
            load_recipe(_recipe(tmp_path / "ray", url, problems, inflight=4)),
            progress=False,
            actors=2,
            actor_cpus=0.5,
        ).run()
        s = stats()
    local_dir, ray_dir = tmp_path / "local" / "runs" / "srv", tmp_path / "ray" / "runs" / "srv"
    hashes = content_hashes(ray_dir)
    assert hashes == content_hashes(local_dir)
    assert sum(hashes.values()) == 40 * SAMPLES and max(hashes.values()) == 1
    # the traces are not all alike: the comparison could have failed
    assert {"correct", "wrong"} <= set(ray_m["counts"]["verdicts"])
    assert ray_m["counts"] == local["counts"] and ray_m["complete"]
    assert ray_m["recipe_fingerprint"] == local["recipe_fingerprint"]
    # each runner asked every request once (two run dirs, two caches)
    assert set(s["by_key"].values()) == {2}
    assert len(RunStore(ray_dir).shards()) > 1  # batches from several actors, several shards


def test_ray_resume_repeats_no_call(tmp_path: Path, private_ray: None) -> None:
    problems = _write_problems(tmp_path / "problems.jsonl", 0, 20)
    with start_test_server(answers=problems, accuracy=0.5) as (url, stats):
        recipe = load_recipe(_recipe(tmp_path, url, problems, inflight=4))
        first = RayRunner(recipe, progress=False, actors=2, actor_cpus=0.5).run()
        assert first["counts"]["problems"] == 20
        _write_problems(problems, 20, 40)  # the source grows: the recipe is the same
        with pytest.raises(Exception, match="--resume"):
            RayRunner(recipe, progress=False, actors=2, actor_cpus=0.5).run()
        second = RayRunner(recipe, resume=True, progress=False, actors=2, actor_cpus=0.5).run()
        after = stats()
        # the local runner resumes the Ray runner's run too: nothing left, nothing sent
        third = LocalRunner(recipe, resume=True, progress=False).run()
        assert stats()["ok"] == after["ok"]
    last = second["sessions"][-1]
    assert last["problems_skipped"] == 20 and last["problems_minted"] == 20
    assert last["new_calls"] == 20 * SAMPLES
    assert after["ok"] == 40 * SAMPLES and set(after["by_key"].values()) == {1}
    assert third["sessions"][-1]["problems_minted"] == 0 and third["complete"]
    _assert_every_problem_once(recipe.run_dir(), 40)


def test_a_teacher_error_in_an_actor_stops_the_run_as_locally(
    tmp_path: Path, private_ray: None
) -> None:
    """An error raised inside an actor reaches the driver as the same exception the local
    runner raises, and the manifest records the stop."""
    problems = _write_problems(tmp_path / "problems.jsonl", 0, 8)
    with start_test_server(answers=problems, require_key="sk-test") as (url, _):
        errors = []
        for name in ("local", "ray"):
            recipe = load_recipe(_recipe(tmp_path / name, url, problems, inflight=4))
            runner: Any = (
                LocalRunner(recipe, progress=False)
                if name == "local"
                else RayRunner(recipe, progress=False, actors=1, actor_cpus=0.5)
            )
            with pytest.raises(TracemintError) as info:
                runner.run()
            errors.append(info.value)
            manifest = RunStore(recipe.run_dir()).read_manifest()
            assert not manifest["complete"]
            assert manifest["sessions"][-1]["status"] == f"stopped: {type(info.value).__name__}"
    local_error, ray_error = errors
    assert type(ray_error) is type(local_error)
    assert str(ray_error) == str(local_error)


def test_actors_get_the_api_key_the_driver_has(
    tmp_path: Path, private_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray's worker processes were started before this variable existed: only the runner
    handing it over lets the actors authenticate."""
    monkeypatch.setenv("TRACEMINT_RAY_TEST_KEY", "sk-test")
    problems = _write_problems(tmp_path / "problems.jsonl", 0, 8)
    with start_test_server(answers=problems, require_key="sk-test") as (url, stats):
        path = _recipe(
            tmp_path,
            url,
            problems,
            inflight=4,
            teacher={"api_key_env": "TRACEMINT_RAY_TEST_KEY"},
        )
        m = RayRunner(load_recipe(path), progress=False, actors=2, actor_cpus=0.5).run()
        s = stats()
    assert m["complete"] and m["counts"]["problems"] == 8
    assert s["ok"] == 8 * SAMPLES and not s["rejected"]
    assert "sk-test" not in json.dumps(m)  # the key never reaches the manifest


def test_without_ray_installed_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import ray`` failing (as where the extra is not installed) is a clear error that
    names the pip command, before the run directory is touched."""
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    problems = _write_problems(tmp_path / "problems.jsonl", 0, 2)
    recipe = load_recipe(_recipe(tmp_path, "http://127.0.0.1:9/v1", problems))
    with pytest.raises(MissingDependencyError, match=r"pip install 'tracemint\[ray\]'"):
        RayRunner(recipe, progress=False).run()
    assert not (tmp_path / "runs").exists()


def test_cache_refresh_sees_other_processes_calls(tmp_path: Path) -> None:
    """Two caches on one file, as two actors on one host: a key committed by one is a
    filter miss for the other until it refreshes (then a hit, no repeated call)."""
    path = tmp_path / "cache.sqlite"
    a, b = CallCache(path), CallCache(path)
    req = GenerationRequest(messages=({"role": "user", "content": "1+1?"},), seed=3)
    key = call_key({"teacher": "t"}, req)
    a.put(key, {"teacher": "t"}, req, Completion(text="2"))
    a.commit()
    assert b.get(key) is None  # the filter only knows what was there when b opened
    b.refresh()
    hit = b.get(key)
    assert hit is not None and hit.text == "2"
    b.refresh()  # nothing new: a no-op
    assert b.get(key) is not None
    a.close()
    b.close()


def test_actor_cache_file_is_per_host(tmp_path: Path) -> None:
    """SQLite WAL is for one host: actors off the driver's host get a file of their own."""
    path = tmp_path / "cache.sqlite"
    assert host_cache_path(path, socket.gethostname()) == path
    other = host_cache_path(path, "driver-host-that-is-not-this-one")
    assert other.parent == tmp_path and other != path
    assert other.name.startswith("cache.") and other.suffix == ".sqlite"


def test_unknown_runner_is_a_config_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tracemint.cli import app

    problems = _write_problems(tmp_path / "problems.jsonl", 0, 2)
    recipe = _recipe(tmp_path, "http://127.0.0.1:9/v1", problems)
    res = CliRunner().invoke(app, ["run", str(recipe), "--runner", "spark"])
    assert res.exit_code == 2, res.output  # ConfigError
    assert "unknown runner 'spark'" in res.output
    assert not (tmp_path / "runs").exists()  # nothing was touched


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(root: int) -> dict[int, str]:
    """pid -> command line of a process and all its live descendants (a raylet's workers
    are its children, not members of its process group)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,args="], capture_output=True, text=True)
    children: dict[int, list[tuple[int, str]]] = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and not parts[2].startswith("Z"):
            children.setdefault(int(parts[1]), []).append((int(parts[0]), parts[3]))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for pid, args in children.get(todo.pop(), []):
            found[pid] = args
            todo.append(pid)
    return found


class LocalCluster:
    """A Ray head and one worker node: two ``ray start --block`` process groups."""

    def __init__(self) -> None:
        # Unix socket paths must stay short: a temp dir of our own, not pytest's.
        self.tmp = Path(tempfile.mkdtemp(prefix="tmray", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        bin_dir = Path(sys.executable).parent
        self.ray_cli = str(bin_dir / "ray")
        # Notice a dead node in ~2 s rather than Ray's default ~30 s.
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "disabled",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "500",
            "RAY_health_check_failure_threshold": "3",
        }

    def _start(self, name: str, args: list[str]) -> None:
        ports = [
            f"--node-manager-port={_free_port()}",
            f"--object-manager-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
        ]
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen(
            [
                self.ray_cli,
                "start",
                *args,
                "--node-ip-address=127.0.0.1",
                "--num-cpus=2",
                f"--object-store-memory={100 * 1024**2}",
                f"--temp-dir={self.tmp / name}",
                "--disable-usage-stats",
                "--log-style=record",
                "--block",
                *ports,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # its own process group: raylet and workers die with it
        )
        log.close()

    def _wait_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"ray {name} exited: {self.log(name)[-2000:]}")
            out = subprocess.run(
                [self.ray_cli, "status", f"--address={self.address}"],
                capture_output=True,
                text=True,
                env=self.env,
            )
            if out.stdout.count("node_") >= n:
                return
            time.sleep(1)
        raise RuntimeError(f"ray cluster did not reach {n} nodes: {out.stdout}{out.stderr}")

    def start(self) -> None:
        self._start(
            "head",
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--dashboard-port={_free_port()}",
            ],
        )
        self._wait_nodes(1)
        self._start("worker", [f"--address={self.address}"])
        self._wait_nodes(2)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL a node as a lost machine would go: its ``ray start``, raylet, and every
        worker process it spawned, at once."""
        p = self.procs[name]
        pids = [p.pid, *_tree(p.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)  # freeze first, so none reacts to the others
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    def stop(self) -> None:
        for name in ("worker", "head"):
            p = self.procs.get(name)
            if p is None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=5)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
            self.kill(name)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.mark.slow
def test_killing_a_worker_node_loses_and_duplicates_nothing(
    tmp_path: Path, cluster: LocalCluster
) -> None:
    n_problems, concurrency = 60, 2
    problems = _write_problems(tmp_path / "problems.jsonl", 0, n_problems)
    with start_test_server(answers=problems, accuracy=0.5, latency=0.25) as (url, stats):
        recipe_path = _recipe(tmp_path, url, problems, concurrency=concurrency, inflight=2)
        log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracemint.cli",
                "run",
                str(recipe_path),
                "--no-progress",
                "--runner",
                "ray",
                "--address",
                cluster.address,
                "--actors",
                "4",
                "--actor-cpus",
                "0.5",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cluster.env,
        )
        log.close()
        try:
            # Kill once the worker node hosts minting actors and a quarter of the calls are
            # answered: its actors then have batches in flight.
            worker = cluster.procs["worker"].pid
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and run.poll() is None:
                on_worker = [a for a in _tree(worker).values() if "MintActor" in a]
                if on_worker and stats()["ok"] >= n_problems * SAMPLES // 4:
                    break
                time.sleep(0.1)
            killed_at = stats()["ok"]
            assert run.poll() is None, "the run ended before the kill"
            on_worker = [a for a in _tree(worker).values() if "MintActor" in a]
            assert on_worker, "no minting actor was placed on the worker node"
            cluster.kill("worker")
            rc = run.wait(timeout=100)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        s = stats()
    output = (tmp_path / "run.log").read_text(errors="replace")
    assert rc == 0, output[-3000:]
    assert killed_at < n_problems * SAMPLES, "the kill landed mid-run"
    run_dir = tmp_path / "runs" / "srv"
    _assert_every_problem_once(run_dir, n_problems)
    manifest = RunStore(run_dir).read_manifest()
    assert manifest["complete"] and manifest["counts"]["problems"] == n_problems
    # Requests the server received more than once (answered or cut off by the kill).
    repeated = sum(c - 1 for c in s["by_key_received"].values())
    assert len(s["by_key"]) == n_problems * SAMPLES
    # Only calls in flight on the dead node's actors (actors x concurrency) may repeat;
    # what they had saved is answered from the cache by the actors that retried them.
    assert repeated <= len(on_worker) * concurrency
    session = manifest["sessions"][-1]
    print(
        f"\nkilled the worker node at {killed_at}/{n_problems * SAMPLES} answered calls; "
        f"{repeated} requests repeated; {session['cached_calls']} traces from the cache; "
        f"ray: {session['ray']}; run {session['wall_s']} s"
    )
