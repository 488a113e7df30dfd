"""Generated problems end to end: `tracemint generate`, the `generate` source, family grading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest_server import start_test_server
from tracemint.cli import app
from tracemint.config import load_recipe
from tracemint.errors import ConfigError
from tracemint.runner.local import LocalRunner
from tracemint.sources.base import create_source
from tracemint.stages import verify
from tracemint.store import RunStore


def _generate(tmp_path: Path, *extra: str) -> tuple[Path, list[dict[str, object]]]:
    out = tmp_path / "gen.jsonl"
    res = CliRunner().invoke(
        app,
        ["generate", "--family", "modular", "--n", "30", "--seed", "7", "--out", str(out), *extra],
    )
    assert res.exit_code == 0, res.output
    return out, [json.loads(line) for line in out.read_text().splitlines()]


def test_generate_cli_is_deterministic_and_validates_knobs(tmp_path: Path) -> None:
    _, a = _generate(tmp_path, "--difficulty", "2", "--max-modulus=13")
    _, b = _generate(tmp_path, "--difficulty", "2", "--max-modulus=13")
    assert a == b and len({r["question"] for r in a}) == 30
    assert all(r["config"] == {"difficulty": 2, "max_modulus": 13} for r in a)
    assert all(str(r["rationale"]).endswith(f"The answer is {r['answer']}.") for r in a)
    res = CliRunner().invoke(
        app, ["generate", "--family", "modular", "--out", str(tmp_path / "x"), "--depth", "3"]
    )
    assert res.exit_code != 0 and "depth" in res.output
    res = CliRunner().invoke(app, ["generate", "--family", "nope", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "unknown family 'nope'" in res.output
    listing = CliRunner().invoke(app, ["generate", "--list"])
    assert listing.exit_code == 0 and "modular" in listing.output


def test_generate_source_matches_the_cli_file(tmp_path: Path) -> None:
    _, rows = _generate(tmp_path)
    src = list(create_source("generate", {"family": "modular", "n": 30, "seed": 7}))
    assert [p["problem_id"] for p in src] == [r["id"] for r in rows]
    assert [p["reference"] for p in src] == [r["answer"] for r in rows]
    with pytest.raises(ConfigError, match="family 'modular' options"):
        create_source("generate", {"family": "modular", "n": 3, "options": {"depth": 2}})


def test_family_verifier_judges_generated_traces() -> None:
    (p,) = list(create_source("generate", {"family": "modular", "n": 1, "seed": 3}))
    gold = str(p["reference"])
    other = str((int(gold) + 1) % 97)
    cases = {
        f"So the answer is {gold}.": "correct",
        f"The answer is {other}.": "wrong",
        f"The answer is {gold} or {other}.": "unverifiable",
    }
    for completion, expected in cases.items():
        (t,) = verify([{**p, "completion": completion, "truncated": False}])
        assert t["verdict"] == expected, (completion, t)


def test_generated_problems_through_the_server(tmp_path: Path) -> None:
    gen, rows = _generate(tmp_path)
    with start_test_server(answers=str(gen), accuracy=0.5) as (url, _):
        recipe = tmp_path / "recipe.toml"
        recipe.write_text(
            f"""
name = "gen"
runs_dir = {json.dumps(str(tmp_path / "runs"))}
[source]
type = "generate"
family = "modular"
n = 30
seed = 7
[teacher]
type = "openai"
model = "test-model"
base_url = {json.dumps(url)}
[budget]
samples = 2
"""
        )
        m = LocalRunner(load_recipe(recipe), progress=False).run()
    traces = RunStore(tmp_path / "runs" / "gen").read_traces().to_pylist()
    assert len(traces) == 60 and m["counts"]["problems"] == 30
    gold = {r["id"]: r["answer"] for r in rows}
    for t in traces:
        assert t["reference_answer"] == gold[t["problem_id"]]
        assert t["verdict"] == ("correct" if t["answer"] == t["reference_answer"] else "wrong")
    assert 0 < sum(t["verdict"] == "correct" for t in traces) < 60
