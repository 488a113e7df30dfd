"""The run report reads like a report (issue 18): the teacher in one line with no secret,
latency / cache figures of the calls, example traces with coloured steps, everything
escaped, and how to open the viewer on the run."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import scripted
from conftest_server import apples_problems, server_recipe, start_test_server
from test_runner import recipe, run
from tracemint.config import load_recipe
from tracemint.report import build_report, terminal_summary
from tracemint.report.calls import public_url, teacher_line
from tracemint.runner.local import LocalRunner

SECRET = "sk-report-DO-NOT-LEAK-4711"
KEY_ENV = "TM_REPORT_TEST_KEY"
LATENCY = 0.05


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A run minted against the shipped server (latency 0.05 s, half the answers right, an
    API key required): 6 problems, then 12 with ``fresh`` so the first 6 problems' 24 calls
    come from the cache and 24 are made. Yields the run directory and its report's text."""
    tmp = tmp_path_factory.mktemp("readable")
    problems = apples_problems(tmp / "problems.jsonl", 0, 6)
    old = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = SECRET
    try:
        with start_test_server(
            answers=problems, accuracy=0.5, latency=LATENCY, require_key=SECRET
        ) as (url, _):
            path = server_recipe(
                tmp / "recipe.toml",
                base_url=url,
                problems=problems,
                teacher={"api_key_env": KEY_ENV, "concurrency": 8},
                budget={"samples": 4},
                run={"workers": 1},
            )
            LocalRunner(load_recipe(path), progress=False).run()
            apples_problems(problems, 6, 12)  # the same file, 6 more problems
            LocalRunner(load_recipe(path), fresh=True, progress=False).run()
    finally:
        if old is None:
            del os.environ[KEY_ENV]
        else:
            os.environ[KEY_ENV] = old
    run_dir = tmp / "runs" / "srv"
    yield run_dir, build_report(run_dir).read_text(encoding="utf-8")


def _cell(page: str, label: str) -> str:
    m = re.search(rf"<th>{re.escape(label)}</th><td>([^<]*)</td>", page)
    assert m, label
    return m.group(1)


def test_teacher_is_one_readable_line(served: tuple[Path, str]) -> None:
    run_dir, page = served
    url = json.loads((run_dir / "manifest.json").read_text())["recipe"]["teacher"]["base_url"]
    line = f"openai · model test-model · {url} · prefill continue_final_message"
    assert f'<p class="teacher">teacher: {line}</p>' in page
    assert "{" not in line and "&#x27;" not in page.split("<h2>")[0]  # no dict in the header


def test_no_secret_reaches_the_report(served: tuple[Path, str]) -> None:
    run_dir, page = served
    summary = " ".join(v for _, v in terminal_summary(run_dir))
    for text in (page, summary):
        assert SECRET not in text and KEY_ENV not in text and "api_key" not in text


def test_call_figures_come_from_the_calls(served: tuple[Path, str]) -> None:
    _, page = served
    assert _cell(page, "calls (one per trace)") == "48"
    assert _cell(page, "served from the cache") == "24 (50.0%)"
    assert _cell(page, "calls made to the teacher") == "24"
    p50, p90, p99 = (
        float(x.removesuffix(" s"))
        for x in _cell(page, "latency p50 / p90 / p99 (calls made)").split(" / ")
    )
    assert LATENCY <= p50 <= p90 <= p99 < 5.0  # each made call slept 0.05 s at the server
    assert _cell(page, "retries") == "0"  # recorded by the teacher, none needed here


def test_examples_of_each_kind_that_exists(served: tuple[Path, str]) -> None:
    """Half the answers are wrong, no rationale of the server holds arithmetic: an accepted
    example and one rejected by its answer, none with a wrong step."""
    _, page = served
    assert 'data-example="accepted"' in page and 'data-example="wrong-answer"' in page
    assert 'data-example="wrong-step"' not in page
    wrong = page.split('data-example="wrong-answer"')[1].split('<div class="example"')[0]
    assert "verdict wrong" in wrong and "not accepted: wrong" in wrong
    assert 'class="step step-unchecked"' in wrong  # "Step 1: ..." steps, nothing to check


