from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def addition_problems(tmp_path: Path) -> Path:
    """A tiny JSONL source: 'What is A+B?' with references."""
    path = tmp_path / "problems.jsonl"
    with open(path, "w") as f:
        for i in range(6):
            f.write(
                json.dumps(
                    {"id": f"p{i}", "question": f"What is {i}+{i * 10}?", "answer": str(i + i * 10)}
                )
                + "\n"
            )
    return path
