"""The trace viewer's JSON API (no browser): filters, search, paging, detail, labels, export.

The run is a real one: the pipeline against the shipped test server (accuracy 0.5, so there
are wrong answers), plus a first shard of hand-written rationales graded by the real stages,
one of which reaches a wrong answer through a wrong step (``3 + 4 = 8``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest_server import apples_problems, server_recipe, start_test_server
from tracemint import labels, stages
from tracemint.config import SelectConfig, load_recipe
from tracemint.errors import RunError
from tracemint.export import export_run
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


# -- curation: search, strict parameters, claims, labels, subset export ---------------------


def _body(url: str, method: str = "GET", data: bytes | None = None, **headers: str) -> Any:
    """(status, parsed JSON body) for any status."""
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return int(e.code), json.loads(e.read())


def _post_label(url: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return _body(url + "api/labels", "POST", data, **headers)


def _handmade_ids(url: str) -> list[str]:
    page = _get(url + "api/traces?source=handmade.jsonl")
    return [r["trace_id"] for r in sorted(page["rows"], key=lambda r: r["sample_index"])]


def test_unknown_or_repeated_parameters_are_400(viewer: ViewerThread) -> None:
    status, body = _body(viewer.url + "api/traces?verdikt=wrong")
    assert status == 400 and "'verdikt'" in body["error"]
    status, body = _body(viewer.url + "api/traces?verdict=wrong&verdict=correct")
    assert status == 400 and "more than once" in body["error"]
    assert _status(viewer.url + "api/export?offset=0") == 400  # the export is not paged
    assert _status(viewer.url + "api/export?verdict=wrong&colour=red") == 400
    assert _status(viewer.url + "api/summary?x=1") == 400
    assert _status(viewer.url + "api/labels?x=1") == 400
    tid = _handmade_ids(viewer.url)[0]
    assert _status(viewer.url + f"api/trace/{tid}?full=1") == 400
    assert _status(viewer.url + "api/traces?label=maybe") == 400
    assert _status(viewer.url + "api/traces?min=1") == 400  # a range needs its column
    assert _status(viewer.url + "?anything=goes") == 200  # the page keeps its state there


def test_full_text_search(viewer: ViewerThread) -> None:
    base = viewer.url + "api/traces?limit=500&q="
    q5 = _get(base + urllib.parse.quote('"(#5)"'))  # in the question
    assert q5["total"] == SAMPLES and {r["problem_id"] for r in q5["rows"]} == {"q5"}
    wrong = _get(base + urllib.parse.quote("3 + 4 = 8"))  # in the rationale, terms ANDed
    assert wrong["total"] >= 1 and all(r["problem_id"] == "apples-3-4" for r in wrong["rows"])
    phrase = _get(base + urllib.parse.quote('"COUNT THE APPLES"'))  # case-insensitive phrase
    assert [r["sample_index"] for r in phrase["rows"]] == [2]
    both = _get(base + urllib.parse.quote("tom 8") + "&source=handmade.jsonl")
    assert [r["sample_index"] for r in both["rows"]] == [0]
    assert _get(base + "zebra")["total"] == 0
    assert _get(base + "%20%20")["total"] == _get(viewer.url + "api/summary")["traces"]


def test_detail_has_claims_prompt_and_call(viewer: ViewerThread) -> None:
    tid = _handmade_ids(viewer.url)[0]
    t = _get(viewer.url + f"api/trace/{tid}")["trace"]
    wrong = [c for c in t["claims"] if c["verdict"] == "wrong"]
    assert len(wrong) == 1
    assert (wrong[0]["expression"], wrong[0]["value"], wrong[0]["computed"]) == ("3 + 4", "8", "7")
    assert t["completion"][wrong[0]["start"] : wrong[0]["end"]].startswith("3 + 4")
    assert t["label"] is None
    alts = _get(viewer.url + f"api/trace/{tid}")["alternatives"]
    assert [c["verdict"] for c in alts[0]["claims"]] == ["ok"]
    # a trace the pipeline sampled: the prompt and the sampling parameters, parsed
    row = _get(viewer.url + "api/traces?source=problems&limit=1")["rows"][0]
    t = _get(viewer.url + f"api/trace/{row['trace_id']}")["trace"]
    assert t["prompt_messages"][-1]["role"] == "user"
    assert "Tom has" in t["prompt_messages"][-1]["content"]
    assert t["sampling_params"]["temperature"] == 0.7
    assert t["finish_reason"] == "stop" and t["completion_tokens"] > 0


@pytest.fixture()
def labelled(run_dir: Path, tmp_path: Path) -> Any:
    """A viewer on a copy of the run: labels write to the run directory."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    with ViewerThread(copy) as v:
        yield v, copy


def test_labels_validation(labelled: Any) -> None:
    viewer, run = labelled
    tid = _handmade_ids(viewer.url)[0]
    assert _post_label(viewer.url, {"trace_id": "nope", "label": "accept"})[0] == 404
    status, body = _post_label(viewer.url, {"trace_id": tid, "label": "maybe"})
    assert status == 400 and "label must be one of" in body["error"]
    assert _post_label(viewer.url, {"trace_id": tid})[0] == 400
    assert _post_label(viewer.url, {"trace_id": tid, "label": "accept", "who": "me"})[0] == 400
    assert _post_label(viewer.url, {"trace_id": tid, "label": "accept", "note": 3})[0] == 400
    assert (
        _post_label(viewer.url, {"trace_id": tid, "label": "reject", "note": "x" * 3000})[0] == 400
    )
    assert _post_label(viewer.url, b"not json")[0] == 400
    assert _post_label(viewer.url, [tid])[0] == 400
    body = json.dumps({"trace_id": tid, "label": "accept"}).encode()
    assert _post_label(viewer.url, body, **{"Content-Type": "text/plain"})[0] == 415
    assert _post_label(viewer.url, body, Origin="http://evil.example")[0] == 403
    assert not (run / "labels.jsonl").exists()  # nothing bad was written
    assert _status(viewer.url + "api/labels", "DELETE") == 405


