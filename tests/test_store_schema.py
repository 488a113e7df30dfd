"""One schema per run: every shard carries every column, whatever added it and when.

Outside readers take a run's schema from one shard: ``pandas.read_parquet`` of the folder and
``pyarrow.dataset`` silently drop a column that only later shards have, Hugging Face
``datasets`` refuses the run outright. So a probe run on a sample of traces (some shards hold
no probed trace), or an optional column that appears in some minting batches only, must
leave every shard with the same schema. A run is minted against the shipped test server,
probed through the real CLI, and read back by each of those readers; a probe command killed
mid-way (SIGKILL of a subprocess, and every kill point rebuilt from the shards) must leave
readable shards that the next command converges.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint.augment.probe import probe_run
from tracemint.cli import app
from tracemint.stages import probe_sample
from tracemint.store import RunStore

N_PROBLEMS = 12
SAMPLES = 2
EARLY = ("early_fractions", "early_answers", "early_curve", "early_aoc")
_SRC = str(Path(__file__).resolve().parent.parent / "src")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("srv")
    problems = apples_problems(tmp / "problems.jsonl", 0, N_PROBLEMS)
    # latency: the SIGKILL test needs a probe command that is still working when killed
    with start_test_server(
        answers=problems, accuracy=0.7, reasoning_mode="faithful", latency=0.05
    ) as (url, _):
        yield url, problems


@pytest.fixture(scope="module")
def minted(server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of several small shards, minted without probes (kept pristine)."""
    url, problems = server
    tmp = tmp_path_factory.mktemp("mint")
    recipe = server_recipe(
        tmp / "recipe.toml",
        base_url=url,
        problems=problems,
        teacher={"concurrency": 4, "backoff_base_s": 0.01},
        sampling={"temperature": 0.7, "max_tokens": 200},
        budget={"samples": SAMPLES},
        # one problem per shard (a shard is written as soon as it holds shard_rows traces):
        # which shards hold a sampled trace then depends on trace ids only, not on timing
        run={"shard_rows": SAMPLES, "flush_seconds": 5, "workers": 1},
    )
    res = CliRunner().invoke(app, ["run", str(recipe), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dir = tmp / "runs" / "srv"
    assert len(RunStore(run_dir).shards()) == N_PROBLEMS
    return run_dir


def _copy(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


def _schemas(run_dir: Path) -> list[pa.Schema]:
    return [pq.read_schema(p) for p in RunStore(run_dir).shards()]


def _probe(run_dir: Path, *args: str) -> None:
    res = CliRunner().invoke(
        app, ["probe", str(run_dir), "--probes", "early", "--no-progress", *args]
    )
    assert res.exit_code == 0, res.output


def _shards_with_probes(run_dir: Path) -> list[bool]:
    """Per shard: whether any of its traces has an early-answering result."""
    out = []
    for p in RunStore(run_dir).shards():
        names = pq.read_schema(p).names
        out.append(
            "early_aoc" in names
            and pq.read_table(p, columns=["early_aoc"]).column("early_aoc").null_count
            < pq.read_metadata(p).num_rows
        )
    return out


def _per_shard_probed(run_dir: Path) -> list[list[bool]]:
    return [
        [v is not None for v in pq.read_table(p, columns=["early_aoc"]).column(0).to_pylist()]
        for p in RunStore(run_dir).shards()
    ]


def test_probing_a_sample_leaves_one_schema_every_reader_sees(
    minted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _copy(minted, tmp_path / "run")
    _probe(run_dir, "--sample", "0.3", "--all")
    probed = _shards_with_probes(run_dir)
    assert any(probed) and not all(probed), probed  # some shards hold no probed trace
    schemas = _schemas(run_dir)
    assert all(s.equals(schemas[0]) for s in schemas), [s.names for s in schemas]
    assert set(EARLY) <= set(schemas[0].names)
    for name in EARLY:  # typed, never Arrow's null type, even in shards where all are null
        assert schemas[0].field(name).type != pa.null(), name

    ours = RunStore(run_dir).read_traces().to_pylist()
    assert len(ours) == N_PROBLEMS * SAMPLES
    expect = {r["trace_id"]: r["early_aoc"] for r in ours}
    assert sum(v is not None for v in expect.values()) > 0

    frame = __import__("pandas").read_parquet(run_dir / "traces")
    assert set(EARLY) <= set(frame.columns) and len(frame) == len(ours)
    got = {
        t: (None if a != a else a)  # pandas reads a null double as NaN
        for t, a in zip(frame["trace_id"], frame["early_aoc"], strict=True)
    }
    assert got == expect

    table = ds.dataset(run_dir / "traces", format="parquet").to_table()
    assert set(EARLY) <= set(table.column_names) and table.num_rows == len(ours)
    got = dict(zip(table["trace_id"].to_pylist(), table["early_aoc"].to_pylist(), strict=True))
    assert got == expect

    # Hugging Face datasets, fully offline (its settings are read when it is imported)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    files = sorted(str(p) for p in (run_dir / "traces").glob("part-*.parquet"))
    dset = datasets.load_dataset(
        "parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert dset.num_rows == len(ours) and set(EARLY) <= set(dset.column_names)
    assert dict(zip(dset["trace_id"], dset["early_aoc"], strict=True)) == expect

    if importlib.util.find_spec("duckdb") is not None:  # not a dependency: checked if present
        import duckdb

        n = duckdb.sql(
            f"select count(early_aoc) from read_parquet('{run_dir}/traces/part-*.parquet')"
        ).fetchone()
        assert n is not None and n[0] == sum(v is not None for v in expect.values())


def _run_to_kill(run_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable,
        "-c",
        "from tracemint.cli import app; app()",
        "probe",
        str(run_dir),
        "--probes",
        "early",
        "--all",
        "--sample",
        "0.5",
        "--no-progress",
    ]
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_sigkill_mid_probe_then_rerun_converges(minted: Path, tmp_path: Path) -> None:
    run_dir = _copy(minted, tmp_path / "run")
    before = RunStore(run_dir).read_traces().to_pylist()
    log = tmp_path / "probe.log"
    proc = _run_to_kill(run_dir, log)
    deadline = time.monotonic() + 120
    try:
        while not any(_shards_with_probes(run_dir)):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    schemas = _schemas(run_dir)
    assert any("early_aoc" in s.names for s in schemas), "killed before any shard was probed"
    assert not all("early_aoc" in s.names for s in schemas), "killed after every shard had"

    # every shard reads, nothing is lost, the probed columns read as nulls elsewhere
    for p in RunStore(run_dir).shards():
        pq.read_table(p)
    mid = RunStore(run_dir).read_traces().to_pylist()
    assert [{k: r[k] for k in before[0]} for r in mid] == before

    _probe(run_dir, "--all", "--sample", "0.5")
    schemas = _schemas(run_dir)
    assert all(s.equals(schemas[0]) for s in schemas)
    after = RunStore(run_dir).read_traces().to_pylist()
    assert [{k: r[k] for k in before[0]} for r in after] == before
    answered = [
        r
        for r in after
        if r["answer"] is not None and not r["truncated"] and probe_sample(r["trace_id"], 0.5)
    ]
    assert answered and all(r["early_aoc"] is not None for r in answered)
    assert any(not any(s) for s in _per_shard_probed(run_dir))  # a shard holds none
    whole = ds.dataset(run_dir / "traces", format="parquet").to_table()
    assert whole.column("early_aoc").null_count == len(after) - len(answered)


def test_every_kill_point_converges_to_the_uninterrupted_run(
    minted: Path, server: tuple[str, Path], tmp_path: Path
) -> None:
    """A probe command killed after its k-th shard replacement leaves the first k shards
    new and the rest old (each replacement is atomic); from every such state a rerun gives
    the same run, shard for shard, as a probe command that was never interrupted."""
    done = _copy(minted, tmp_path / "done")
    _probe(done, "--sample", "0.5")
    final = RunStore(done).shards()
    original = RunStore(minted).shards()
    assert len(final) == len(original)
    want = [pq.read_table(p) for p in final]
    assert all(t.schema == want[0].schema for t in want)
    for k in range(1, len(final)):
        run_dir = _copy(minted, tmp_path / f"k{k}")
        for p in final[:k]:
            shutil.copyfile(p, run_dir / "traces" / p.name)
        store = RunStore(run_dir)
        assert len(store.read_traces()) == N_PROBLEMS * SAMPLES  # mixed shards read
        probe_run(run_dir, ["early"], 0.5)
        got = [pq.read_table(p) for p in RunStore(run_dir).shards()]
        assert [t.schema for t in got] == [t.schema for t in want]
        assert got == want, k


def _rows(i: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"problem_id": f"p{i}", "trace_id": f"t{i}-{j}", **extra} for j in range(3)]


def test_minting_batches_that_bring_new_columns_share_one_schema(tmp_path: Path) -> None:
    """Batches of a minting run differ: an optional column appears in a later batch only, or
    is all null (Arrow's null type) in one batch and typed in another, or int in one and
    float in another. Each write leaves the whole run in one schema."""
    store = RunStore(tmp_path / "run")
    store.create()
    store.write_shard(_rows(0))
    store.write_shard(_rows(1, mc_score=None, xcheck=None))
    store.write_shard(_rows(2, mc_score=1, xcheck="7"))
    store.write_shard(_rows(3, mc_score=0.5, extra_list=[{"a": 1}]))
    store.write_shard(_rows(4, extra_list=None))
    schemas = _schemas(store.root)
    assert len(schemas) == 5 and all(s.equals(schemas[0]) for s in schemas)
    s = schemas[0]
    assert s.field("mc_score").type == pa.float64()
    assert s.field("xcheck").type == pa.string()
    assert s.field("extra_list").type == pa.list_(pa.struct([("a", pa.int64())]))
    assert s.field("problem_id").type == pa.string()  # documented columns keep their types
    table = ds.dataset(store.traces_dir, format="parquet").to_table()
    assert table.num_rows == 15
    assert table.column("mc_score").to_pylist() == [None] * 6 + [1.0] * 3 + [0.5] * 3 + [None] * 3
    assert table.column("xcheck").to_pylist()[6:9] == ["7"] * 3
    # a write whose types clash with the run's is refused with the column named, not stored
    from tracemint.errors import RunError

    with pytest.raises(RunError, match="xcheck"):
        store.write_shard(_rows(5, xcheck=[1, 2]))
    assert len(store.shards()) == 5


def test_a_probe_column_no_trace_could_fill_is_still_typed(tmp_path: Path) -> None:
    """Every trace skipped by a probe: its columns are all null, yet typed as the probe
    declares them (a reader that unions runs, or filters on the column, needs the type)."""
    from tracemint.probes import probes

    store = RunStore(tmp_path / "run")
    store.create()
    for i in range(2):
        rows = _rows(i)
        for r in rows:
            r.update(probes.get("mistake")().skipped("no arithmetic claim to corrupt"))
        store.write_shard(rows)
    for s in _schemas(store.root):
        assert s.field("mistake_flipped").type == pa.bool_()
        assert s.field("mistake_step").type == pa.int64()
        assert s.field("mistake_skipped").type == pa.string()
    frame = __import__("pandas").read_parquet(store.traces_dir)
    assert frame["mistake_skipped"].tolist() == ["no arithmetic claim to corrupt"] * len(frame)
