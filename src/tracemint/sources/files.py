"""``FileSource``: problems from a dataset file (JSONL, JSON, CSV, Parquet, Arrow, HF dir).

Field mapping is auto-detected from the first row read unless the config (or a preset for a
well-known dataset) fixes it. References are kept as given, so a GSM8K solution keeps its
worked steps and ``#### 18`` line (the grader extracts final answers, and the steps are
useful later); two conversions make references comparable as text: a multiple-choice
answer becomes its letter, and an integral number loses a spurious ``.0`` (SVAMP's 51.0).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tracemint.records import Record
from tracemint.sources.base import Source, SourceConfig, sources
from tracemint.sources.rows import Format, RowReader, iter_rows, json_type

__all__ = ["PRESETS", "FileSource", "FileSourceConfig", "iter_rows"]

# Candidates for auto-detection, most specific first. A SVAMP/ASDiv-style row splits the
# problem into "Body" and "Question"; taking "Question" alone would drop the numbers.
QUESTION_FIELDS: tuple[tuple[str, ...], ...] = (
    ("Body", "Question"),
    ("question",),
    ("problem",),
    ("Question",),
    ("input",),
)
ANSWER_FIELDS = ("answer", "final_answer", "solution", "Answer", "correct", "target", "label")
CHOICES_FIELDS = ("options", "choices")
# Floats at or above 2**53 are not exact integers; printing them as ints would invent digits.
_EXACT_INT = 2**53


@dataclass(frozen=True)
class Preset:
    """The field mapping of a well-known dataset, as it ships."""

    question: tuple[str, ...]  # several fields are joined with one space
    answer: str
    choices: str | None = None
    id: str | None = None


PRESETS: dict[str, Preset] = {
    "gsm8k": Preset(question=("question",), answer="answer"),
    "aqua": Preset(question=("question",), answer="correct", choices="options"),
    # SVAMP splits the text into a scenario and a question; neither alone is the problem.
    "svamp": Preset(question=("Body", "Question"), answer="Answer", id="ID"),
}


class FileSourceConfig(SourceConfig):
    """Options of ``FileSource``; every field mapping is optional (auto-detected)."""

    path: Path  # a file, or a Hugging Face save_to_disk directory
    format: Format = "auto"  # auto: by extension; a directory is "hf"
    split: str | None = None  # HF DatasetDict split; default "test", else the only one
    preset: Literal["gsm8k", "aqua", "svamp"] | None = None  # fixes the mapping below
    question_field: str | list[str] | None = None  # a list is joined with spaces
    answer_field: str | None = None  # None: auto, and no reference if no candidate exists
    id_field: str | None = None  # None: problem_id = "<name>:<row index>"
    choices_field: str | None = None  # None: auto ("options", "choices"), off with a preset
    limit: int | None = Field(default=None, ge=0)  # at most this many problems
    offset: int = Field(default=0, ge=0)  # skip this many rows first
    name: str | None = Field(default=None, min_length=1)  # default: the file stem
    # "required": a row whose reference is missing, null, NaN or empty is an error naming the
    # file, line and field (a problem without one is accepted only by majority vote, which
    # must be asked for, not fallen into); "optional": such a row is a reference-free problem
    reference: Literal["required", "optional"] = "required"


def reference_text(value: Any) -> str | None:
    """A reference as text: strings unchanged, integral numbers without ``.0``, NaN -> None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):  # pandas writes missing numbers as NaN
            return None
        if value.is_integer() and abs(value) < _EXACT_INT:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _missing_kind(value: Any) -> str:
    """How a present but unusable reference is unusable, in the words of the file's format."""
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return "empty"


def _lettered(options: list[str]) -> bool:
    return all(re.match(rf"\(?{chr(65 + i)}\)", o) for i, o in enumerate(options))


def normalize_choices(value: Any) -> list[str]:
    """Options as ``["A) 5", ...]``: AQuA's lettered lists stay as they are; a plain list,
    a ``{letter: text}`` dict or HF's ``{"label": [...], "text": [...]}`` get letters."""
    if isinstance(value, str):  # CSV cells hold the list as JSON text
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("expected a list of options (as JSON text in CSV)") from None
    if isinstance(value, dict):
        if {"label", "text"} <= value.keys():
            pairs = list(zip(value["label"], value["text"], strict=True))
        else:
            pairs = list(value.items())
        return [f"{label}) {reference_text(text)}" for label, text in pairs]
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of options, got {json_type(value)}")
    if len(value) > 26:
        raise ValueError(f"has {len(value)} options; at most 26 can be lettered")
    if any(not isinstance(o, (str, int, float)) for o in value):
        raise ValueError("options must be strings or numbers")
    options = [str(reference_text(o)) for o in value]
    if _lettered(options):
        return options
    return [f"{chr(65 + i)}) {o}" for i, o in enumerate(options)]


