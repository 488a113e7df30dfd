"""Example traces for the report: one accepted, one with a wrong step, one with a wrong answer.

Why: numbers say how many traces were kept, not what a kept or a rejected one looks like;
a reader trusts the verifier after seeing one wrong claim with the value it should have.
Steps are coloured as in the viewer (ok / wrong / unchecked), and each wrong claim shows its
``computed`` value: the shards keep only each step's verdict, so the claims are recomputed
with the step checker (``check_steps``, deterministic and cheap for three traces).

Rationales, questions and answers are untrusted text (a teacher can write ``<script>``):
every piece is escaped; only the markup built here is HTML.

The choice reads a few small columns of every trace, then the full rows of the (at most
three) chosen ones from their shards alone, so a million-trace run costs no second read of
every rationale.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracemint.store import RunStore
from tracemint.verify.arithmetic import check_steps

#: the question and the rationale are cut to this many characters in the report
MAX_QUESTION_CHARS = 600
MAX_RATIONALE_CHARS = 2500

_PICK_COLUMNS = ("accepted", "verdict", "first_wrong_step", "n_claims_checked", "drop_reason")
_SHOW_COLUMNS = (
    "trace_id",
    "problem_id",
    "question",
    "answer",
    "reference_answer",
    "verdict",
    "accepted",
    "drop_reason",
    "first_wrong_step",
    "completion",
    "steps",
)

Pred = Callable[[dict[str, Any]], bool]

STYLE = """.example{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:1em 0}
.example h3{margin:.2em 0}.example .meta{color:#555;font-size:.9em}
.rationale{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85em;
background:#fafafa;padding:.5em;border-radius:4px}
.step-ok{background:#e6f4ea}.step-wrong{background:#ffc9c9;color:#7a0010;
outline:1px solid #e06070}.step-unchecked{color:#888}
.claim-wrong{text-decoration:underline wavy #b00020;font-weight:600}
.should{background:#b00020;color:#fff;border-radius:3px;padding:0 .3em;margin-left:.3em;
font-family:system-ui,sans-serif;font-size:.85em}
.legend span{padding:0 .4em;margin-right:.4em}"""


def _dropped_for_step(r: dict[str, Any]) -> bool:
    return not r.get("accepted") and str(r.get("drop_reason") or "").startswith("wrong step")


def _step_title(r: dict[str, Any]) -> str:
    if r.get("accepted"):
        return "Accepted with a wrong step ([select] reject_wrong_steps is off)"
    if r.get("verdict") == "wrong":
        return "Rejected by a wrong step (its answer is wrong too)"
    return "Rejected by a wrong step"


def _pick(rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """``(kind, title, row index)`` of the examples: for each kind the first row (in shard
    order: deterministic) that meets the first criterion any row meets. Preferred: an
    accepted trace with checked claims (green steps), a right answer rejected for a step
    alone (what an answer check would have kept), a wrong answer with no wrong step."""
    chosen: list[tuple[str, str, int]] = []
    used: set[int] = set()

    def take(kind: str, title: Callable[[dict[str, Any]], str], *preds: Pred) -> None:
        for pred in preds:
            i = next((i for i, r in enumerate(rows) if i not in used and pred(r)), None)
            if i is not None:
                used.add(i)
                chosen.append((kind, title(rows[i]), i))
                return

    take(
        "accepted",
        lambda r: "Accepted",
        lambda r: bool(r.get("accepted")) and (r.get("n_claims_checked") or 0) > 0,
        lambda r: bool(r.get("accepted")),
    )
    take(
        "wrong-step",
        _step_title,
        lambda r: _dropped_for_step(r) and r.get("verdict") == "correct",
        _dropped_for_step,
        lambda r: r.get("first_wrong_step") is not None and r.get("verdict") == "correct",
        lambda r: r.get("first_wrong_step") is not None,
    )
    take(
        "wrong-answer",
        lambda r: "Rejected by its answer",
        lambda r: (
            not r.get("accepted")
            and r.get("verdict") == "wrong"
            and r.get("first_wrong_step") is None
        ),
        lambda r: not r.get("accepted") and r.get("verdict") == "wrong",
    )
    return chosen


def _rows_at(store: RunStore, indices: list[int]) -> dict[int, dict[str, Any]]:
    """Full display rows for global row ``indices`` (the order of ``read_traces``)."""
    out: dict[int, dict[str, Any]] = {}
    base = 0
    for path in store.shards():
        f = pq.ParquetFile(path)
        n = f.metadata.num_rows
        local = [i - base for i in indices if base <= i < base + n]
        if local:
            have = set(f.schema_arrow.names)
            table = f.read(columns=[c for c in _SHOW_COLUMNS if c in have])
            for i in local:
                out[base + i] = table.slice(i, 1).to_pylist()[0]
        base += n
    return out


def example_traces(store: RunStore, step_mode: str = "auto") -> list[dict[str, Any]]:
    """The chosen example rows, each with ``kind``, ``title`` and ``claims`` added."""
    names = set(store.column_names())
    cols = [c for c in _PICK_COLUMNS if c in names]
    if "accepted" not in cols or not store.shards():
        return []
    rows = store.read_traces(columns=cols).to_pylist()
    chosen = _pick(rows)
    full = _rows_at(store, [i for _, _, i in chosen])
    out = []
    for kind, title, i in chosen:
        row = dict(full[i])
        try:
            check = check_steps(row.get("completion") or "", mode=step_mode)
            row["claims"] = [c for s in check.steps for c in s.claims if c.verdict == "wrong"]
        except Exception:  # a checker bug must not cost the report: show verdicts only
            row["claims"] = []
        out.append({**row, "kind": kind, "title": title})
    return out


def _claim_html(text: str, start: int, end: int, claims: list[Any]) -> str:
    """``text[start:end]`` escaped, each wrong claim inside it marked with its right value."""
    parts, pos = [], start
    for c in claims:
        if c.start < pos or c.end > end:
            continue
        parts.append(html.escape(text[pos : c.start]))
        should = f"should be {c.computed}" if c.computed is not None else "wrong"
        parts.append(
            f'<span class="claim-wrong">{html.escape(text[c.start : c.end])}</span>'
            f'<span class="should">{html.escape(should)}</span>'
        )
        pos = c.end
    parts.append(html.escape(text[pos:end]))
    return "".join(parts)


def rationale_html(text: str, steps: list[dict[str, Any]] | None, claims: list[Any]) -> str:
    """The rationale with each step in a span coloured by its verdict (the viewer's classes),
    cut after ``MAX_RATIONALE_CHARS``."""
    cut = len(text) if len(text) <= MAX_RATIONALE_CHARS else MAX_RATIONALE_CHARS
    parts, pos = [], 0
    for i, s in enumerate(steps or []):
        start, end = int(s.get("start") or 0), int(s.get("end") or 0)
        if start < pos or end > cut or end <= start:
            continue
        verdict = s.get("verdict") or "unchecked"
        verdict = verdict if verdict in ("ok", "wrong", "unchecked") else "unchecked"
        parts.append(_claim_html(text, pos, start, claims))
        parts.append(
            f'<span class="step step-{verdict}" title="step {i}: {verdict}">'
            f"{_claim_html(text, start, end, claims)}</span>"
        )
        pos = end
    parts.append(_claim_html(text, pos, cut, claims))
    more = len(text) - cut
    tail = f"<em> … {more:,} more characters (see the viewer)</em>" if more > 0 else ""
    return f'<div class="rationale">{"".join(parts)}{tail}</div>'


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + " …"


def _example_html(ex: dict[str, Any]) -> str:
    e = html.escape
    meta = [
        f"problem <code>{e(str(ex.get('problem_id')))}</code>",
        f"trace <code>{e(str(ex.get('trace_id')))}</code>",
        f"answer <b>{e(str(ex.get('answer')))}</b>",
        f"reference <b>{e(str(ex.get('reference_answer')))}</b>",
        f"verdict {e(str(ex.get('verdict')))}",
    ]
    if ex.get("drop_reason"):
        meta.append(f"not accepted: {e(str(ex['drop_reason']))}")
    question = _cut(str(ex.get("question") or ""), MAX_QUESTION_CHARS)
    return (
        f'<div class="example" data-example="{e(ex["kind"])}"><h3>{e(ex["title"])}</h3>'
        f'<p class="meta">{" · ".join(meta)}</p>'
        f"<p><b>Question.</b> {e(question)}</p>"
        f"{rationale_html(ex.get('completion') or '', ex.get('steps'), ex.get('claims') or [])}"
        "</div>"
    )


def viewer_command(run_dir: str | Path) -> str:
    """The command that opens the trace viewer on this run."""
    return f"tracemint view {shlex.quote(str(run_dir))}"


def examples_html(examples: list[dict[str, Any]], run_dir: str | Path) -> str:
    """The "Example traces" section, with the line that opens the viewer on this run."""
    legend = (
        '<p class="legend">steps: <span class="step-ok">ok</span>'
        '<span class="step-wrong">wrong</span><span class="step-unchecked">unchecked</span>'
        " (a step is ok or wrong when it holds an arithmetic claim <code>expr = value</code>, "
        "checked exactly)</p>"
    )
    body = "".join(_example_html(x) for x in examples) or "<p>No traces.</p>"
    return (
        f"<h2>Example traces</h2>{legend if examples else ''}{body}"
        f'<p class="viewer">Browse, search and label every trace: '
        f"<code>{html.escape(viewer_command(run_dir))}</code></p>"
    )
