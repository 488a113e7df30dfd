"""FileSource: formats, presets on real dataset slices, field mapping, errors, determinism."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracemint.errors import ConfigError, SourceError
from tracemint.records import PROBLEM_FIELDS, problem_of, to_table
from tracemint.sources import FileSource, FileSourceConfig, Source, create_source, sources
from tracemint.sources.files import normalize_choices, reference_text

DATA = Path(__file__).parent / "data"
GSM8K = DATA / "sources_gsm8k_test.jsonl"
AQUA = DATA / "sources_aqua_test.json"
SVAMP = DATA / "sources_svamp.json"
ROWS = [{"question": f"What is {i}+{i}?", "answer": 2 * i, "level": i % 3} for i in range(6)]


def problems(**options: Any) -> list[dict[str, Any]]:
    return list(FileSource(FileSourceConfig(**options)))


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows in the format the path's extension names."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    elif path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=4)
    elif path.suffix == ".arrow":
        table = pa.Table.from_pylist(rows)
        with pa.ipc.new_stream(str(path), table.schema) as w:
            w.write_table(table, max_chunksize=4)
    return path


def check_contract(records: list[dict[str, Any]]) -> None:
    """Every record has exactly the problem columns and fits their Arrow types."""
    for r in records:
        assert list(r) == list(PROBLEM_FIELDS)
        assert isinstance(r["question"], str) and r["question"].strip()
        assert r["metadata"] is None or isinstance(json.loads(r["metadata"]), dict)
    to_table(records)  # raises on a type that does not fit the schema


# -- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".jsonl", ".json", ".csv", ".parquet", ".arrow"])
def test_every_format_gives_the_same_problems(tmp_path: Path, ext: str) -> None:
    got = problems(path=write(tmp_path / f"toy{ext}", ROWS))
    check_contract(got)
    assert [p["problem_id"] for p in got] == [f"toy:{i}" for i in range(6)]
    assert [p["source_index"] for p in got] == list(range(6))
    assert {p["source"] for p in got} == {"toy"}
    assert [p["question"] for p in got] == [r["question"] for r in ROWS]
    assert [p["reference"] for p in got] == [str(r["answer"]) for r in ROWS]
    # CSV has no types: the metadata keeps what the file holds
    level = [json.loads(p["metadata"])["level"] for p in got]
    assert level == [str(r["level"]) if ext == ".csv" else r["level"] for r in ROWS]


def test_hf_dataset_dir(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_list(ROWS)
    ds.save_to_disk(str(tmp_path / "toy"), num_shards=2)
    got = problems(path=tmp_path / "toy")
    check_contract(got)
    assert [p["question"] for p in got] == [r["question"] for r in ROWS]
    assert [p["problem_id"] for p in got] == [f"toy:{i}" for i in range(6)]
    assert [p["source_index"] for p in problems(path=tmp_path / "toy", offset=4)] == [4, 5]
    assert FileSource(FileSourceConfig(path=tmp_path / "toy", offset=1)).count() == 5


def test_hf_dataset_dict_split_choice(tmp_path: Path) -> None:
    train = datasets.Dataset.from_list(ROWS[:4])
    test = datasets.Dataset.from_list(ROWS[4:])
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    got = problems(path=tmp_path / "dd")
    assert [p["question"] for p in got] == [r["question"] for r in ROWS[4:]]
    assert got[0]["problem_id"] == "dd-test:0"
    assert len(problems(path=tmp_path / "dd", split="train")) == 4

    datasets.DatasetDict({"validation": test}).save_to_disk(str(tmp_path / "one"))
    assert len(problems(path=tmp_path / "one")) == 2

    datasets.DatasetDict({"train": train, "dev": test}).save_to_disk(str(tmp_path / "two"))
    with pytest.raises(SourceError, match=r"\['train', 'dev'\].*set split"):
        problems(path=tmp_path / "two")
    with pytest.raises(SourceError, match="no split 'test'; splits"):
        problems(path=tmp_path / "two", split="test")


# -- presets on real dataset slices --------------------------------------------------------


def test_gsm8k_preset_keeps_the_whole_solution() -> None:
    got = problems(path=GSM8K, preset="gsm8k")
    check_contract(got)
    assert len(got) == 20
    assert got[0]["problem_id"] == "sources_gsm8k_test:0"  # the stem already says gsm8k
    assert got[0]["question"].startswith("Janet’s ducks lay 16 eggs per day.")
    assert got[0]["reference"].endswith("\n#### 18") and "<<16-3-4=9>>" in got[0]["reference"]
    assert all(p["choices"] is None and p["metadata"] is None for p in got)


def test_preset_names_a_generic_stem(tmp_path: Path) -> None:
    """gsm8k/test.jsonl and aqua/test.json must not both produce ids 'test:0'."""
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "aqua").mkdir()
    gsm = tmp_path / "gsm8k" / "test.jsonl"
    aqua = tmp_path / "aqua" / "test.json"
    gsm.write_bytes(GSM8K.read_bytes())
    aqua.write_bytes(AQUA.read_bytes())
    assert problems(path=gsm, preset="gsm8k")[0]["problem_id"] == "gsm8k-test:0"
    assert problems(path=aqua, preset="aqua")[0]["problem_id"] == "aqua-test:0"
    assert problems(path=aqua, preset="aqua", name="aq")[0]["problem_id"] == "aq:0"


def test_aqua_preset_gives_choices_and_the_letter() -> None:
    got = problems(path=AQUA, preset="aqua")
    check_contract(got)
    assert len(got) == 20
    first = got[0]
    assert first["choices"] == [
        "A)5(√3 + 1)",
        "B)6(√3 + √2)",
        "C)7(√3 – 1)",
        "D)8(√3 – 2)",
        "E)None of these",
    ]
    assert first["reference"] == "A"
    assert all(p["reference"] in "ABCDE" and len(p["choices"]) == 5 for p in got)
    assert json.loads(first["metadata"])["rationale"].endswith("Answer : A")


def test_aqua_is_recognised_without_a_preset() -> None:
    with_preset = problems(path=AQUA, preset="aqua", name="aqua")
    assert problems(path=AQUA, name="aqua") == with_preset


def test_svamp_preset_joins_body_and_question() -> None:
    got = problems(path=SVAMP, preset="svamp")
    check_contract(got)
    assert len(got) == 20
    raw = json.loads(SVAMP.read_text())
    for p, r in zip(got, raw, strict=True):
        assert p["question"] == f"{r['Body'].strip()} {r['Question'].strip()}"
        assert p["problem_id"] == r["ID"]
        assert p["reference"] == str(int(r["Answer"]))
        assert json.loads(p["metadata"]) == {"Equation": r["Equation"], "Type": r["Type"]}
    assert got[0]["reference"] == "51" and got[0]["source"] == "sources_svamp"
    # the Body+Question shape is recognised without the preset too
    assert [p["question"] for p in problems(path=SVAMP)] == [p["question"] for p in got]


# -- field mapping ------------------------------------------------------------------------


def test_field_overrides(tmp_path: Path) -> None:
    rows = [
        {
            "uid": f"u{i}",
            "prompt": f"Compute {i}.",
            "gold": i,
            "opts": ["1", "2", "3"],
            "question": "decoy",
        }
        for i in range(3)
    ]
    path = write(tmp_path / "custom.jsonl", rows)
    got = problems(
        path=path,
        question_field="prompt",
        answer_field="gold",
        id_field="uid",
        choices_field="opts",
        name="mine",
    )
    check_contract(got)
    assert [p["problem_id"] for p in got] == ["u0", "u1", "u2"]
    assert got[1]["question"] == "Compute 1." and got[1]["source"] == "mine"
    assert got[1]["choices"] == ["A) 1", "B) 2", "C) 3"]
    assert got[1]["reference"] == "B"  # an integer answer indexes the options
    assert json.loads(got[1]["metadata"]) == {"question": "decoy"}


def test_question_field_list_is_joined(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"ctx": "Tom has 3 apples.", "ask": "How many? "}])
    got = problems(path=path, question_field=["ctx", "ask"], reference="optional")
    assert got[0]["question"] == ("Tom has 3 apples. How many?")


@pytest.mark.parametrize(
    ("row", "question", "reference"),
    [
        ({"problem": "p", "solution": "s"}, "p", "s"),
        ({"input": "p", "final_answer": 3.5}, "p", "3.5"),
        ({"Question": "p", "Answer": 51.0}, "p", "51"),
        ({"question": "p", "answer": "a", "solution": "s"}, "p", "a"),
        ({"question": "p"}, "p", None),
    ],
)
def test_auto_detection(tmp_path: Path, row: dict, question: str, reference: str | None) -> None:
    optional = {"reference": "optional"} if reference is None else {}
    got = problems(path=write(tmp_path / "p.jsonl", [row]), **optional)[0]
    assert (got["question"], got["reference"]) == (question, reference)


def test_preset_overridden_by_an_explicit_field(tmp_path: Path) -> None:
    path = write(tmp_path / "gsm.jsonl", [{"question": "q", "answer": "#### 1", "short": "1"}])
    got = problems(path=path, preset="gsm8k", answer_field="short")[0]
    assert got["reference"] == "1" and json.loads(got["metadata"]) == {"answer": "#### 1"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (51.0, "51"),
        (0.5, "0.5"),
        (-3.0, "-3"),
        (7, "7"),
        (1e20, "1e+20"),
        (math.nan, None),
        (None, None),
        ("51.0", "51.0"),
        (True, "true"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_reference_text(value: Any, text: str | None) -> None:
    assert reference_text(value) == text


@pytest.mark.parametrize(
    ("value", "choices"),
    [
        (["A)1", "B)2"], ["A)1", "B)2"]),
        (["1", 2.0], ["A) 1", "B) 2"]),
        ({"A": "x", "B": "y"}, ["A) x", "B) y"]),
        ({"label": ["A", "B"], "text": ["x", "y"]}, ["A) x", "B) y"]),
        ('["x", "y"]', ["A) x", "B) y"]),
    ],
)
def test_normalize_choices(value: Any, choices: list[str]) -> None:
    assert normalize_choices(value) == choices


# -- errors: each names the file, line (or row) and field ---------------------------------


def source_error(path: Path, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        problems(path=path, **options)
    return info.value


def test_no_question_field_lists_what_is_there(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"text": "q", "answer": "1"}])
    msg = str(source_error(path))
    assert str(path) in msg and "line 1" in msg
    assert "fields present: ['text', 'answer']" in msg and "set question_field" in msg


def test_missing_question_field_on_a_later_line(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"question": "a"}, {"question": "b"}, {"q": "c"}])
    err = source_error(path, reference="optional")
    assert (err.path, err.line, err.field) == (str(path), 3, "question")
    assert str(path) in str(err) and "line 3" in str(err) and "field 'question'" in str(err)
    assert "fields present: ['q']" in str(err)


def test_question_of_the_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"question": "a"}, {"question": 7}])
    err = source_error(path, reference="optional")
    assert (err.line, err.field) == (2, "question") and "expected a string, got number" in str(err)


def test_empty_question(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv", [{"question": "a", "answer": "1"}, {"question": "  ", "answer": "2"}]
    )
    err = source_error(path)
    assert (err.line, err.field) == (3, "question") and "empty" in str(err)


def test_explicit_answer_field_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"question": "a", "answr": "1"}])
    err = source_error(path, answer_field="answer")
    assert (err.line, err.field) == (1, "answer") and "fields present" in str(err)


def test_auto_detected_answer_and_choices_may_be_absent(tmp_path: Path) -> None:
    rows = [{"question": "a", "options": ["x", "y"], "answer": "A"}, {"question": "b"}]
    got = problems(path=write(tmp_path / "p.jsonl", rows), reference="optional")
    assert [(p["reference"], p["choices"]) for p in got] == [("A", ["A) x", "B) y"]), (None, None)]
    err = source_error(
        write(tmp_path / "p.jsonl", rows), choices_field="options", reference="optional"
    )
    assert (err.line, err.field) == (2, "options")


def test_bad_choices_and_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", [{"question": "a", "options": 5, "answer": "A"}])
    assert source_error(path).field == "options"
    path = write(tmp_path / "p.jsonl", [{"question": "a", "options": ["x"], "answer": 3}])
    assert "out of range" in str(source_error(path))
    path = write(tmp_path / "p.jsonl", [{"question": "a", "answer": "1", "id": None}])
    assert source_error(path, id_field="id").field == "id"


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    rows = [{"question": "a"}, {"question": "b"}, {"question": None}]
    path = write(tmp_path / "p.parquet", rows)
    err = source_error(path, reference="optional")
    assert str(err) == f"{path}, row 2, field 'question': expected a string, got null"


def test_malformed_lines_reach_the_source(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"question": "a", "answer": "1"}\n{"question": "b"\n')
    err = source_error(path)
    assert (err.path, err.line) == (str(path), 2) and "invalid JSON" in str(err)


# -- limit, offset, determinism, config ----------------------------------------------------


def test_limit_and_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "toy.jsonl", ROWS)
    ids = [p["problem_id"] for p in problems(path=path)]
    assert [p["problem_id"] for p in problems(path=path, offset=2, limit=3)] == ids[2:5]
    assert [p["problem_id"] for p in problems(path=path, limit=2)] == ids[:2]
    assert [p["problem_id"] for p in problems(path=path, offset=4)] == ids[4:]
    assert problems(path=path, offset=10) == [] and problems(path=path, limit=0) == []
    assert FileSource(FileSourceConfig(path=path, offset=2, limit=3)).count() == 3
    assert FileSource(FileSourceConfig(path=path, offset=5)).count() == 1


def test_problem_ids_are_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path / "toy.parquet", ROWS)
    source = FileSource(FileSourceConfig(path=path))
    assert list(source) == list(source)
    assert problems(path=path) == problems(path=path)
    (tmp_path / "sub").mkdir()
    copy = write(tmp_path / "sub" / "toy.parquet", ROWS)  # ids do not depend on where it is
    assert [p["problem_id"] for p in problems(path=copy)] == [
        p["problem_id"] for p in problems(path=path)
    ]


def test_config_rejects_unknown_and_bad_options(tmp_path: Path) -> None:
    path = write(tmp_path / "toy.jsonl", ROWS)
    with pytest.raises(ConfigError, match="questoin_field"):
        create_source("file", {"path": str(path), "questoin_field": "q"})
    with pytest.raises(ConfigError, match="limit"):
        create_source("file", {"path": str(path), "limit": -1})
    with pytest.raises(ConfigError, match="preset"):
        FileSource({"path": str(path), "preset": "mmlu"})
    with pytest.raises(ConfigError, match=r"known: .*file"):
        create_source("nope", {})
    assert len(list(create_source("file", {"path": str(path), "limit": 2}))) == 2


def test_missing_file_fails_on_first_read(tmp_path: Path) -> None:
    source = FileSource(FileSourceConfig(path=tmp_path / "nope.jsonl"))
    with pytest.raises(SourceError, match="no such file"):
        next(iter(source))


def test_large_jsonl_source_is_lazy(tmp_path: Path) -> None:
    """Taking a few problems from a huge file reads only its beginning."""
    path = tmp_path / "big.jsonl"
    with open(path, "w") as f:
        f.writelines(json.dumps({"question": f"q{i}", "answer": i}) + "\n" for i in range(200_000))
    with open(path, "a") as f:
        f.write("this line is not JSON\n")  # reading the whole file would raise
    got = problems(path=path, limit=3)
    assert [p["problem_id"] for p in got] == ["big:0", "big:1", "big:2"]


# -- every registered source honours the contract -----------------------------------------

EXAMPLES: dict[str, dict[str, Any]] = {
    "file": {"path": str(GSM8K), "preset": "gsm8k"},
    "generate": {"family": "word_problems", "n": 50, "seed": 3, "options": {"difficulty": 2}},
}


def test_every_registered_source_has_an_example() -> None:
    from tracemint import plugins

    for name in ("generate", "written"):
        plugins.sources.get(name)  # registers the built-ins
    # sources that need the run's teacher first (LLM-written problems) are tested end to
    # end in tests/test_synth_written.py
    plain = {n for n in sources.names() if not sources.get(n).needs_prepare}
    assert set(EXAMPLES) == plain


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_source_contract(name: str) -> None:
    source = create_source(name, EXAMPLES[name])
    assert isinstance(source, Source) and not source.needs_prepare
    first, second = list(source), list(source)
    assert first and first == second
    check_contract(first)
    assert [problem_of(r) for r in first] == first
    assert len({r["problem_id"] for r in first}) == len(first)
    count = source.count()
    assert count is None or count == len(first)
