"""The trace viewer in a real headless browser: Debian's chromium driven by Playwright.

Open a run, filter to wrong answers with the verdict select, open the first trace and see
its wrong step highlighted; search, and get the view back from the URL (reload, back,
forward, a shared link); move with j/k and label with a/r, and see the next export change;
compare samples side by side; download the filtered subset; use it 900 px wide.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (Playwright drives the
system chromium; its own browser download is not needed). With ``TRACEMINT_SCREENSHOT=1``
the side-by-side view is saved to ``docs/viewer.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from test_viewer_api import WRONG_STEP, _handmade_ids, build_run
from tracemint.export import export_run
from tracemint.view import ViewerThread

DOCS = Path(__file__).resolve().parents[1] / "docs"
INSTALL = "apt-get install -y chromium && pip install playwright"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = os.environ.get("TRACEMINT_CHROMIUM") or shutil.which(name)
        if path:
            return path
    pytest.skip(f"no chromium binary found; install it with: {INSTALL}")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built before the browser starts: Playwright's sync API runs an event loop of its own.
    return build_run(tmp_path_factory.mktemp("viewer-browser"))


@pytest.fixture(scope="module")
def browser(run_dir: Path) -> Any:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason=f"playwright is not installed; install with: {INSTALL}"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
        except Exception as e:  # pragma: no cover - depends on the machine
            pytest.skip(f"cannot start {executable} ({e}); install with: {INSTALL}")
        yield b
        b.close()


def test_filter_to_wrong_and_see_the_wrong_step(browser: Any, run_dir: Path) -> None:
    with ViewerThread(run_dir) as viewer:
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        page.goto(viewer.url)
        page.wait_for_selector("#rows tr.row")
        page.wait_for_selector("#f-verdict option[value=wrong]", state="attached")
        page.select_option("#f-verdict", "wrong")
        page.wait_for_function(
            "() => { const r = document.querySelectorAll('#rows tr.row');"
            " return r.length > 0 && [...r].every(x => x.children[2].textContent === 'wrong'); }"
        )
        assert "of" in page.inner_text("#range")
        page.click("#rows tr.row >> nth=0")
        wrong = page.wait_for_selector("#detail #rationale .step-wrong")
        assert wrong is not None
        assert WRONG_STEP in wrong.inner_text()
        bg = wrong.evaluate("e => getComputedStyle(e).backgroundColor")
        red, green, blue = (int(x) for x in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3])
        assert red > green and red > blue  # a red background
        assert page.locator("#detail .step-wrong").count() == 1
        assert page.locator("#detail .step-unchecked").count() >= 1
        detail = page.inner_text("#detail")
        assert "sampled alternatives (2)" in detail
        assert "wrong step 1" in detail  # the drop reason
        page.close()


# -- curation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def viewer(run_dir: Path) -> Any:
    with ViewerThread(run_dir) as v:
        yield v


@pytest.fixture()
def labelled(run_dir: Path, tmp_path: Path) -> Any:
    """A viewer on a copy of the run, since labelling writes ``labels.jsonl`` into it."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    with ViewerThread(copy) as v:
        yield v, copy


@pytest.fixture()
def page(browser: Any) -> Any:
    """A fresh page that fails the test on any uncaught JavaScript error."""
    context = browser.new_context(viewport={"width": 1400, "height": 800}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(15_000)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert errors == []


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.getElementById('list').dataset.loaded")


def _ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("#rows tr.row", "rs => rs.map(r => r.dataset.traceId)"))


def _wait_detail(page: Any, trace_id: str, view: str = "trace") -> None:
    page.wait_for_selector(f'#detail[data-trace-id="{trace_id}"][data-view="{view}"]')


def _wait_rows(page: Any, condition: str) -> None:
    """Wait until the rows' trace ids (``ids``) and the range text (``range``) satisfy it."""
    page.wait_for_function(
        "() => { const ids = [...document.querySelectorAll('#rows tr.row')]"
        ".map(r => r.dataset.traceId); const range = document.getElementById('range')"
        f".textContent; return {condition}; }}"
    )


