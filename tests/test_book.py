"""The built book as a reader meets it: every page loads in headless Chromium, every figure image has
loaded, no error output or traceback appears, and a screenshot of each chapter is kept.

Needs the HTML built by ``make book``. Under ``make test`` (``ASTROREPRO_REQUIRE_BOOK=1``) a missing
book or browser is a failure; when running single test files by hand they are skipped with a reason.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from astrorepro import chapters
from astrorepro.book import HTML_DIR, toc_files
from astrorepro.paths import BUILD_DIR

REQUIRED = os.environ.get("ASTROREPRO_REQUIRE_BOOK") == "1"
SHOTS = BUILD_DIR / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _need(cond: bool, reason: str):
    if not cond:
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)


def test_the_html_book_exists_with_every_page():
    _need((HTML_DIR / "index.html").is_file(), f"no built book at {HTML_DIR} (run 'make book')")
    for f in toc_files():
        assert (HTML_DIR / f"{f}.html").is_file(), f"page {f}.html missing from the built book"


@pytest.fixture(scope="module")
def browser():
    _need((HTML_DIR / "index.html").is_file(), f"no built book at {HTML_DIR} (run 'make book')")
    _need(bool(CHROMIUM and CHROMEDRIVER), "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


PAGE_STATE = """
const imgs = Array.from(document.querySelectorAll('main img, article img'));
return {
  title: document.title,
  images: imgs.length,
  broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
  errors: document.querySelectorAll('.output.error, .output.traceback, div.cell_output .traceback').length,
  traceback: document.body.innerText.includes('Traceback (most recent call last)'),
  stderr: Array.from(document.querySelectorAll('.output.stderr')).map(e => e.innerText.slice(0, 200)),
  height: document.body.scrollHeight,
  maths: document.querySelectorAll('span.math, div.math').length,
  typeset: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length,
};
"""


@pytest.mark.parametrize("page", toc_files())
def test_page_loads_with_its_figures_and_no_errors(browser, page):
    path = HTML_DIR / f"{page}.html"
    assert path.is_file(), f"{path} missing"
    browser.get(path.as_uri())
    state = browser.execute_script(PAGE_STATE)
    assert state["title"], f"{page}: empty page"
    assert state["broken"] == [], f"{page}: images that did not load: {state['broken']}"
    assert state["errors"] == 0 and not state["traceback"], f"{page}: an error output or traceback is shown"
    if state["maths"]:  # the book ships its own MathJax: equations must render offline
        deadline = time.monotonic() + 30
        while state["typeset"] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            state = browser.execute_script(PAGE_STATE)
        assert state["typeset"] > 0, f"{page}: {state['maths']} equations, none typeset by MathJax"
    is_chapter = any(page == f"book/{chapters.info(k).notebook[:-6]}" for k in chapters.CHAPTERS)
    if is_chapter:
        assert state["images"] >= 3, f"{page}: a chapter should show its figures, found {state['images']} images"
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.set_window_size(1280, min(int(state["height"]) + 100, 16000))
        shot = SHOTS / f"{Path(page).name}.png"
        browser.save_screenshot(str(shot))
        browser.set_window_size(1280, 1600)
        assert shot.stat().st_size > 10_000
