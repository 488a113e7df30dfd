"""benchmarks/vs_anchors.py at a tiny size: the tracemint path, its resume check and its table.

The anchors (distilabel, Curator) need their own large virtualenvs, so they are not run here;
their drivers are only compiled. The test server's ``repeated`` / window counters, which the
benchmark's resume comparison reads, are tested here too.
"""

from __future__ import annotations

import json
import py_compile
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmark_support import BENCHMARKS, load_benchmark
from conftest_server import reset_server, start_test_server


def _bench() -> ModuleType:
    return load_benchmark("vs_anchors")


bench = _bench()


def _chat(base_url: str, body: dict[str, Any]) -> int:
    req = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code)


def test_server_counts_repeated_requests_and_the_window() -> None:
    with start_test_server() as (base_url, stats):
        a = {"model": "m", "messages": [{"role": "user", "content": "a"}], "seed": 1}
        b = {**a, "seed": 2}
        assert _chat(base_url, {"model": "m", "messages": []}) == 400  # a probe: not counted
        assert stats()["first_request_at"] is None
        assert [_chat(base_url, x) for x in (a, b, a, a)] == [200] * 4
        s = stats()
        assert s["ok"] == 4 and s["repeated"] == {"ok": 2, "received": 2}
        assert s["first_request_at"] <= s["last_ok_at"]
        assert sum(s["by_key"].values()) - len(s["by_key"]) == s["repeated"]["ok"]
        reset_server(base_url)
        s = stats()
        assert s["repeated"] == {"ok": 0, "received": 0}
        assert s["first_request_at"] is None and s["last_ok_at"] is None


@pytest.mark.slow  # three `tracemint run` processes (speed, killed, resumed): ~15-20 s
def test_tracemint_path_counts_and_resumes_without_repeating_stored_calls(
    tmp_path: Path,
) -> None:
    n = 240
    out = tmp_path / "out.json"
    argv = ["--n", str(n), "--concurrency", "8", "--latency", "0.05", "--max-tokens", "64"]
    rc = bench.main([*argv, "--only", "tracemint", "--json", str(out), "--stall", "60"])
    rows = json.loads(out.read_text())["rows"]
    assert rc == 0 and [r["system"] for r in rows] == ["tracemint"]
    row = rows[0]
    assert row["error"] == "" and row["counts_ok"]
    assert row["records"] == row["server_ok"] == n
    assert 0 < row["window_s"] < row["wall_s"] and row["peak_mb"] > 20
    assert 0 < row["fraction"] <= 1.1  # the window's rate cannot beat the ceiling by much
    assert row["wall_s_x"] == row["rate_window_x"] == row["peak_mb_x"] == 1.0
    resume = row["resume"]
    assert "error" not in resume and resume["killed"]
    assert n // 2 <= resume["ok_at_kill"] < n
    assert resume["records"] == n
    # Every answer stored before the kill came from the cache on the rerun; only answers
    # the server sent but the client had not stored yet were asked for again.
    assert resume["repeated_stored"] == 0
    assert resume["repeated_ok"] <= resume["ok_at_kill"] - resume["cached_at_kill"]
    assert resume["server_ok"] == n + resume["repeated_ok"]


def test_ratios_and_table() -> None:
    base = bench.Result("tracemint", "0.1", 100, 100, wall_s=2.0, window_s=1.0, peak_mb=100.0)
    slow = bench.Result("curator", "9", 100, 100, wall_s=5.0, window_s=4.0, peak_mb=300.0)
    short = bench.Result("distilabel", "1", 90, 100, wall_s=3.0, window_s=2.0, peak_mb=50.0)
    failed = bench.Result("other", error="exit 1: boom")
    rows = bench.derive([base, slow, short, failed], n=100, concurrency=10, latency=0.1)
    by = {r["system"]: r for r in rows}
    assert by["tracemint"]["rate_window"] == 100 and by["tracemint"]["fraction"] == 1.0
    assert by["curator"]["wall_s_x"] == 2.5 and by["curator"]["rate_window_x"] == 0.25
    assert by["curator"]["peak_mb_x"] == 3.0 and by["curator"]["fraction"] == 0.25
    assert by["curator"]["counts_ok"] and not by["distilabel"]["counts_ok"]
    assert not by["other"]["counts_ok"] and by["other"]["wall_s_x"] is None
    text = bench.table(rows, "header")
    assert "FAILED: exit 1: boom" in text
    line = next(x for x in text.splitlines() if x.startswith("curator"))
    assert line.split()[-3:] == ["2.50", "0.25", "3.00"]
    assert "fastest anchor (distilabel): met" in text  # 45 rec/s beats curator's 25
    assert "0.9 of the ceiling: met (1.000" in text
    rows = bench.derive([base], n=100, concurrency=20, latency=0.1)
    assert "0.9 of the ceiling: MISSED (0.500" in bench.table(rows, "")


def test_anchor_drivers_compile() -> None:
    drivers = sorted((BENCHMARKS / "anchors").glob("*.py"))
    assert {p.name for p in drivers} >= {"distilabel_driver.py", "curator_driver.py"}
    for path in drivers:
        py_compile.compile(str(path), doraise=True)
    assert set(bench.ANCHORS) == {"distilabel", "curator"}
