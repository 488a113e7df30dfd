"""Generated items as rows and problem records, and judging a trace by its family.

A generated problem carries ``family``, ``config`` and ``data`` in its metadata, so the
family's own strict verifier can judge answers later, in the run that generated it or in
any run reading the JSONL that ``tracemint generate`` wrote.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson

from tracemint.records import Record
from tracemint.synth.base import Family, Item, create_family


def item_row(family: Family, item: Item, index: int, seed: int) -> dict[str, Any]:
    """One JSONL row: readable by ``FileSource`` (id, question, answer), with the gold
    rationale and what the verifier needs alongside."""
    return {
        "id": f"{family.name}-{seed}-{index}",
        "question": item.question,
        "answer": item.answer,
        "rationale": item.rationale,
        "family": family.name,
        "config": family.config.model_dump(),
        "data": item.data,
    }


def problem_record(family: Family, item: Item, index: int, seed: int) -> Record:
    row = item_row(family, item, index, seed)
    meta = {k: row[k] for k in ("rationale", "family", "config", "data")}
    return {
        "problem_id": row["id"],
        "question": item.question,
        "reference": item.answer,
        "choices": None,
        "source": f"generate:{family.name}",
        "source_index": index,
        "metadata": json.dumps(meta, ensure_ascii=False, sort_keys=True),
    }


@lru_cache(maxsize=64)
def _family(name: str, config_json: str) -> Family:
    return create_family(name, json.loads(config_json))


def generated_meta(record: Record) -> dict[str, Any] | None:
    """The metadata of a problem a family generated, or None for a problem from elsewhere.

    Decided from structure, not from the text: the metadata must be a JSON object with a
    string ``family`` and objects ``config`` and ``data`` (what ``item_row`` writes, and what
    FileSource keeps when it reads a ``tracemint generate`` file), so a dataset's own
    "family" field ("family": "Smith") is not taken for a generator.
    """
    raw = record.get("metadata")
    if not raw:
        return None
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(meta, dict):
        return None
    if not isinstance(meta.get("family"), str):
        return None
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("data"), dict):
        return None
    return meta


def family_of(record: Record) -> tuple[Family, Item] | None:
    """The family and item behind a problem record, or None for a problem from elsewhere."""
    meta = generated_meta(record)
    if meta is None:
        return None
    family = _family(meta["family"], json.dumps(meta["config"], sort_keys=True))
    item = Item(
        question=record.get("question") or "",
        answer=str(record.get("reference") or ""),
        rationale=str(meta.get("rationale") or ""),
        data=dict(meta["data"]),
    )
    return family, item
