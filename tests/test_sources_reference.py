"""A problem without a reference is an error, not a silent downgrade to majority voting.

Real files in each format (JSONL, CSV, Parquet) through the real ``FileSource``: a missing,
null, NaN or empty reference names the file, the line (or Parquet row) and the field,
unless the source says ``reference = "optional"``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracemint.config import parse_recipe
from tracemint.errors import SourceError
from tracemint.sources import FileSource, FileSourceConfig, create_source

GOOD = {"question": "What is 1+1?", "answer": "2"}


def _problems(path: Path, **options: Any) -> list[dict[str, Any]]:
    return list(FileSource(FileSourceConfig(path=path, **options)))


def _error(path: Path, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        _problems(path, **options)
    return info.value


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ('{"question": "What is 2+2?"}', "missing"),
        ('{"question": "What is 2+2?", "answer": null}', "null"),
        ('{"question": "What is 2+2?", "answer": NaN}', "NaN"),
        ('{"question": "What is 2+2?", "answer": ""}', "empty"),
        ('{"question": "What is 2+2?", "answer": "   "}', "empty"),
    ],
)
def test_jsonl_reference_errors_name_file_line_field(tmp_path: Path, line: str, kind: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")  # blank line: line 3, not 2
    err = _error(path)
    assert (err.path, err.line, err.field) == (str(path), 3, "answer")
    assert str(err).startswith(f"{path}, line 3, field 'answer': the reference is {kind}")
    assert 'reference = "optional"' in str(err)
    got = _problems(path, reference="optional")
    assert [p["reference"] for p in got] == ["2", None]


def test_csv_empty_reference(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["question", "answer"], ["What is 1+1?", "2"], ["What is 2+2?", ""]])
    err = _error(path)
    assert (err.line, err.field) == (3, "answer")
    assert f"{path}, line 3, field 'answer': the reference is empty" in str(err)
    assert [p["reference"] for p in _problems(path, reference="optional")] == ["2", None]


@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (math.nan, "NaN")])
def test_parquet_null_and_nan_reference(tmp_path: Path, value: float | None, kind: str) -> None:
    path = tmp_path / "p.parquet"
    table = pa.table(
        {"question": ["a", "b", "c"], "answer": pa.array([1.0, 2.0, value], pa.float64())}
    )
    pq.write_table(table, path)
    err = _error(path)
    assert err.path == str(path) and err.field == "answer"
    assert str(err).startswith(f"{path}, row 2, field 'answer': the reference is {kind}")


def test_parquet_empty_string_reference(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"question": ["a", "b"], "answer": ["1", ""]}), path)
    assert str(_error(path)).startswith(f"{path}, row 1, field 'answer': the reference is empty")


def test_a_file_without_any_answer_field_says_so(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"question": "What is 1+1?"}\n')
    err = _error(path)
    assert err.line == 1 and "no reference (answer) field found" in str(err)
    assert "fields present: ['question']" in str(err)
    assert [p["reference"] for p in _problems(path, reference="optional")] == [None]


def test_reference_option_is_validated_in_a_recipe(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"question": "What is 1+1?"}\n')
    got = list(create_source("file", {"path": str(path), "reference": "optional"}))
    assert got[0]["reference"] is None
    with pytest.raises(Exception, match="reference"):
        create_source("file", {"path": str(path), "reference": "maybe"})
    recipe = parse_recipe(
        {
            "name": "r",
            "source": {"type": "file", "path": str(path), "reference": "optional"},
            "teacher": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
        },
        where="test",
    )
    assert recipe.source.options()["reference"] == "optional"