def test_viewer_line(served: tuple[Path, str]) -> None:
    run_dir, page = served
    assert f"<code>tracemint view {run_dir}</code>" in page
    assert ("viewer", f"tracemint view {run_dir}") in terminal_summary(run_dir)


def _sloppy(question: str, i: int) -> str:
    """Sample 0 writes one wrong step and recovers; sample 1 answers wrong; others right."""
    a, b = (int(x) for x in question.removeprefix("What is ").split("?")[0].split("+"))
    shown = a + b + (1 if i == 0 else 0)
    answer = a + b + (5 if i == 1 else 0)
    return f"First, {a} + {b} = {shown}.\nSo the sum is {answer}.\nThe answer is {answer}."


def test_wrong_step_example_shows_the_right_value(tmp_path: Path, addition_problems: Path) -> None:
    r = recipe(tmp_path, addition_problems, select={"reject_wrong_steps": True})
    run(r, teacher=scripted.ScriptedTeacher(script=_sloppy))
    page = build_report(tmp_path / "runs" / "t").read_text()
    kinds = re.findall(r'data-example="([a-z-]+)"', page)
    assert kinds == ["accepted", "wrong-step", "wrong-answer"]
    step = page.split('data-example="wrong-step"')[1].split('<div class="example"')[0]
    assert "<h3>Rejected by a wrong step</h3>" in step and "not accepted: wrong step 0" in step
    # p0: "What is 0+0?" -> "0 + 0 = 1" should be 0
    assert (
        '<span class="step step-wrong" title="step 0: wrong">First, '
        '<span class="claim-wrong">0 + 0 = 1</span><span class="should">should be 0</span>.'
        "</span>"
    ) in step
    accepted = page.split('data-example="accepted"')[1].split('<div class="example"')[0]
    assert 'class="step step-ok"' in accepted and "should be" not in accepted


def test_untrusted_text_is_escaped(tmp_path: Path, addition_problems: Path) -> None:
    def hostile(question: str, i: int) -> str:
        a, b = (int(x) for x in question.removeprefix("What is ").split("?")[0].split("+"))
        wrong = "" if i % 2 == 0 else " + 1"
        return (
            "<script>alert('x')</script> <img src=x onerror=alert(1)>\n"
            f"{a} + {b}{wrong} = {a + b} & done\nThe answer is {a + b}."
        )

    run(recipe(tmp_path, addition_problems), teacher=scripted.ScriptedTeacher(script=hostile))
    page = build_report(tmp_path / "runs" / "t").read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&amp; done" in page


def test_teacher_line_shows_only_harmless_fields() -> None:
    """Whatever a teacher table holds (a key, a token in extra_body, credentials or a key
    in the URL), the line shows type, model, host and path, prefill style."""
    manifest = {
        "teacher": {
            "teacher": "openai",
            "model": "m",
            "extra_body": {"token": "tok-SECRET"},
            "prefill": {"style": "completions", "chat_template": "chatml"},
        },
        "recipe": {
            "teacher": {
                "type": "openai",
                "model": "m",
                "api_key": "sk-SECRET",
                "api_key_env": "MY_KEY_ENV",
                "base_url": [
                    "https://user:pw-SECRET@gpu1.example:8000/v1?key=q-SECRET#frag",
                    "http://gpu2/v1",
                ],
                "extra_body": {"token": "tok-SECRET"},
            }
        },
    }
    line = teacher_line(manifest)
    assert line == (
        "openai · model m · https://gpu1.example:8000/v1, http://gpu2/v1 · "
        "prefill completions (chatml)"
    )
    assert public_url("http://[::1]:9000/v1?x=1") == "http://[::1]:9000/v1"


def test_recorded_retries_are_shown(tmp_path: Path, addition_problems: Path) -> None:
    """A session that records its teacher's counters (``teacher_stats``) gets them shown,
    summed over sessions; a run without them says so instead of showing 0."""
    run(recipe(tmp_path, addition_problems))
    run_dir = tmp_path / "runs" / "t"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["sessions"] = [
        {**manifest["sessions"][0], "teacher_stats": {"retries": 3, "rate_limited": 2}},
        {**manifest["sessions"][0], "teacher_stats": {"retries": 4, "rate_limited": 0}},
    ]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    page = build_report(run_dir).read_text()
    assert _cell(page, "retries") == "7" and _cell(page, "rate-limited answers (429)") == "2"
