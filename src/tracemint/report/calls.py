"""The report's teacher line and its call figures: latency percentiles, cache hits, retries.

Why a whitelist for the teacher line: the manifest keeps the teacher's identity and the
recipe's ``[teacher]`` table, and a plugin teacher may put anything there (a key, a token
in ``extra_body``, credentials in a URL). The report is mailed around, so it shows only
fields known to be harmless (type, model, where it is served without user, password or
query, prefill style, dtype) and nothing else, whatever a teacher adds later.

Latency is read from the traces (``latency_s`` of each call not served from the cache), so
it is true for resumed runs too. Retries are a teacher counter, not a trace column: they are
shown when a session of the manifest records them (``teacher_stats``), else said to be
not recorded rather than shown as 0.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from tracemint.store import RunStore

#: latency percentiles the report shows
PERCENTILES = (0.5, 0.9, 0.99)
#: more replicas than this are summarised as "+ N more"
_MAX_URLS = 3
#: teacher counters a session may record under ``teacher_stats`` (see module doc)
_COUNTERS = ("retries", "rate_limited", "empty_replies")


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: where the server is, no secret."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "(unreadable URL)"
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def teacher_line(manifest: dict[str, Any]) -> str:
    """The teacher in one readable line, e.g. ``openai · model m · http://h:8000/v1 ·
    prefill continue_final_message`` (plain text: escape it for HTML)."""
    ident = manifest.get("teacher") or {}
    table = (manifest.get("recipe") or {}).get("teacher") or {}
    parts = [str(ident.get("teacher") or table.get("type") or "unknown teacher")]
    model = ident.get("model") or table.get("model")
    if model:
        parts.append(f"model {model}")
    urls = table.get("base_url")
    if urls:
        urls = [urls] if isinstance(urls, str) else [str(u) for u in urls]
        shown = ", ".join(public_url(u) for u in urls[:_MAX_URLS])
        more = len(urls) - _MAX_URLS
        parts.append(shown + (f" + {more} more" if more > 0 else ""))
    prefill = ident.get("prefill")
    if isinstance(prefill, dict) and prefill.get("style"):
        style = str(prefill["style"])
        template = prefill.get("chat_template")
        parts.append(f"prefill {style}" + (f" ({template})" if template else ""))
    dtype = ident.get("dtype") or table.get("dtype")
    if dtype:
        parts.append(f"dtype {dtype}")
    return " · ".join(parts)


def call_stats(store: RunStore, manifest: dict[str, Any]) -> dict[str, Any]:
    """Calls, cache hits, latency percentiles of the calls made, recorded retries."""
    names = set(store.column_names())
    cols = [c for c in ("latency_s", "cache_hit") if c in names]
    t = store.read_traces(columns=cols, allow_empty=True) if cols else pa.table({})
    calls = t.num_rows
    hits = 0
    latency: dict[float, float | None] = dict.fromkeys(PERCENTILES)
    made = calls
    if "cache_hit" in cols:
        hit = pc.fill_null(t.column("cache_hit"), False)
        hits = int(pc.sum(hit.cast("int64")).as_py() or 0)
        made = calls - hits
    if "latency_s" in cols:
        lat = t.column("latency_s")
        if "cache_hit" in cols:
            lat = pc.filter(lat, pc.invert(pc.fill_null(t.column("cache_hit"), False)))
        lat = pc.drop_null(lat)
        if len(lat):
            qs = pc.quantile(lat, q=list(PERCENTILES), interpolation="linear").to_pylist()
            latency = dict(zip(PERCENTILES, qs, strict=True))
    sessions = manifest.get("sessions") or []
    counters: dict[str, int | None] = {}
    for name in _COUNTERS:
        seen = [
            s["teacher_stats"][name]
            for s in sessions
            if isinstance(s.get("teacher_stats"), dict) and name in s["teacher_stats"]
        ]
        counters[name] = sum(int(v) for v in seen) if seen else None
    wall = sum(float(s.get("wall_s") or 0) for s in sessions)
    new_tokens = sum(int(s.get("completion_tokens") or 0) for s in sessions)
    return {
        "calls": calls,
        "calls_made": made,
        "cache_hits": hits,
        "cache_hit_share": hits / calls if calls else None,
        "latency": latency,
        "wall_s": wall,
        "new_completion_tokens": new_tokens,
        **counters,
    }


def _seconds(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f} s"


def latency_text(c: dict[str, Any]) -> str:
    """``0.051 s / 0.070 s / 0.093 s`` for p50 / p90 / p99, or n/a."""
    return " / ".join(_seconds(c["latency"][q]) for q in PERCENTILES)


def calls_html(c: dict[str, Any], s: dict[str, Any]) -> str:
    """The "Teacher calls" section (``s``: ``report_stats``, for the token totals)."""
    share = c["cache_hit_share"]
    rows: list[tuple[str, str]] = [
        ("calls (one per trace)", f"{c['calls']:,}"),
        (
            "served from the cache",
            f"{c['cache_hits']:,}" + ("" if share is None else f" ({share:.1%})"),
        ),
        ("calls made to the teacher", f"{c['calls_made']:,}"),
        ("latency p50 / p90 / p99 (calls made)", latency_text(c)),
    ]
    if c["retries"] is None:
        rows.append(("retries", "not recorded by this run"))
    else:
        rows.append(("retries", f"{c['retries']:,}"))
        if c["rate_limited"] is not None:
            rows.append(("rate-limited answers (429)", f"{c['rate_limited']:,}"))
    rows += [
        ("prompt tokens", f"{s['prompt_tokens']:,}"),
        ("completion tokens", f"{s['completion_tokens']:,}"),
    ]
    if c["wall_s"] > 0:
        rate = c["new_completion_tokens"] / c["wall_s"]
        rows.append(("wall time, all sessions", f"{c['wall_s']:,.1f} s"))
        rows.append(("completion tokens generated per second of wall time", f"{rate:,.0f}"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (
        "<h2>Teacher calls</h2><p>Latency is over the calls made in this run (a call "
        "served from the cache takes no time); probe and Monte-Carlo calls are not traces "
        f'and are not counted here.</p><table data-section="calls">{body}</table>'
    )
