"""The trace viewer's JSON API (no browser): filters, paging, detail, read-only, 127.0.0.1.

The run is a real one: the pipeline against the shipped test server (accuracy 0.5, so there
are wrong answers), plus a first shard of hand-written rationales graded by the real stages,
one of which reaches a wrong answer through a wrong step (``3 + 4 = 8``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint import stages
from tracemint.config import SelectConfig, load_recipe
from tracemint.errors import RunError
from tracemint.runner.local import LocalRunner
from tracemint.store import RunStore
from tracemint.view import TraceIndex, ViewerThread

N_PROBLEMS, SAMPLES = 8, 3
WRONG_STEP = "He buys 4 more, so 3 + 4 = 8."
HANDMADE = [
    f"Step 1: Tom starts with 3 apples.\nStep 2: {WRONG_STEP}\nThe answer is 8.",
    "Step 1: Tom starts with 3 apples.\nStep 2: He buys 4 more, so 3 + 4 = 7.\nThe answer is 7.",
    "Step 1: Count the apples he has and the ones he buys.\nThe answer is 7.",
]


def _handmade_records() -> list[dict[str, Any]]:
    question = "Tom has 3 apples and buys 4 more. How many apples does he have now?"
    traces = []
    for i, completion in enumerate(HANDMADE):
        tid = hashlib.sha256(f"handmade\x00{i}".encode()).hexdigest()[:16]
        traces.append(
            {
                "problem_id": "apples-3-4",
                "question": question,
                "reference": "7",
                "source": "handmade.jsonl",
                "source_index": 0,
                "trace_id": tid,
                "sample_index": i,
                "round": 0,
                "strategy": "cot",
                "teacher": "openai",
                "model": "test-model",
                "completion": completion,
                "finish_reason": "stop",
                "truncated": False,
            }
        )
    graded = stages.consensus(stages.check_steps(stages.verify(traces)))
    return stages.select(graded, SelectConfig())


def build_run(tmp: Path) -> Path:
    """A real run directory under ``tmp``; its first shard holds the hand-written problem."""
    problems = apples_problems(tmp / "problems.jsonl", 0, N_PROBLEMS)
    with start_test_server(answers=problems, accuracy=0.5) as (url, _stats):
        recipe = server_recipe(
            tmp / "recipe.toml",
            base_url=url,
            problems=problems,
            name="view",
            teacher={"concurrency": 8},
            sampling={"temperature": 0.7, "max_tokens": 200},
            budget={"samples": SAMPLES},
            run={"shard_rows": 12},
        )
        LocalRunner(load_recipe(recipe), progress=False).run()
    store = RunStore(tmp / "runs" / "view")
    for path in reversed(store.shards()):  # make room: the hand-written shard comes first
        n = int(path.stem.split("-")[1])
        os.replace(path, store.shard_path(n + 1))
    store.write_shard(_handmade_records(), index=0)
    return store.root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module")
def viewer(run_dir: Path) -> Any:
    with ViewerThread(run_dir) as v:
        yield v


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _status(url: str, method: str = "GET") -> int:
    req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_binds_localhost_on_a_free_port(viewer: ViewerThread) -> None:
    assert viewer.url.startswith("http://127.0.0.1:")
    port = int(viewer.url.rstrip("/").rsplit(":", 1)[1])
    assert port > 0
    sock = viewer._runner.addresses[0]  # type: ignore[union-attr]
    assert sock[0] == "127.0.0.1"
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) == 0


def test_summary(viewer: ViewerThread) -> None:
    s = _get(viewer.url + "api/summary")
    assert s["traces"] == N_PROBLEMS * SAMPLES + len(HANDMADE)
    assert s["problems"] == N_PROBLEMS + 1
    assert sum(s["verdict"].values()) == s["traces"]
    assert s["verdict"].get("wrong", 0) >= 1 and s["verdict"].get("correct", 0) >= 1
    assert "handmade.jsonl" in s["source"]
    assert set(s["accepted"]) <= {"True", "False"}
    assert "pass_rate" in s["score_columns"]


def test_filter_and_paging(viewer: ViewerThread) -> None:
    base = viewer.url + "api/traces"
    everything = _get(base + "?limit=500")
    assert everything["total"] == N_PROBLEMS * SAMPLES + len(HANDMADE)
    wrong = _get(base + "?verdict=wrong&limit=500")
    assert wrong["total"] == sum(r["verdict"] == "wrong" for r in everything["rows"])
    assert {r["verdict"] for r in wrong["rows"]} == {"wrong"}
    first = wrong["rows"][0]
    assert first["problem_id"] == "apples-3-4" and first["answer"] == "8"
    assert first["reference_answer"] == "7" and first["first_wrong_step"] == 1
    assert first["drop_reason"]
    assert "completion" not in first  # pages carry only light columns
    # pages tile the filtered list
    ids = [r["trace_id"] for r in everything["rows"]]
    paged = []
    for off in range(0, len(ids), 5):
        page = _get(f"{base}?offset={off}&limit=5")
        assert page["total"] == len(ids)
        paged += [r["trace_id"] for r in page["rows"]]
    assert paged == ids
    assert _get(f"{base}?offset={len(ids)}")["rows"] == []
    # combined filters
    hand = _get(base + "?source=handmade.jsonl&accepted=true")
    assert [r["sample_index"] for r in hand["rows"]] == [1, 2]
    rates = _get(base + "?min_pass_rate=0.5&max_pass_rate=0.7&limit=500")
    assert all(0.5 <= r["pass_rate"] <= 0.7 for r in rates["rows"])
    probe = _get(base + "?probe=agreement&min=1&limit=500")
    assert probe["total"] >= 1 and all(r["agreement"] == 1.0 for r in probe["rows"])


def test_bad_queries_are_400(viewer: ViewerThread) -> None:
    base = viewer.url + "api/traces"
    assert _status(base + "?probe=nope&min=1") == 400
    assert _status(base + "?min_pass_rate=abc") == 400
    assert _status(base + "?accepted=maybe") == 400
    assert _status(base + "?offset=x") == 400
    assert _status(viewer.url + "api/trace/does-not-exist") == 404


def test_trace_detail_with_alternatives(viewer: ViewerThread) -> None:
    page = _get(viewer.url + "api/traces?source=handmade.jsonl")
    tid = page["rows"][0]["trace_id"]
    d = _get(viewer.url + f"api/trace/{tid}")
    t = d["trace"]
    assert t["completion"] == HANDMADE[0] and t["verdict"] == "wrong"
    steps = t["steps"]
    wrong = [s for s in steps if s["verdict"] == "wrong"]
    assert len(wrong) == 1 and WRONG_STEP in wrong[0]["text"]
    assert all(t["completion"][s["start"] : s["end"]] == s["text"] for s in steps)
    assert {s["verdict"] for s in steps} >= {"wrong", "unchecked"}
    alts = d["alternatives"]
    assert [a["sample_index"] for a in alts] == [1, 2]
    assert [a["completion"] for a in alts] == HANDMADE[1:]
    assert tid not in {a["trace_id"] for a in alts}


def test_read_only(viewer: ViewerThread) -> None:
    for path in ("", "api/summary", "api/traces", "api/trace/x"):
        assert _status(viewer.url + path, "POST") == 405
        assert _status(viewer.url + path, "DELETE") == 405
    assert _status(viewer.url) == 200


def test_page_is_served(viewer: ViewerThread) -> None:
    with urllib.request.urlopen(viewer.url, timeout=10) as r:
        html = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
    assert "step-wrong" in html and "api/traces" in html
    assert "http://" not in html and "https://" not in html  # no CDN: works offline


def test_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no such run directory"):
        TraceIndex(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no trace shards"):
        TraceIndex(tmp_path / "empty")


def test_cli_view_missing_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tracemint.cli import app

    result = CliRunner().invoke(app, ["view", str(tmp_path / "nope")])
    assert result.exit_code == RunError.exit_code
    assert "no such run directory" in " ".join(result.output.split())
