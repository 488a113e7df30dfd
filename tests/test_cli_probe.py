"""``tracemint probe`` honours the run's recipe: its ``[probes] names`` and ``sample`` and each
probe's ``[probes.NAME]`` settings, with ``--set PROBE.KEY=VALUE`` overriding one for this
command. Probing again with defaults would overwrite columns computed with the recipe's
settings (and spend calls doing it), so the tests watch the columns and the server's counts.
Everything runs through the real CLI against the shipped test server.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest_server import StatsFn, apples_problems, server_recipe, start_test_server
from tracemint.augment.probe import parse_settings
from tracemint.cli import app
from tracemint.errors import ConfigError
from tracemint.store import RunStore

N_PROBLEMS = 10
SAMPLES = 2
RECIPE_FRACTIONS = [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StatsFn, Path]]:
    tmp = tmp_path_factory.mktemp("srv")
    problems = apples_problems(tmp / "problems.jsonl", 0, N_PROBLEMS)
    with start_test_server(answers=problems, accuracy=0.7, reasoning_mode="faithful") as (
        url,
        stats,
    ):
        yield url, stats, problems


def _mint(tmp: Path, url: str, problems: Path, **tables: dict[str, Any]) -> Path:
    recipe = server_recipe(
        tmp / "recipe.toml",
        base_url=url,
        problems=problems,
        teacher={"concurrency": 4, "backoff_base_s": 0.01},
        sampling={"temperature": 0.7, "max_tokens": 200},
        budget={"samples": SAMPLES},
        run={"shard_rows": 4, "flush_seconds": 0.2, "workers": 1},
        **tables,
    )
    res = CliRunner().invoke(app, ["run", str(recipe), "--no-progress"])
    assert res.exit_code == 0, res.output
    return tmp / "runs" / "srv"


@pytest.fixture(scope="module")
def with_probes(
    server: tuple[str, StatsFn, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A run whose recipe probes half its accepted traces with non-default settings."""
    url, _, problems = server
    return _mint(
        tmp_path_factory.mktemp("with"),
        url,
        problems,
        probes={"names": ["early"], "sample": 0.5},
        **{"probes.early": {"fractions": RECIPE_FRACTIONS}},
    )


