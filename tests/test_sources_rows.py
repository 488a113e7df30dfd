"""Row readers: every format streams (number, dict) and every malformed input is located."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracemint.errors import SourceError
from tracemint.sources import RowReader, iter_rows
from tracemint.sources.jsonlist import CHUNK, JsonListError, iter_json_list

ROWS = [{"question": f"q{i}", "answer": str(i)} for i in range(5)]


def write_jsonl(path: Path, rows: list[dict], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_numbers_are_file_lines_even_with_blank_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", ROWS, blank_after=2)
    got = list(iter_rows(path))
    assert [n for n, _ in got] == [1, 2, 4, 5, 6]
    assert [r for _, r in got] == ROWS


def test_json_list_numbers_are_the_lines_items_start_on(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ROWS[:3], indent=2), encoding="utf-8")
    got = list(iter_rows(path))
    assert [r for _, r in got] == ROWS[:3]
    text = path.read_text().splitlines()
    for number, _ in got:
        assert text[number - 1].strip() == "{"


def test_json_extension_with_json_lines_content(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.json", ROWS)
    assert [r for _, r in iter_rows(path)] == ROWS


def test_csv_numbers_are_where_rows_start(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('question,answer\n"two\nlines",1\n\nq,2\n', encoding="utf-8")
    assert list(iter_rows(path)) == [
        (2, {"question": "two\nlines", "answer": "1"}),
        (5, {"question": "q", "answer": "2"}),
    ]


def test_parquet_numbers_are_row_indices_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path, row_group_size=2)
    assert pq.ParquetFile(path).num_row_groups == 3
    assert list(iter_rows(path)) == list(enumerate(ROWS))
    reader = RowReader(path)
    assert [(i, n) for i, n, _ in reader.rows(skip=3)] == [(3, 3), (4, 4)]
    assert reader.count_rows() == 5


@pytest.mark.parametrize("writer", [pa.ipc.new_stream, pa.ipc.new_file])
def test_arrow_stream_and_file_formats(tmp_path: Path, writer) -> None:
    table = pa.Table.from_pylist(ROWS)
    path = tmp_path / "p.arrow"
    with writer(str(path), table.schema) as w:
        w.write_table(table, max_chunksize=2)
    assert list(iter_rows(path)) == list(enumerate(ROWS))
    assert [i for i, _, _ in RowReader(path).rows(skip=3)] == [3, 4]
    assert RowReader(path).count_rows() == 5


def test_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.txt", ROWS)
    assert len(list(iter_rows(path, format="jsonl"))) == 5


def test_count_rows_is_none_where_it_would_need_a_parse(tmp_path: Path) -> None:
    assert RowReader(write_jsonl(tmp_path / "p.jsonl", ROWS, blank_after=1)).count_rows() == 5
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ROWS))
    assert RowReader(path).count_rows() is None


# -- errors: each names the file, where, and (when there is one) the field -----------------


def error_of(path: Path, **kwargs) -> SourceError:
    with pytest.raises(SourceError) as info:
        list(iter_rows(path, **kwargs))
    return info.value


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a"}\n\n{"question": \n', encoding="utf-8")
    err = error_of(path)
    assert (err.path, err.line) == (str(path), 3)
    assert str(path) in str(err) and "line 3" in str(err) and "invalid JSON" in str(err)


def test_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "a"}\n[1, 2]\n', encoding="utf-8")
    err = error_of(path)
    assert err.line == 2 and "expected a JSON object, got array" in str(err)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"question": "a"}\n{"question": "\xff"}\n')
    assert "line 2" in str(error_of(path)) and "UTF-8" in str(error_of(path))


@pytest.mark.parametrize("content", ["", "\n\n  \n", "[]", "[\n]\n"])
def test_empty_json_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.json"
    path.write_text(content)
    err = error_of(path)
    assert str(path) in str(err) and "empty" in str(err)


@pytest.mark.parametrize("content", ["", "question,answer\n"])
def test_empty_csv(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    assert "empty" in str(error_of(path))


def test_empty_parquet(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"question": pa.array([], pa.string())}), path)
    assert "empty" in str(error_of(path))


def test_json_list_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"question": "a"},\n  {"question": "b",}\n]\n')
    err = error_of(path)
    assert err.line == 3 and "invalid JSON" in str(err)
    path.write_text('[\n  {"question": "a"}\n  {"question": "b"}\n]\n')
    assert error_of(path).line == 3
    path.write_text('[\n  {"question": "a"},\n  "b"\n]\n')
    err = error_of(path)
    assert err.line == 3 and "got string" in str(err)
    path.write_text('[{"question": "a"}')
    assert "end of file" in str(error_of(path))


def test_csv_row_with_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('question,answer\n"multi\nline",1\nq,2,extra\n', encoding="utf-8")
    err = error_of(path)
    assert err.line == 4 and "3 fields but the header has 2" in str(err)


def test_csv_duplicate_header(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("question,question\na,b\n")
    assert "duplicate column names" in str(error_of(path))


def test_unknown_extension_missing_file_and_bad_files(tmp_path: Path) -> None:
    assert "set format" in str(error_of(write_jsonl(tmp_path / "p.txt", ROWS)))
    assert "no such file" in str(error_of(tmp_path / "nope.jsonl"))
    (tmp_path / "x.parquet").write_text("not parquet")
    assert "not a readable Parquet file" in str(error_of(tmp_path / "x.parquet"))
    (tmp_path / "x.arrow").write_text("not arrow")
    assert "not a readable Arrow IPC file" in str(error_of(tmp_path / "x.arrow"))
    assert "only applies" in str(error_of(write_jsonl(tmp_path / "p.jsonl", ROWS), split="a"))
    (tmp_path / "d.jsonl").mkdir()
    assert "is a directory" in str(error_of(tmp_path / "d.jsonl", format="jsonl"))
    assert "not a Hugging Face" in str(error_of(tmp_path / "d.jsonl"))


def test_columnar_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    err = RowReader(path).error(3, "boom", field="question")
    assert str(err) == f"{path}, row 3, field 'question': boom"
    assert err.path == str(path) and err.line is None and err.field == "question"


# -- streaming ----------------------------------------------------------------------------


def test_large_jsonl_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"question": "What is 1 + 1? " + "x" * 40, "answer": "2"}) + "\n"
    with open(path, "w") as f:
        f.writelines(line for _ in range(200_000))
    size = path.stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    try:
        rows = iter_rows(path)
        first = [next(rows) for _ in range(5)]
        _, peak = tracemalloc.get_traced_memory()
        rows.close()  # type: ignore[attr-defined]
    finally:
        tracemalloc.stop()
    assert [n for n, _ in first] == [1, 2, 3, 4, 5]
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file: not streaming"


def test_large_json_list_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    item = json.dumps({"question": "What is 1 + 1? " + "x" * 40, "answer": 2})
    with open(path, "w") as f:
        f.write("[\n" + ",\n".join(item for _ in range(100_000)) + "\n]\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = iter_rows(path)
        first = [next(rows) for _ in range(5)]
        _, peak = tracemalloc.get_traced_memory()
        rows.close()  # type: ignore[attr-defined]
    finally:
        tracemalloc.stop()
    assert [n for n, _ in first] == [2, 3, 4, 5, 6]
    assert peak < size / 10


def test_json_list_items_larger_than_a_chunk() -> None:
    items = [{"question": "q" * (3 * CHUNK), "n": i} for i in range(3)] + [1.5, 123456789]
    text = json.dumps(items)
    assert [v for _, v in iter_json_list(io.StringIO(text))] == items
    # a number cut exactly at a chunk boundary must not be read as a shorter number
    pad = " " * (CHUNK - 4)
    assert [v for _, v in iter_json_list(io.StringIO(f"[{pad}123456]"))] == [123456]


def test_json_list_rejects_trailing_garbage() -> None:
    with pytest.raises(JsonListError, match="extra data"):
        list(iter_json_list(io.StringIO("[1]\n[2]")))
