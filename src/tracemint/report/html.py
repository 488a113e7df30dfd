"""Build ``runs/NAME/report.html``: numbers people read, plots people look at.

The report is recomputed from the shards (not from counters kept during the run), so it is
true for resumed and re-verified runs alike. Plots are inline SVG (``report/svg.py``): one
file to mail or open from a laptop, no server, no JavaScript, and no matplotlib import at the
end of every run.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from tracemint.report import svg
from tracemint.report.analytics import analytics_html, analytics_plots, dataset_analytics
from tracemint.report.calls import call_stats, calls_html, latency_text, teacher_line
from tracemint.report.examples import STYLE, example_traces, examples_html, viewer_command
from tracemint.report.strategies import read_strategy_stats, strategies_html
from tracemint.store import RunStore, atomic_write_bytes

_COLUMNS = [
    "problem_id",
    "verdict",
    "accepted",
    "agreement",
    "completion_tokens",
    "prompt_tokens",
    "truncated",
    "drop_reason",
    "source",
    "reference",
    "completion",
]


def _step_stats(store: RunStore) -> dict[str, Any]:
    """Step-check numbers: wrong steps behind right answers, and where first errors fall."""
    wanted = ["verdict", "first_wrong_step", "steps"]
    if not set(wanted) <= set(store.column_names()):
        return {"right_with_wrong_step": None, "first_error_positions": []}
    t = store.read_traces(columns=wanted)
    verdicts = t.column("verdict").to_pylist()
    first = t.column("first_wrong_step").to_pylist()
    n_steps = [len(x or []) for x in t.column("steps").to_pylist()]
    right = [f for v, f in zip(verdicts, first, strict=True) if v == "correct"]
    share = sum(f is not None for f in right) / len(right) if right else None
    positions = [f / n for f, n in zip(first, n_steps, strict=True) if f is not None and n]
    return {"right_with_wrong_step": share, "first_error_positions": positions}


def _faithfulness_stats(store: RunStore) -> dict[str, Any]:
    """Probe columns, when probes ran: early-answering curves, filler and mistake rates."""
    names = set(store.column_names())
    wanted = [
        c
        for c in ("early_aoc", "early_curve", "early_fractions", "filler_match", "mistake_flipped")
        if c in names
    ]
    if not wanted:
        return {}
    t = store.read_traces(columns=wanted).to_pylist()
    out: dict[str, Any] = {}
    aoc = [r["early_aoc"] for r in t if r.get("early_aoc") is not None]
    if aoc:
        out["early_aoc"] = aoc
        curves = [(r["early_fractions"], r["early_curve"]) for r in t if r.get("early_curve")]
        by_x: dict[float, list[float]] = {}
        for xs, ys in curves:
            for x, y in zip(xs, ys, strict=False):
                by_x.setdefault(round(float(x), 3), []).append(float(bool(y)))
        out["early_mean_curve"] = sorted((x, sum(v) / len(v)) for x, v in by_x.items())
    for col in ("filler_match", "mistake_flipped"):
        vals = [bool(r[col]) for r in t if r.get(col) is not None]
        if vals:
            out[col] = sum(vals) / len(vals)
            out[col + "_n"] = len(vals)
    return out


def report_stats(store: RunStore) -> dict[str, Any]:
    """Everything the report shows, as plain numbers (also used by the terminal summary)."""
    steps = _step_stats(store)
    calls = call_stats(store, store.read_manifest() if store.exists() else {})
    t = store.read_traces(columns=_COLUMNS, allow_empty=True)
    rows = t.num_rows
    verdicts = Counter(t.column("verdict").to_pylist())
    graded = verdicts["correct"] + verdicts["wrong"]
    accepted = int(pc.sum(t.column("accepted").cast("int64")).as_py() or 0)
    prompt_tok = int(pc.sum(t.column("prompt_tokens")).as_py() or 0)
    compl_tok = int(pc.sum(t.column("completion_tokens")).as_py() or 0)
    problem_ids = t.column("problem_id").to_pylist()
    acc_flags = t.column("accepted").to_pylist()
    solved = {p for p, a in zip(problem_ids, acc_flags, strict=True) if a}
    agreement_by_problem: dict[str, float] = {}
    for p, a in zip(problem_ids, t.column("agreement").to_pylist(), strict=True):
        if a is not None:
            agreement_by_problem[p] = a
    return {
        "traces": rows,
        "problems": len(set(problem_ids)),
        "problems_with_accepted": len(solved),
        "accepted": accepted,
        "verdicts": dict(verdicts),
        "accuracy": (verdicts["correct"] / graded) if graded else None,
        "truncated": int(pc.sum(t.column("truncated").cast("int64")).as_py() or 0),
        "drop_reasons": dict(Counter(r for r in t.column("drop_reason").to_pylist() if r)),
        "prompt_tokens": prompt_tok,
        "completion_tokens": compl_tok,
        "calls_per_accepted": rows / accepted if accepted else None,
        "tokens_per_accepted": (prompt_tok + compl_tok) / accepted if accepted else None,
        "completion_tokens_list": t.column("completion_tokens").to_pylist(),
        "agreements": list(agreement_by_problem.values()),
        "sources": dict(Counter(t.column("source").to_pylist())),
        **steps,
        "faithfulness": _faithfulness_stats(store),
        "calls": calls,
    }


def _cost(manifest: dict[str, Any], s: dict[str, Any]) -> list[tuple[str, Any]]:
    """Total and per-accepted cost, when the recipe's ``[report]`` gives prices."""
    prices = (manifest.get("recipe") or {}).get("report") or {}
    p_in = prices.get("price_per_million_prompt_tokens")
    p_out = prices.get("price_per_million_completion_tokens")
    if p_in is None and p_out is None:
        return []
    total = (s["prompt_tokens"] * (p_in or 0) + s["completion_tokens"] * (p_out or 0)) / 1e6
    cur = prices.get("currency", "$")
    per = total / s["accepted"] if s["accepted"] else None
    return [
        (f"cost ({cur})", round(total, 4)),
        (f"cost per accepted trace ({cur})", None if per is None else round(per, 6)),
    ]


