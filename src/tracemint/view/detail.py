"""One trace in full, for the detail pane and the side-by-side view of its problem.

Beyond the stored row, the detail carries what a reviewer needs and the shards do not
hold ready-made:

* ``claims``: the arithmetic claims of the rationale, recomputed with the step checker
  (``check_steps``; cheap, and deterministic), each with its offsets and the value the
  expression actually has (``computed``), so a wrong step can say "should be 234". The
  shards keep only each step's verdict, not its claims.
* ``prompt_messages`` and ``sampling_params``: the ``prompt`` and ``sampling`` JSON columns
  parsed (null when a column is absent or not JSON; the raw text is still in ``trace``).
* ``label``: the human label, if any.

They are added to the trace's row (and, but the prompt, to each alternative's).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from tracemint.verify.arithmetic import check_steps
from tracemint.view.index import TraceIndex, jsonable

SAMPLE_COLUMNS = (
    "trace_id",
    "sample_index",
    "answer",
    "verdict",
    "accepted",
    "drop_reason",
    "first_wrong_step",
    "completion",
    "steps",
    "finish_reason",
    "truncated",
)


def claims_of(text: str | None) -> list[dict[str, Any]]:
    """Checked claims (ok or wrong) of a rationale, with offsets into it."""
    if not text:
        return []
    try:
        check = check_steps(text)
    except Exception:  # pragma: no cover - a checker bug must not hide the trace
        return []
    return [asdict(c) for s in check.steps for c in s.claims if c.verdict != "unchecked"]


def _parsed(raw: Any) -> Any:
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def trace_detail(index: TraceIndex, trace_id: str) -> dict[str, Any] | None:
    """``{trace, alternatives}`` for one trace id, or None when the run has no such trace."""
    loc = index.locate(trace_id)
    if loc is None:
        return None
    labels = index.labels.current()

    def label_of(tid: str) -> dict[str, Any] | None:
        lb = labels.get(tid)
        return None if lb is None else {"label": lb.label, "note": lb.note, "time": lb.time}

    full = index.read_rows([loc], index.schema.names)[0]
    messages = _parsed(full.get("prompt"))
    extras = {
        "claims": claims_of(full.get("completion")),
        "prompt_messages": messages if isinstance(messages, list) else None,
        "sampling_params": _parsed(full.get("sampling")),
        "label": label_of(trace_id),
    }
    alternatives = index.read_rows(index.siblings(full["problem_id"], trace_id), SAMPLE_COLUMNS)
    for a in alternatives:
        a["claims"] = claims_of(a.get("completion"))
        a["label"] = label_of(a["trace_id"])
    alternatives.sort(key=lambda a: (a.get("sample_index") is None, a.get("sample_index")))
    full.update(extras)
    return {"trace": jsonable(full), "alternatives": jsonable(alternatives)}
