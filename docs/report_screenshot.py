"""Regenerate ``docs/report.png``: a run's ``report.html`` in headless chromium.

    python docs/report_screenshot.py runs/demo            # the demo run (recipes/demo.toml)
    python docs/report_screenshot.py RUN --out report.png # any run

Why a script: the screenshot in the docs must show what the report really looks like, so it
is taken from a rebuilt report, not drawn by hand. Like ``tests/test_viewer_browser.py`` it
drives the system chromium through Playwright (``apt-get install -y chromium`` and
``pip install playwright``; no browser download). The page is cut after the example traces
(header, summary, teacher calls, plots, examples) and stored as a 256-colour PNG, so the
file stays small (under 300 KB).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
from pathlib import Path

from PIL import Image

from tracemint.report import build_report

DOCS = Path(__file__).resolve().parent
WIDTH = 1100  # px of the browser window; the report is at most 60em wide
MAX_HEIGHT = 4000  # px: a cut, should the page run longer


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = os.environ.get("TRACEMINT_CHROMIUM") or shutil.which(name)
        if path:
            return path
    raise SystemExit("no chromium found: apt-get install -y chromium (or set TRACEMINT_CHROMIUM)")


def screenshot(run_dir: Path, out: Path) -> int:
    """Rebuild the run's report, render it and write ``out``; returns its size in bytes."""
    from playwright.sync_api import sync_playwright

    page_path = build_report(run_dir).resolve()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(page_path.as_uri())
            # the bottom of the example traces (with the viewer line) ends the picture
            box = page.locator("p.viewer").bounding_box()
            height = MAX_HEIGHT if box is None else int(box["y"] + box["height"] + 12)
            png = page.screenshot(
                full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height}
            )
        finally:
            browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    small.save(out, optimize=True)
    return out.stat().st_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a run directory, e.g. runs/demo")
    p.add_argument("--out", type=Path, default=DOCS / "report.png")
    args = p.parse_args()
    size = screenshot(args.run_dir, args.out)
    print(f"wrote {args.out} ({size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
