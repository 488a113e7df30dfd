"""The newcomer's first command prints no third-party warning.

A deprecation that a library reports through ``logging`` (transformers does, once per
process) never reaches pytest's ``filterwarnings = error``; only the terminal shows it. So
this runs the demo's own recipe, cut to two problems and short answers, as the real command
on the embedded model, and reads what a user would read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOISE = re.compile(r"warn|deprecat|future version|will be removed", re.IGNORECASE)


@pytest.mark.slow
def test_demo_recipe_prints_no_warning(tmp_path: Path) -> None:
    lines = (ROOT / "examples" / "data" / "svamp-demo.jsonl").read_text().splitlines()
    (tmp_path / "two.jsonl").write_text("\n".join(lines[:2]) + "\n")
    recipe = (ROOT / "recipes" / "demo.toml").read_text()
    recipe = recipe.replace('runs_dir = "runs"', f'runs_dir = "{tmp_path / "runs"}"')
    recipe = recipe.replace("examples/data/svamp-demo.jsonl", str(tmp_path / "two.jsonl"))
    recipe = recipe.replace("max_tokens = 96", "max_tokens = 8")
    recipe = recipe.replace("samples = 4", "samples = 2")
    assert recipe.count(str(tmp_path)) == 2 and "max_tokens = 8" in recipe
    (tmp_path / "demo.toml").write_text(recipe)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "tracemint.cli", "run", str(tmp_path / "demo.toml"), "--fresh"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "export sft" in out
    assert [line for line in out.splitlines() if NOISE.search(line)] == []