@pytest.fixture(scope="module")
def without_probes(
    server: tuple[str, StatsFn, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    url, _, problems = server
    return _mint(tmp_path_factory.mktemp("without"), url, problems)


def _copy(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest)
    return dest


def _probe(run_dir: Path, *args: str) -> str:
    res = CliRunner().invoke(app, ["probe", str(run_dir), *args])
    assert res.exit_code == 0, res.output
    return res.output


def _early(run_dir: Path) -> dict[str, Any]:
    rows = RunStore(run_dir).read_traces(["trace_id", "early_fractions", "early_aoc"])
    return {r["trace_id"]: (r["early_fractions"], r["early_aoc"]) for r in rows.to_pylist()}


def test_recipe_settings_are_used_and_set_overrides_them(
    with_probes: Path, server: tuple[str, StatsFn, Path], tmp_path: Path
) -> None:
    _, stats, _ = server
    run_dir = _copy(with_probes, tmp_path / "run")
    minted = _early(run_dir)
    at_mint = {t: v for t, v in minted.items() if v[0] is not None}
    assert at_mint and len(at_mint) < len(minted)  # the recipe probed a sample
    assert all(f == RECIPE_FRACTIONS for f, _ in at_mint.values())

    # No --probes, no --sample: the recipe's names, sample and settings. Every call is the
    # one the run made, so the server is asked nothing and no column changes.
    calls = stats()["ok"]
    _probe(run_dir, "--no-progress")
    assert stats()["ok"] == calls
    assert _early(run_dir) == minted

    # More traces, still with the recipe's settings
    _probe(run_dir, "--sample", "1", "--all", "--no-progress")
    assert stats()["ok"] > calls
    wider = _early(run_dir)
    probed = {t: v for t, v in wider.items() if v[0] is not None}
    assert len(probed) > len(at_mint)
    assert all(f == RECIPE_FRACTIONS for f, _ in probed.values())
    assert {t: wider[t] for t in at_mint} == at_mint  # the recipe's results are kept

    # --set overrides the recipe for this command (JSON value), a string value needs no quotes
    _probe(
        run_dir,
        "--sample",
        "1",
        "--all",
        "--set",
        "early.fractions=[0, 1]",
        "--set",
        "early.cue=So the final answer is",
        "--no-progress",
    )
    overridden = _early(run_dir)
    assert set(overridden) == set(wider)
    assert {t for t, v in overridden.items() if v[0] is not None} == set(probed)
    assert all(overridden[t][0] == [0.0, 1.0] for t in probed)


def test_probe_named_on_the_command_line_with_set(without_probes: Path, tmp_path: Path) -> None:
    run_dir = _copy(without_probes, tmp_path / "run")
    _probe(
        run_dir, "--probes", "early", "--set", "early.fractions=[0.0, 0.25, 1.0]", "--no-progress"
    )
    rows = _early(run_dir)
    probed = [f for f, _ in rows.values() if f is not None]
    assert probed and all(f == [0.0, 0.25, 1.0] for f in probed)


def _error(run_dir: Path, *args: str) -> str:
    shards = {p.name: p.read_bytes() for p in RunStore(run_dir).shards()}
    res = CliRunner().invoke(app, ["probe", str(run_dir), "--no-progress", *args])
    assert res.exit_code == ConfigError.exit_code, res.output
    assert "Traceback" not in res.output and "bug" not in res.output, res.output
    assert res.output.count("error:") == 1, res.output
    assert {p.name: p.read_bytes() for p in RunStore(run_dir).shards()} == shards  # untouched
    return " ".join(res.output.split())


def test_bad_settings_error_cleanly(with_probes: Path, without_probes: Path) -> None:
    out = _error(with_probes, "--set", "early.fractionz=[0, 1]")
    assert "probes.early.fractionz: unknown key" in out and "fractions" in out
    out = _error(with_probes, "--set", "early.max_tokens=many")
    assert "probes.early.max_tokens" in out
    out = _error(with_probes, "--set", "early.fractions=[0.5, 2]")
    assert "probes.early.fractions" in out
    out = _error(with_probes, "--set", "early")
    assert "PROBE.KEY=VALUE" in out
    out = _error(with_probes, "--set", "filler.cue=x")  # filler is not run
    assert "probes.filler" in out
    out = _error(with_probes, "--probes", "nosuch")
    assert "nosuch" in out
    out = _error(without_probes)  # neither --probes nor [probes] names
    assert "--probes" in out and "[probes] names" in out


def test_parse_settings_reads_json_else_keeps_the_string() -> None:
    got = parse_settings(
        [
            "mistake.max_tokens=128",
            "hint.template=I think it is {target}. You?",
            "early.fractions=[0, 0.5]",
            "early.cue=",
            "filler.filler=true",
            "hint.offsets=[1,2]",
        ]
    )
    assert got == {
        "mistake": {"max_tokens": 128},
        "hint": {"template": "I think it is {target}. You?", "offsets": [1, 2]},
        "early": {"fractions": [0, 0.5], "cue": ""},
        "filler": {"filler": True},
    }
    with pytest.raises(ConfigError, match=r"PROBE\.KEY=VALUE"):
        parse_settings(["=3"])


def test_progress_bar_ticks_for_skipped_traces(without_probes: Path, tmp_path: Path) -> None:
    """The server's chains hold no ``a op b = c`` claim, so the mistake probe skips every
    trace: the bar must still reach its total, not stall at 0/N."""
    run_dir = _copy(without_probes, tmp_path / "run")
    out = _probe(run_dir, "--probes", "mistake", "--sample", "1")
    n = re.search(r"probed traces\s*│\s*(\d+)", out)
    assert n and int(n.group(1)) > 0, out
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert re.search(rf"probing.*\b{n.group(1)}/{n.group(1)}\b", plain), out
    rows = RunStore(run_dir).read_traces(["accepted", "mistake_skipped"]).to_pylist()
    skipped = [r for r in rows if r["mistake_skipped"] is not None]
    assert len(skipped) == int(n.group(1)) and all(r["accepted"] for r in skipped)
