"""The one record schema that flows through every stage.

A record is a plain ``dict`` (cheap to build, trivially picklable for Ray, and a row of an
Arrow table). Sources produce *problem* columns; sampling adds *trace* columns; verifiers
add *verdict* columns; later features (step checks, probe scores, difficulty) add columns
of their own. Nothing ever introduces a second file format: a run is one Parquet table of
traces, one row per sampled rationale, with the problem columns repeated on each row.

This module imports nothing from the package.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pyarrow as pa

Record = dict[str, Any]

# name -> (arrow type, what it means). Order is the column order of the shards.
PROBLEM_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "problem_id": (pa.string(), "stable id: from the id field, else source name + row index"),
    "question": (pa.string(), "the problem text shown to the teacher"),
    "reference": (pa.string(), "reference answer or full solution, as given; null if none"),
    "choices": (pa.list_(pa.string()), "multiple-choice options ['A) 5', ...]; null if free-form"),
    "source": (pa.string(), "where the problem came from (file name or generator)"),
    "source_index": (pa.int64(), "0-based row index in that source"),
    "metadata": (pa.string(), "JSON object of the source's other fields"),
}
TRACE_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "trace_id": (pa.string(), "hash of (problem_id, strategy, teacher, model, sample_index)"),
    "sample_index": (pa.int64(), "0-based index of this sample for its problem"),
    "round": (pa.int64(), "rejection-sampling round that drew it"),
    "strategy": (pa.string(), "prompt template name, e.g. 'cot'"),
    "template_hash": (pa.string(), "sha256 prefix of the template text"),
    "prompt": (pa.string(), "JSON list of chat messages sent to the teacher"),
    "teacher": (pa.string(), "teacher backend name, e.g. 'openai', 'embedded'"),
    "model": (pa.string(), "model name as the teacher reports it"),
    "sampling": (pa.string(), "JSON of sampling params (temperature, top_p, max_tokens, seed)"),
    "completion": (pa.string(), "the rationale text (thinking removed)"),
    "reasoning": (pa.string(), "a reasoning model's thinking (<think> or reasoning_content)"),
    "finish_reason": (pa.string(), "'stop', 'length', ...; 'length' means truncated"),
    "truncated": (pa.bool_(), "the teacher hit max_tokens: never graded as if whole"),
    "prompt_tokens": (pa.int64(), "tokens in the prompt"),
    "completion_tokens": (pa.int64(), "tokens generated"),
    "latency_s": (pa.float64(), "seconds the call took (0 when served from the cache)"),
    "cache_hit": (pa.bool_(), "served from the LLM-call cache"),
}
VERDICT_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "answer": (pa.string(), "final answer extracted from the completion"),
    "reference_answer": (pa.string(), "final answer extracted from the reference"),
    "verdict": (pa.string(), "'correct' | 'wrong' | 'unverifiable'"),
    "verdict_reason": (pa.string(), "why unverifiable (or how it was judged)"),
    "verifier_version": (pa.string(), "grader version, so old verdicts can be recomputed"),
    "majority_answer": (pa.string(), "self-consistency: most common answer for the problem"),
    "agreement": (pa.float64(), "share of the problem's samples that gave majority_answer"),
    "pass_rate": (pa.float64(), "share of the problem's graded samples that are correct"),
    "accepted": (pa.bool_(), "kept for export"),
    "drop_reason": (pa.string(), "why not accepted (wrong, unverifiable, over quota, ...)"),
}
_STEP = pa.struct(
    [("text", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("verdict", pa.string())]
)
STEP_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "steps": (pa.list_(_STEP), "the rationale's steps: text, char offsets, ok|wrong|unchecked"),
    "first_wrong_step": (pa.int64(), "0-based index of the first step with a wrong claim"),
    "n_claims_checked": (pa.int64(), "arithmetic claims (expr = value) evaluated"),
    "n_claims_wrong": (pa.int64(), "of those, how many were wrong"),
}
ALL_FIELDS = {**PROBLEM_FIELDS, **TRACE_FIELDS, **VERDICT_FIELDS, **STEP_FIELDS}

# Columns added by later features (probe scores, ...): name -> Arrow type, declared by the
# feature when its module is imported. The run's shards use the declared type for a column
# that no row could fill (all null), so every shard of a run stays typed and alike.
DECLARED_TYPES: dict[str, pa.DataType] = {}


def declare_columns(types: dict[str, pa.DataType]) -> None:
    """Declare the Arrow types of columns a feature adds (see ``DECLARED_TYPES``)."""
    DECLARED_TYPES.update(types)


VERDICTS = ("correct", "wrong", "unverifiable")


def trace_schema(extra: pa.Schema | None = None) -> pa.Schema:
    """Arrow schema of a trace shard: the documented columns, then any extra ones."""
    fields = [pa.field(name, typ) for name, (typ, _) in ALL_FIELDS.items()]
    if extra is not None:
        fields += [f for f in extra if f.name not in ALL_FIELDS]
    return pa.schema(fields)


def to_table(records: list[Record]) -> pa.Table:
    """Records -> Arrow table with the documented columns typed, unknown ones inferred."""
    extra_names = sorted({k for r in records for k in r} - ALL_FIELDS.keys())
    extra = (
        pa.Table.from_pylist([{k: r.get(k) for k in extra_names} for r in records]).schema
        if extra_names
        else None
    )
    # from_pylist with a schema: ~35x faster than building columns by hand, and missing
    # keys become nulls. This runs on the shard writer's thread while the loop serves calls.
    return pa.Table.from_pylist(records, schema=trace_schema(extra))


def stable_hash(*parts: Any, length: int = 16) -> str:
    """A short, deterministic content hash (sha256 of canonical JSON)."""
    # orjson: compact, UTF-8, sorted keys -- the canonical form, ~10x faster than json.dumps
    blob = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:length]


def problem_of(record: Record) -> Record:
    """The problem columns of a record (drops trace and verdict columns)."""
    return {k: record.get(k) for k in PROBLEM_FIELDS}
