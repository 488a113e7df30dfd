"""The trace viewer in a real headless browser: Debian's chromium driven by Playwright.

Open a run, filter to wrong answers with the verdict select, open the first trace and see
its wrong step highlighted. Needs ``apt-get install -y chromium`` and ``pip install
playwright`` (Playwright drives the system chromium; its own browser download is not
needed). With ``TRACEMINT_SCREENSHOT=1`` the page is saved to ``docs/viewer.png``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from test_viewer_api import WRONG_STEP, build_run
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
        if os.environ.get("TRACEMINT_SCREENSHOT") == "1":
            page.screenshot(path=str(DOCS / "viewer.png"))
        page.close()
