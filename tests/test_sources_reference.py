"""A problem without a reference is an error, not a silent downgrade to majority voting.

Real files in each format (JSONL, CSV, Parquet) through the real ``FileSource``: a missing,
null, NaN or empty reference names the file, the line (or Parquet row) and the field,
unless the source says ``reference = "optional"``.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- every mixture, every format ------------------------------------------------------------

_TEXT = st.sampled_from(["5", "-3", "1/2", "Paris", "", "  ", None, "missing"])
_NUMBER = st.sampled_from([5.0, 2.5, -1.0, None, math.nan])


def _bad(value: Any) -> bool:
    if value is None or value == "missing":
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return not str(value).strip()


@settings(max_examples=60, deadline=None)
@given(
    fmt=st.sampled_from(["jsonl", "csv", "parquet-text", "parquet-number"]),
    data=st.data(),
)
def test_first_bad_reference_is_reported_where_it_is(fmt: str, data: st.DataObject) -> None:
    values = data.draw(
        st.lists(_NUMBER if fmt == "parquet-number" else _TEXT, min_size=1, max_size=6)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"p.{fmt.split('-')[0]}"
        questions = [f"What is {i}?" for i in range(len(values))]
        if fmt == "jsonl":
            rows = [
                {"question": q} if v == "missing" else {"question": q, "answer": v}
                for q, v in zip(questions, values, strict=True)
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif fmt == "csv":
            values = ["" if v in (None, "missing") else v for v in values]
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows(
                    [["question", "answer"], *zip(questions, values, strict=True)]
                )
        else:
            values = [None if v == "missing" else v for v in values]
            kind = pa.float64() if fmt == "parquet-number" else pa.string()
            pq.write_table(
                pa.table({"question": questions, "answer": pa.array(values, kind)}), path
            )
        bad = [i for i, v in enumerate(values) if _bad(v)]
        if values[0] == "missing":  # the answer field is found from the first row
            err = _error(path)
            assert err.line == 1 and "no reference (answer) field found" in str(err)
            assert {p["reference"] for p in _problems(path, reference="optional")} == {None}
            return
        if bad:
            err = _error(path)
            where = {"jsonl": bad[0] + 1, "csv": bad[0] + 2}.get(fmt.split("-")[0])
            assert err.field == "answer" and err.path == str(path)
            assert err.line == where  # a line for text formats; Parquet names the row
            if where is None:
                assert f"row {bad[0]}, field 'answer'" in str(err)
        else:
            assert all(p["reference"] for p in _problems(path))
        got = [p["reference"] for p in _problems(path, reference="optional")]
        assert [i for i, r in enumerate(got) if r is None] == bad
