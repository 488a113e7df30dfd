"""Monte-Carlo step labels with the real embedded model on a tiny slice (prefill path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracemint.config import parse_recipe
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore


@pytest.mark.slow
def test_embedded_rollouts_label_steps(tmp_path: Path) -> None:
    src = tmp_path / "p.jsonl"
    src.write_text(
        json.dumps(
            {
                "id": "a",
                "question": "Sara has 12 pencils and gives away 5. "
                "How many pencils does she have now?",
                "answer": "7",
            }
        )
        + "\n"
    )
    recipe = parse_recipe(
        {
            "name": "mc",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(src), "id_field": "id"},
            "teacher": {"type": "embedded", "dtype": "float32", "batch_size": 8},
            "strategy": {"name": "cot_oneshot"},
            "sampling": {"temperature": 0.0, "max_tokens": 48},
            "budget": {"samples": 1},
            "montecarlo": {"enabled": True, "k": 2, "method": "binary", "max_tokens": 32},
        }
    )
    LocalRunner(recipe, progress=False).run()
    (t,) = RunStore(tmp_path / "runs" / "mc").read_traces().to_pylist()
    assert t["steps"] and not t["truncated"]  # greedy fp32 is deterministic here
    assert t["mc_calls"] > 0
    assert len(t["step_labels"]) == len(t["steps"])
    assert any(x is not None for x in t["step_estimates"])