@dataclass(frozen=True)
class _Mapping:
    """Which row fields hold what, fixed for the whole file."""

    question: tuple[str, ...]
    answer: str | None
    choices: str | None
    id: str | None
    # Fields named by the config or a preset: a row without one is an error (a typo must not
    # pass silently). Auto-detected answer and choices fields may be absent from a row.
    required: frozenset[str]
    # every row must carry a reference (``reference = "required"``, the default)
    reference_required: bool = True

    @classmethod
    def resolve(
        cls, cfg: FileSourceConfig, row: dict[str, Any], reader: RowReader, number: int
    ) -> _Mapping:
        preset = PRESETS[cfg.preset] if cfg.preset else None
        if isinstance(cfg.question_field, str):
            question: tuple[str, ...] = (cfg.question_field,)
        elif cfg.question_field:
            question = tuple(cfg.question_field)
        elif preset:
            question = preset.question
        else:
            found = next((fs for fs in QUESTION_FIELDS if all(f in row for f in fs)), None)
            if found is None:
                looked = [f for fs in QUESTION_FIELDS[1:] for f in fs]
                raise reader.error(
                    number,
                    f"no question field found: looked for {looked}, "
                    f"fields present: {list(row)}; set question_field",
                )
            question = found
        answer = cfg.answer_field or (preset.answer if preset else None)
        choices = cfg.choices_field or (preset.choices if preset else None)
        id_field = cfg.id_field or (preset.id if preset else None)
        required = frozenset(f for f in (*question, answer, choices, id_field) if f is not None)
        if answer is None:
            answer = next((f for f in ANSWER_FIELDS if f in row and f not in question), None)
        if choices is None and preset is None:
            choices = next((f for f in CHOICES_FIELDS if f in row), None)
        reference_required = cfg.reference == "required"
        if answer is None and reference_required:
            looked = [f for f in ANSWER_FIELDS if f not in question]
            raise reader.error(
                number,
                f"no reference (answer) field found: looked for {looked}, fields present: "
                f'{list(row)}; set answer_field, or reference = "optional" for problems '
                "without references (accepted only by a strict majority vote)",
            )
        return cls(question, answer, choices, id_field, required, reference_required)

    def record(
        self, row: dict[str, Any], index: int, number: int, source: str, reader: RowReader
    ) -> Record:
        def field(name: str) -> Any:
            if name not in row and name in self.required:
                raise reader.error(
                    number, f"missing field {name!r}; fields present: {list(row)}", field=name
                )
            return row.get(name)

        parts = []
        for name in self.question:
            text = field(name)
            if not isinstance(text, str):
                raise reader.error(number, f"expected a string, got {json_type(text)}", field=name)
            parts.append(text.strip() if len(self.question) > 1 else text)
        question = " ".join(parts)
        if not question.strip():
            raise reader.error(number, "the question is empty", field=self.question[-1])

        choices = None
        if self.choices is not None and field(self.choices) is not None:
            try:
                choices = normalize_choices(row[self.choices])
            except ValueError as e:
                raise reader.error(number, str(e), field=self.choices) from None

        answer = None if self.answer is None else field(self.answer)
        if choices and isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(choices):  # an index into the options: use its letter
                raise reader.error(
                    number,
                    f"answer index {answer} is out of range for {len(choices)} options",
                    field=self.answer,
                )
            answer = chr(65 + answer)

        reference = reference_text(answer)
        if reference is not None and not reference.strip():
            reference = None  # "" is no reference: say so as null, the way the schema does
        if self.reference_required and reference is None:
            assert self.answer is not None  # resolve() refused a required reference without one
            what = "missing" if self.answer not in row else _missing_kind(row[self.answer])
            raise reader.error(
                number,
                f'the reference is {what}; fix the row, or set reference = "optional" '
                "for problems without references (accepted only by a strict majority vote)",
                field=self.answer,
            )

        problem_id = f"{source}:{index}"
        if self.id is not None:
            raw_id = field(self.id)
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
                raise reader.error(
                    number,
                    f"expected a non-empty string or integer id, got {json_type(raw_id)}",
                    field=self.id,
                )
            problem_id = str(raw_id)

        used = {*self.question, self.answer, self.choices, self.id}
        other = {k: v for k, v in row.items() if k not in used}
        return {
            "problem_id": problem_id,
            "question": question,
            "reference": reference,
            "choices": choices,
            "source": source,
            "source_index": index,
            "metadata": json.dumps(other, ensure_ascii=False, default=str) if other else None,
        }


@sources.register("file")
class FileSource(Source):
    """Problems from a local file or Hugging Face ``save_to_disk`` directory, streamed.

    ``problem_id`` is the id field's value when one is set, else ``"<name>:<row index>"``
    with the 0-based index in the whole file, so ids do not change with ``offset``/``limit``.
    """

    config_class = FileSourceConfig
    config: FileSourceConfig

    def __iter__(self) -> Iterator[Record]:
        cfg = self.config
        reader = RowReader(cfg.path, format=cfg.format, split=cfg.split)
        name = cfg.name or self.default_name(reader)
        stop = None if cfg.limit is None else cfg.offset + cfg.limit
        if stop == cfg.offset:
            return
        mapping: _Mapping | None = None
        for index, number, row in reader.rows(skip=cfg.offset):
            if mapping is None:
                mapping = _Mapping.resolve(cfg, row, reader, number)
            yield mapping.record(row, index, number, name, reader)
            if stop is not None and index + 1 >= stop:
                return

    def count(self) -> int | None:
        """How many problems iteration yields, if cheap to know (for progress bars)."""
        cfg = self.config
        rows = RowReader(cfg.path, format=cfg.format, split=cfg.split).count_rows()
        if rows is None:
            return None
        n = max(0, rows - cfg.offset)
        return n if cfg.limit is None else min(n, cfg.limit)

    def default_name(self, reader: RowReader) -> str:
        """The file's stem; with a preset, prefixed by it (``gsm8k-test``) unless the stem
        already says it, because datasets tend to share stems like ``test``."""
        stem, preset = reader.default_name, self.config.preset
        return stem if preset is None or preset in stem.lower() else f"{preset}-{stem}"
