"""The report in a real browser (Debian's headless Chromium): every section and figure
renders, nothing fails to load, the console stays clean; and its PDF leaks nothing."""

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import leaked_identifiers, leaked_patient_dates, run_snakemake

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
# As the machine's probe runs it: no sandbox as root, and no background network traffic.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ("Summary", "Methods", "Cohort", "Survival", "Motor progression",
            "Comparison with published natural history", "Warnings and limitations", "Provenance")


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium is not installed")
    return CHROMIUM


def screenshot_folders(tmp_path) -> list:
    """Where the screenshots go for a human to look at: the test's tmp dir and, when set,
    $SMANH_SCREENSHOT_DIR."""
    folders = [tmp_path]
    if os.environ.get("SMANH_SCREENSHOT_DIR"):
        folders.append(Path(os.environ["SMANH_SCREENSHOT_DIR"]))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def test_report_renders_in_headless_chromium(sample_run, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    report = sample_run / "results" / "report" / "report.html"
    folders = screenshot_folders(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console, errors, failed = [], [], []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        headings = page.locator("h2").all_inner_texts()
        images = page.evaluate("document.images.length")
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length")
        page.screenshot(path=str(sample_run / "results" / "report" / "screenshot.png"), full_page=True)
        # the first page as printed (A4 at 96 dpi) and one survival page, for a human to look at
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 794, "height": 1123})
        first = page.locator("div.front")
        endpoint = page.locator("div.endpoint").first
        for folder in folders:
            first.screenshot(path=str(folder / "report_first_page.png"))
            endpoint.screenshot(path=str(folder / "report_survival_page.png"))
        browser.close()
    for section in SECTIONS:
        assert any(section in h for h in headings), f"section {section} missing from {headings}"
    assert images >= 1 and broken == 0
    assert not failed and not errors
    assert not [m for m in console if m.startswith(("error", "warning"))], console
    assert (sample_run / "results" / "report" / "screenshot.png").stat().st_size > 10_000
    for folder in folders:
        for name in ("report_first_page.png", "report_survival_page.png"):
            assert (folder / name).stat().st_size > 10_000, folder / name


def test_pdf_is_rendered_and_shows_no_identifiers(sample_run, chromium):
    from pypdf import PdfReader

    result = run_snakemake(sample_run, (sample_run / "my.yaml").read_text(), "results/report/report.pdf")
    assert result.returncode == 0, result.stderr[-3000:]
    reader = PdfReader(sample_run / "results" / "report" / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert 2 <= len(reader.pages) <= 25  # a reviewer's report: long tables stay in results/share/
    first = reader.pages[0].extract_text()
    assert "Key estimates" in first and re.search(r"\d+\.\d \(\d+\.\d to \d+\.\d\)", first), first[:500]
    for section in SECTIONS:
        assert section in text
    assert not leaked_identifiers(text)
    assert not leaked_patient_dates(text)
    # page numbers on every page, and a bookmark (outline entry) for every section
    pages = len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        assert f"page {number} of {pages}" in page.extract_text()

    def titles(outline):
        for item in outline:
            yield from titles(item) if isinstance(item, list) else [item.title]

    bookmarks = " | ".join(titles(reader.outline))
    for section in SECTIONS:
        assert section in bookmarks, section