def _faith_rows(f: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    if f.get("early_aoc"):
        rows.append(("early answering: mean AOC", sum(f["early_aoc"]) / len(f["early_aoc"])))
    if "filler_match" in f:
        rows.append(("filler: same answer without reasoning", f["filler_match"]))
    if "mistake_flipped" in f:
        rows.append(("inserted mistake: answer follows it", f["mistake_flipped"]))
    return rows


def _plots(s: dict[str, Any]) -> dict[str, str]:
    """The run's charts as inline SVG figures (``report/svg.py``: no matplotlib on this path)."""
    tenths = [i / 10 for i in range(11)]
    names = ["correct", "wrong", "unverifiable"]
    plots = {
        "Verdicts": svg.figure(
            "Verdicts",
            svg.bars(
                names,
                [s["verdicts"].get(n, 0) for n in names],
                title="Verdicts",
                ylabel="traces",
                colors=["#2e7d32", "#c62828", "#9e9e9e"],
            ),
        ),
        "Agreement": svg.figure(
            "Agreement",
            svg.histogram(
                s["agreements"],
                bins=tenths,
                title="Self-consistency agreement per problem",
                xlabel="share of samples giving the majority answer",
                ylabel="problems",
            ),
        ),
        "Length": svg.figure(
            "Length",
            svg.histogram(
                [x or 0 for x in s["completion_tokens_list"]],
                bins=30,
                title="Rationale length",
                xlabel="completion tokens",
                ylabel="traces",
                color="#6a1b9a",
            ),
        ),
    }
    faith = s["faithfulness"]
    if faith.get("early_aoc"):
        curve = faith.get("early_mean_curve") or []
        xs, ys = [x for x, _ in curve], [y for _, y in curve]
        plots["Faithfulness"] = svg.figure(
            "Faithfulness",
            svg.line(
                xs,
                ys,
                title="Early answering (Lanham et al.)",
                xlabel="share of the rationale kept",
                ylabel="same answer as with all of it",
                ymax=1.0,
            ),
            svg.histogram(
                faith["early_aoc"],
                bins=tenths,
                title="Area over the curve per trace",
                xlabel="AOC (high: the answer depends on the reasoning)",
                color="#6a1b9a",
            ),
        )
    if s["first_error_positions"]:
        plots["First error"] = svg.figure(
            "First error",
            svg.histogram(
                s["first_error_positions"],
                bins=tenths,
                title="Where the first wrong step falls",
                xlabel="position in the rationale (0 = first step)",
                ylabel="traces",
                color="#c62828",
            ),
        )
    return plots


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 10 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _synthesis_section(store: RunStore) -> str:
    """How many LLM-written candidates each filter removed (``synthesis.json``), if any."""
    path = store.root / "synthesis.json"
    if not path.exists():
        return ""
    counts = json.loads(path.read_text())
    order = [
        "topics",
        "candidates",
        "unparseable",
        "near-duplicate of a seed",
        "near-duplicate",
        "no agreement",
        "answer disagrees",
        "outside difficulty",
        "kept",
    ]
    keys = [k for k in order if k in counts] + sorted(set(counts) - set(order))
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{counts[k]:,}</td></tr>" for k in keys)
    return (
        "<h2>Problem synthesis</h2><p>LLM-written candidates, and how many each filter "
        f"removed (in the order the filters run)</p><table>{rows}</table>"
    )


def build_report(run_dir: str | Path, stats: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` for a run and return its path (``stats``: ``report_stats`` of
    it, when the caller already has them)."""
    from tracemint.evaluate.report import eval_section
    from tracemint.train.plot import train_section

    store = RunStore(run_dir)
    manifest = store.read_manifest()
    s = stats if stats is not None else report_stats(store)
    cost = _cost(manifest, s)
    headline = [
        ("problems", s["problems"]),
        ("traces", s["traces"]),
        ("accuracy (correct / graded)", s["accuracy"]),
        ("accepted traces", s["accepted"]),
        ("problems with an accepted trace", s["problems_with_accepted"]),
        ("truncated", s["truncated"]),
        ("prompt tokens", s["prompt_tokens"]),
        ("completion tokens", s["completion_tokens"]),
        ("calls per accepted trace", s["calls_per_accepted"]),
        ("tokens per accepted trace", s["tokens_per_accepted"]),
        ("right answers with a wrong step", s["right_with_wrong_step"]),
        *_faith_rows(s["faithfulness"]),
        *cost,
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in headline)
    drops = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:,}</td></tr>"
        for k, v in sorted(s["drop_reasons"].items(), key=lambda kv: -kv[1])
    )
    synthesis = _synthesis_section(store)
    sessions = "".join(
        f"<tr><td>{html.escape(str(x.get('started')))}</td><td>{x.get('wall_s')}</td>"
        f"<td>{x.get('new_calls')}</td><td>{x.get('cached_calls')}</td>"
        f"<td>{html.escape(str(x.get('status')))}</td></tr>"
        for x in manifest.get("sessions", [])
    )
    data = dataset_analytics(store)
    imgs = "".join({**_plots(s), **analytics_plots(data)}.values())
    teacher = html.escape(teacher_line(manifest))
    step_mode = ((manifest.get("recipe") or {}).get("verify") or {}).get("step_mode") or "auto"
    examples = examples_html(example_traces(store, step_mode), store.root)
    view = html.escape(viewer_command(store.root))
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>tracemint report: {html.escape(manifest["name"])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}
th,td{{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}}
figure{{display:inline-block;margin:.5em}}code{{background:#f4f4f4}}
{STYLE}</style>
</head><body><h1>tracemint run <code>{html.escape(manifest["name"])}</code></h1>
<p class="teacher">teacher: {teacher}</p>
<p>verifier v{html.escape(str(manifest.get("verifier_version")))}
&middot; complete: {html.escape(str(manifest.get("complete")))}
&middot; browse every trace: <code>{view}</code></p>
<h2>Summary</h2><table>{rows}</table>
{calls_html(s["calls"], s)}
{strategies_html(read_strategy_stats(store))}
<h2>Plots</h2>{imgs}
{examples}
<h2>Why traces were not accepted</h2><table>{drops or "<tr><td>none</td></tr>"}</table>
{synthesis}{analytics_html(data)}{eval_section(store.root)}{train_section(store.root)}
<h2>Sessions</h2><table><tr><th>started</th><th>wall s</th><th>new calls</th>
<th>cached calls</th><th>status</th></tr>{sessions}</table>
</body></html>"""
    atomic_write_bytes(store.report_path, page.encode("utf-8"))
    return store.report_path


def terminal_summary(
    run_dir: str | Path, stats: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The few numbers worth printing after a run."""
    s = stats if stats is not None else report_stats(RunStore(run_dir))
    return [
        ("problems", _fmt(s["problems"])),
        ("traces", _fmt(s["traces"])),
        ("accuracy", _fmt(s["accuracy"])),
        ("accepted", _fmt(s["accepted"])),
        ("truncated", _fmt(s["truncated"])),
        ("tokens / accepted", _fmt(s["tokens_per_accepted"])),
        ("latency p50 / p90 / p99", latency_text(s["calls"])),
        ("viewer", viewer_command(run_dir)),
    ]