def test_labels_are_appended_and_the_last_wins(labelled: Any) -> None:
    viewer, run = labelled
    wrong, right, _ = _handmade_ids(viewer.url)
    shards = {p: p.stat().st_mtime_ns for p in (run / "traces").glob("*.parquet")}
    status, body = _post_label(viewer.url, {"trace_id": wrong, "label": "reject", "note": "no"})
    assert status == 200 and body["label"] == "reject" and body["time"].endswith("Z")
    _post_label(viewer.url, {"trace_id": wrong, "label": "accept", "note": " 8 is fine "})
    _post_label(viewer.url, {"trace_id": right, "label": "reject"})
    lines = (run / "labels.jsonl").read_text().splitlines()
    assert [json.loads(x)["label"] for x in lines] == ["reject", "accept", "reject"]
    assert labels.read_labels(run)[wrong] == labels.Label(
        wrong, "accept", "8 is fine", json.loads(lines[1])["time"]
    )
    current = _get(viewer.url + "api/labels")
    assert {k: v["label"] for k, v in current.items()} == {wrong: "accept", right: "reject"}
    assert _get(viewer.url + "api/summary")["labels"] == {"accept": 1, "reject": 1}
    accepted = _get(viewer.url + "api/traces?label=accept")["rows"]
    assert [(r["trace_id"], r["label_note"]) for r in accepted] == [(wrong, "8 is fine")]
    assert _get(viewer.url + "api/traces?label=any")["total"] == 2
    everything = _get(viewer.url + "api/summary")["traces"]
    assert _get(viewer.url + "api/traces?label=none")["total"] == everything - 2
    _post_label(viewer.url, {"trace_id": right, "label": "clear"})
    assert set(_get(viewer.url + "api/labels")) == {wrong}
    assert _get(viewer.url + f"api/trace/{wrong}")["trace"]["label"]["label"] == "accept"
    # the shards were never written
    assert {p: p.stat().st_mtime_ns for p in (run / "traces").glob("*.parquet")} == shards


def test_subset_export(viewer: ViewerThread) -> None:
    with urllib.request.urlopen(viewer.url + "api/export?verdict=wrong", timeout=10) as r:
        assert "attachment" in r.headers["Content-Disposition"]
        assert r.headers["Content-Disposition"].endswith('-subset.jsonl"')
        rows = [json.loads(line) for line in r.read().decode().splitlines()]
    page = _get(viewer.url + "api/traces?verdict=wrong&limit=500")
    assert [x["trace_id"] for x in rows] == [x["trace_id"] for x in page["rows"]]
    assert all(x["verdict"] == "wrong" for x in rows)
    assert {"completion", "steps", "prompt", "label", "label_note"} <= set(rows[0])
    with urllib.request.urlopen(viewer.url + "api/export?q=zebra", timeout=10) as r:
        assert r.read() == b""


def test_labels_change_the_next_export(labelled: Any, tmp_path: Path) -> None:
    viewer, run = labelled
    wrong, right, terse = _handmade_ids(viewer.url)
    before = export_run(run, ["sft", "dpo"], tmp_path / "before", ("jsonl",))
    sft = _rows(tmp_path / "before" / "sft.jsonl")
    assert right in sft and terse in sft and wrong not in sft
    assert "label" not in next(iter(sft.values()))  # no labels: rows as before
    _post_label(viewer.url, {"trace_id": wrong, "label": "accept", "note": "a human says so"})
    _post_label(viewer.url, {"trace_id": right, "label": "reject", "note": "too terse"})
    after = export_run(run, ["sft", "dpo"], tmp_path / "after", ("jsonl", "parquet"))
    sft = _rows(tmp_path / "after" / "sft.jsonl")
    assert right not in sft and wrong in sft
    assert (sft[wrong]["label"], sft[wrong]["label_note"]) == ("accept", "a human says so")
    assert sft[terse]["label"] is None
    assert after["sft"]["rows"] == before["sft"]["rows"]  # one in, one out
    assert "label" in pq.read_schema(tmp_path / "after" / "sft.parquet").names
    dpo = (tmp_path / "after" / "dpo.jsonl").read_text()
    assert right not in dpo  # a human reject is in no export, not even as a bad example


def _rows(path: Path) -> dict[str, Any]:
    rows = (json.loads(x) for x in path.read_text().splitlines())
    return {r["trace_id"]: r for r in rows}


def test_label_file_format(tmp_path: Path) -> None:
    assert labels.read_labels(tmp_path) == {}
    labels.append_label(tmp_path, labels.make_label("t1", "reject", "bad"))
    labels.append_label(tmp_path, labels.make_label("t2", "accept"))
    with open(tmp_path / "labels.jsonl", "a") as f:
        f.write('{"trace_id": "t1", "label": "acc')  # a writer killed mid-line
    assert {k: v.label for k, v in labels.read_labels(tmp_path).items()} == {
        "t1": "reject",
        "t2": "accept",
    }
    with open(tmp_path / "labels.jsonl", "a") as f:
        f.write("\n")
    with pytest.raises(RunError, match=r"labels\.jsonl:3"):
        labels.read_labels(tmp_path)
    with pytest.raises(ValueError):
        labels.make_label("", "accept")


def test_a_broken_label_file_is_named(labelled: Any) -> None:
    viewer, run = labelled
    (run / "labels.jsonl").write_text("not json\n{}\n")
    status, body = _body(viewer.url + "api/traces")
    assert status == 500 and "labels.jsonl:1" in body["error"]
