"""docs/results.md says what the records say: every number in a marked table is the record's.

A results table is preceded by ``<!-- record: NAME -->`` (``experiments/results/NAME.json``):
its rows are conditions by label, and the train-rows, ID and OOD cells must be the record's
mean (± sample std) over seeds, formatted as ``experiments/report.py`` prints them. A claim
table is preceded by ``<!-- claims: NAME, NAME -->``: every ``mean ± std`` it quotes must be a
cell of one of those records. A step-label table (``<!-- labels: NAME, ... -->``, records of
``experiments/step_labels.py``) names its record and seed in its first two cells and shows
that seed's counts. A record named by a marker must exist and be complete.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "results.md"
RECORDS = ROOT / "experiments" / "results"
MARKER = re.compile(r"<!--\s*(record|claims|labels):\s*([^>]+?)\s*-->")
SPREAD = re.compile(r"\d\.\d{3} ± \d\.\d{3}")


def _labels() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import common
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    return {c.label: c.name for c in common.CONDITIONS}


def _record(name: str) -> dict[str, Any]:
    path = RECORDS / f"{name}.json"
    assert path.is_file(), f"docs/results.md names {name}, but {path} does not exist"
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert record.get("complete", True), f"{name} is not complete: seeds {record['seeds_done']}"
    return record


def _cell(x: dict[str, Any]) -> str:
    return "-" if x["mean"] is None else f"{x['mean']:.3f} ± {x['std']:.3f}"


def _tables() -> list[tuple[str, list[str], list[list[str]]]]:
    """(marker kind, record names, table rows as cells) for each marked table."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        m = MARKER.search(line)
        if not m:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("|"):
            assert not MARKER.search(lines[j]), f"results.md:{i + 1}: marker without a table"
            j += 1
        rows = []
        while j < len(lines) and lines[j].startswith("|"):
            rows.append([c.strip().replace("**", "") for c in lines[j].strip("|").split("|")])
            j += 1
        assert rows, f"results.md:{i + 1}: marker without a table"
        names = [n.strip() for n in m.group(2).split(",") if n.strip()]
        found.append((m.group(1), names, rows))
    return found


TABLES = _tables()


def test_the_doc_marks_its_tables() -> None:
    kinds = [kind for kind, _, _ in TABLES]
    assert kinds.count("record") >= 11 and kinds.count("claims") >= 5
    assert kinds.count("labels") >= 1


@pytest.mark.parametrize(
    ("names", "rows"),
    [(names, rows) for kind, names, rows in TABLES if kind == "record"],
    ids=[names[0] for kind, names, _ in TABLES if kind == "record"],
)
def test_a_results_table_is_its_record(names: list[str], rows: list[list[str]]) -> None:
    (name,) = names
    summary = _record(name)["conditions"]
    labels = _labels()
    header, body = rows[0], rows[2:]
    columns = {h: k for k, h in enumerate(header)}
    for needed in ("condition", "ID accuracy", "OOD accuracy"):
        assert needed in columns, f"{name}: table lacks a {needed!r} column"
    shown = []
    for row in body:
        condition = labels[row[columns["condition"]]]
        assert condition in summary, f"{name}: no condition {condition!r} in the record"
        s = summary[condition]
        assert row[columns["ID accuracy"]] == _cell(s["id"]), (name, condition)
        assert row[columns["OOD accuracy"]] == _cell(s["ood"]), (name, condition)
        if "train rows" in columns:
            assert row[columns["train rows"]] == f"{s['train_rows']['mean']:.0f}"
        shown.append(condition)
    assert sorted(shown) == sorted(summary), f"{name}: the table leaves conditions out"


@pytest.mark.parametrize(
    ("names", "rows"),
    [(names, rows) for kind, names, rows in TABLES if kind == "claims"],
    ids=[",".join(names) for kind, names, _ in TABLES if kind == "claims"],
)
def test_a_claim_table_quotes_only_its_records(names: list[str], rows: list[list[str]]) -> None:
    cells = set()
    for name in names:
        for s in _record(name)["conditions"].values():
            cells |= {_cell(s["id"]), _cell(s["ood"])}
    quoted = [q for row in rows for cell in row for q in SPREAD.findall(cell)]
    assert quoted, "a claim table quotes its numbers"
    unknown = [q for q in quoted if q not in cells]
    assert not unknown, f"numbers in docs/results.md that no record of {names} holds: {unknown}"
    verdicts = [row[-1] for row in rows[2:]]
    assert all(verdicts), "every claim row ends in a verdict"


#: step-label table header -> the record's count
LABEL_COLUMNS = {
    "answer-verified traces": "answer_verified",
    "slipped (truth)": "slipped",
    "checker flags": "checker_flags",
    "rollout flags": "rollout_flags",
    "both": "both",
    "rollouts only": "rollouts_only",
    "rollout calls": "rollout_calls",
}


@pytest.mark.parametrize(
    ("names", "rows"),
    [(names, rows) for kind, names, rows in TABLES if kind == "labels"],
    ids=[",".join(names) for kind, names, _ in TABLES if kind == "labels"],
)
def test_a_step_label_table_is_its_records(names: list[str], rows: list[list[str]]) -> None:
    header, body = rows[0], rows[2:]
    assert header[:2] == ["record", "seed"]
    seen = set()
    for row in body:
        assert row[0] in names, f"{row[0]} is not named by the table's marker"
        path = RECORDS / f"{row[0]}.json"
        counts = json.loads(path.read_text(encoding="utf-8"))["seeds"][row[1]]
        for title, cell in zip(header[2:], row[2:], strict=True):
            assert int(cell.replace(",", "")) == counts[LABEL_COLUMNS[title]], (row[0], title)
        seen.add((row[0], row[1]))
    for name in names:
        seeds = json.loads((RECORDS / f"{name}.json").read_text(encoding="utf-8"))["seeds"]
        assert {(name, s) for s in seeds} <= seen, f"{name}: the table leaves seeds out"