def test_search_and_url_state(page: Any, viewer: ViewerThread) -> None:
    wrong, right, terse = _handmade_ids(viewer.url)
    _open(page, viewer.url)
    everything = page.inner_text("#range")
    page.fill("#search", "tom starts")
    page.press("#search", "Enter")
    _wait_rows(page, f"ids.length === 2 && ids[0] === '{wrong}' && ids[1] === '{right}'")
    assert "q=tom+starts" in page.url
    page.select_option("#f-verdict", "wrong")
    _wait_rows(page, f"ids.length === 1 && ids[0] === '{wrong}'")
    assert "verdict=wrong" in page.url and "q=tom+starts" in page.url
    page.click("#rows tr.row >> nth=0")
    _wait_detail(page, wrong)
    assert f"trace={wrong}" in page.url
    # a reload restores the filters, the search and the open trace
    page.reload()
    _wait_detail(page, wrong)
    _wait_rows(page, f"ids.length === 1 && ids[0] === '{wrong}'")
    assert page.input_value("#search") == "tom starts"
    assert page.input_value("#f-verdict") == "wrong"
    # back: the search alone; forward: the search and the verdict again
    page.go_back()
    _wait_rows(page, "ids.length === 2")
    assert page.input_value("#f-verdict") == "" and page.input_value("#search") == "tom starts"
    page.go_forward()
    _wait_rows(page, "ids.length === 1")
    assert page.input_value("#f-verdict") == "wrong"
    page.go_back()
    page.go_back()
    _wait_rows(page, f"range === {everything!r}")
    assert page.input_value("#search") == ""
    # a shared link opens straight onto its view
    _open(page, viewer.url + f"?source=handmade.jsonl&trace={terse}&view=side-by-side")
    _wait_detail(page, terse, "side-by-side")
    assert page.input_value("#f-source") == "handmade.jsonl"
    # a link with a typo says so instead of showing everything
    _open(page, viewer.url + "?verdikt=wrong")
    assert "verdikt" in page.inner_text("#list-error")


def test_keyboard_labels_change_the_next_export(page: Any, labelled: Any, tmp_path: Path) -> None:
    viewer, run = labelled
    wrong, right, terse = _handmade_ids(viewer.url)
    _open(page, viewer.url + "?source=handmade.jsonl")
    assert _ids(page) == [wrong, right, terse]
    page.keyboard.press("j")
    _wait_detail(page, wrong)
    page.keyboard.press("j")
    _wait_detail(page, right)
    page.keyboard.press("k")
    _wait_detail(page, wrong)
    assert page.get_attribute("#rows tr.selected", "data-trace-id") == wrong
    # accept the wrong trace, with a note typed after "n"
    page.keyboard.press("n")
    page.keyboard.type("the reference is wrong")
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.wait_for_selector('#detail[data-label="accept"]')
    assert "the reference is wrong" in page.inner_text("#label-status")
    assert page.inner_text(f'#rows tr[data-trace-id="{wrong}"] td.label') == "✓"
    # reject the next one, no note
    page.keyboard.press("j")
    _wait_detail(page, right)
    page.keyboard.press("r")
    page.wait_for_selector('#detail[data-label="reject"]')
    assert page.inner_text(f'#rows tr[data-trace-id="{right}"] td.label') == "✗"
    lines = [json.loads(x) for x in (run / "labels.jsonl").read_text().splitlines()]
    assert [(x["trace_id"], x["label"], x["note"]) for x in lines] == [
        (wrong, "accept", "the reference is wrong"),
        (right, "reject", ""),
    ]
    assert "1 accepted · 1 rejected" in page.inner_text("#label-counts")
    # the labels survive a reload, and filter
    _open(page, viewer.url + "?label=any")
    assert sorted(_ids(page)) == sorted([wrong, right])
    # a label changes the next export
    export_run(run, ["sft"], tmp_path / "out", ("jsonl",))
    rows = {
        r["trace_id"]: r
        for r in map(json.loads, (tmp_path / "out" / "sft.jsonl").read_text().splitlines())
    }
    assert wrong in rows and right not in rows and terse in rows
    assert rows[wrong]["label"] == "accept"
    assert rows[wrong]["label_note"] == "the reference is wrong"


