"""Acceptance of issue 14: a noise-free gold teacher scores 1.000 on every family.

The ``noisy_gold`` teacher with ``noise = 0`` answers each problem with the family's own
gold rationale; minted through the real pipeline (file source, teacher, grader, family
check), every trace of every registered family must be graded correct. A family whose
gold rationale its own grader rejects (the old comma cut of "Zoe: knight, Ivan: knave")
fails here by name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from family_cases import configs, items, label
from tracemint.config import parse_recipe
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.synth.records import item_row

PER_CONFIG = 12


def _mint(tmp_path: Path, answer_only: bool) -> dict[str, list[dict[str, object]]]:
    path = tmp_path / "problems.jsonl"
    owner: dict[str, str] = {}
    with path.open("w", encoding="utf-8") as f:
        for k, (name, options) in enumerate(configs()):
            family, generated = items(name, options, PER_CONFIG, seed=11 + k)
            for i, item in enumerate(generated):
                row = item_row(family, item, i, k)
                row["id"] = f"{label(name, options)}-{i}"
                if row["question"] in owner:
                    continue  # the same question from two configs: the teacher needs one
                owner[row["question"]] = label(name, options)
                f.write(json.dumps(row) + "\n")
    recipe = parse_recipe(
        {
            "name": "gold",
            "runs_dir": str(tmp_path / "runs"),
            "source": {"type": "file", "path": str(path), "id_field": "id"},
            "teacher": {
                "type": "noisy_gold",
                "problems": str(path),
                "noise": 0.0,
                "answer_only": answer_only,
            },
            "budget": {"samples": 1},
            "select": {"keep": "correct"},
            "export": {"formats": ["sft"], "file_types": ["jsonl"]},
        },
        where="test",
    )
    LocalRunner(recipe, progress=False).run()
    rows = RunStore(tmp_path / "runs" / "gold").read_traces().to_pylist()
    by_config: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        by_config[owner[str(r["question"])]].append(r)
    assert set(by_config) == set(owner.values())
    return by_config


def _accuracy(by_config: dict[str, list[dict[str, object]]]) -> dict[str, float]:
    return {
        k: sum(r["verdict"] == "correct" for r in rows) / len(rows) for k, rows in by_config.items()
    }


def test_noise_free_gold_teacher_scores_one_on_every_family(tmp_path: Path) -> None:
    by_config = _mint(tmp_path, answer_only=False)
    failures = {
        k: [(r["answer"], r["verdict"], r["verdict_reason"]) for r in rows][:3]
        for k, rows in by_config.items()
        if any(r["verdict"] != "correct" for r in rows)
    }
    assert not failures, failures
    assert set(_accuracy(by_config).values()) == {1.0}
    for rows in by_config.values():
        assert all(r["accepted"] for r in rows)


def test_gold_answer_only_scores_one_on_every_family(tmp_path: Path) -> None:
    by_config = _mint(tmp_path, answer_only=True)
    assert set(_accuracy(by_config).values()) == {1.0}, {
        k: [(r["completion"], r["verdict_reason"]) for r in rows if r["verdict"] != "correct"][:3]
        for k, rows in by_config.items()
    }
