"""The report in a real browser (Debian's headless Chromium): every section and figure
renders, nothing fails to load, the console stays clean; and its PDF leaks nothing."""

import os
import shutil

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


def test_report_renders_in_headless_chromium(sample_run, chromium):
    from playwright.sync_api import sync_playwright

    report = sample_run / "results" / "report" / "report.html"
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
        browser.close()
    for section in SECTIONS:
        assert any(section in h for h in headings), f"section {section} missing from {headings}"
    assert images >= 1 and broken == 0
    assert not failed and not errors
    assert not [m for m in console if m.startswith(("error", "warning"))], console
    assert (sample_run / "results" / "report" / "screenshot.png").stat().st_size > 10_000


def test_pdf_is_rendered_and_shows_no_identifiers(sample_run, chromium):
    from pypdf import PdfReader

    result = run_snakemake(sample_run, (sample_run / "my.yaml").read_text(), "results/report/report.pdf")
    assert result.returncode == 0, result.stderr[-3000:]
    reader = PdfReader(sample_run / "results" / "report" / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
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