def test_side_by_side_aligns_the_first_wrong_steps(page: Any, viewer: ViewerThread) -> None:
    wrong, right, terse = _handmade_ids(viewer.url)
    _open(page, viewer.url + "?source=handmade.jsonl")
    page.keyboard.press("j")
    _wait_detail(page, wrong)
    # the one-trace view: the wrong step says what its claim should be
    assert page.inner_text("#rationale .step-wrong + .fix") == "should be 7"
    page.keyboard.press("s")
    _wait_detail(page, wrong, "side-by-side")
    assert "view=side-by-side" in page.url
    heads = page.eval_on_selector_all(
        "#sbs thead th[data-trace-id]", "h => h.map(x => x.dataset.traceId)"
    )
    assert heads == [wrong, right, terse]
    first_wrong = page.query_selector_all("#sbs td.first-wrong")
    assert len(first_wrong) == 1
    cell = page.query_selector(f'#sbs tr[data-step="1"] td[data-trace-id="{wrong}"]')
    assert cell is not None and "first-wrong" in (cell.get_attribute("class") or "")
    assert WRONG_STEP in cell.inner_text() and "should be 7" in cell.inner_text()
    same_row = page.inner_text(f'#sbs tr[data-step="1"] td[data-trace-id="{right}"]')
    assert "3 + 4 = 7" in same_row  # the right sample's step 1 sits beside it
    if os.environ.get("TRACEMINT_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1280, "height": 760})
        _open(page, viewer.url + f"?verdict=wrong&trace={wrong}&view=side-by-side")
        _wait_detail(page, wrong, "side-by-side")
        page.screenshot(path=str(DOCS / "viewer.png"))
    # j/k keep the view; s toggles back; the column heads open their sample
    page.click(f'#sbs th[data-trace-id="{terse}"]')
    _wait_detail(page, terse, "side-by-side")
    page.keyboard.press("s")
    _wait_detail(page, terse, "trace")
    assert "view=" not in page.url


def test_detail_pane_shows_the_call(page: Any, viewer: ViewerThread) -> None:
    _open(page, viewer.url + "?source=problems")
    page.keyboard.press("j")
    tid = _ids(page)[0]
    _wait_detail(page, tid)
    call = page.inner_text("#call")
    for text in ("finish reason", "stop", "prompt ·", "completion", "latency", "cache hit"):
        assert text in call
    assert "temperature 0.7" in call and "max_tokens 200" in call
    page.click("#prompt summary")
    prompt = page.inner_text("#prompt")
    assert "prompt (2 messages)" in prompt and "system" in prompt and "Tom has" in prompt


def test_export_the_filtered_subset(page: Any, viewer: ViewerThread) -> None:
    _open(page, viewer.url + "?verdict=wrong&q=tom")
    total = int(page.inner_text("#range").rsplit(" ", 1)[1])
    with page.expect_download() as info:
        page.click("#export")
    download = info.value
    assert download.suggested_filename.endswith("-subset.jsonl")
    rows = [json.loads(x) for x in Path(download.path()).read_text().splitlines()]
    assert len(rows) == total and {r["verdict"] for r in rows} == {"wrong"}
    assert all("tom" in (r["question"] + r["completion"]).lower() for r in rows)


def test_usable_at_900px(page: Any, viewer: ViewerThread) -> None:
    wrong = _handmade_ids(viewer.url)[0]
    page.set_viewport_size({"width": 900, "height": 800})
    _open(page, viewer.url + f"?trace={wrong}")
    _wait_detail(page, wrong)
    fits = "e => e.scrollWidth <= e.clientWidth"
    assert page.eval_on_selector("#list", fits), "the table overflows sideways"
    assert page.eval_on_selector("html", fits), "the page overflows sideways"
    assert page.eval_on_selector("#detail", fits)
    for sel in ("#search", "#export", "#rows tr.row", "#detail h2", "#labelbar", "#accept"):
        box = page.locator(sel).first.bounding_box()
        assert box is not None and box["width"] > 0, sel
        assert box["x"] >= 0 and box["x"] + box["width"] <= 900, sel
    question = page.locator("#rows td.question").first.bounding_box()
    assert question is not None and question["width"] >= 150  # the question column stays
    page.keyboard.press("s")
    _wait_detail(page, wrong, "side-by-side")
    assert page.eval_on_selector("html", fits) and page.eval_on_selector("#detail", fits)
