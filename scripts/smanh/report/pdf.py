"""Printing the HTML report to PDF with headless Chromium (Debian package ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from smanh.errors import SmanhError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No network, no first-run or background traffic: the report is self-contained.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",  # page numbers come from the report's own @page rule
    "--generate-pdf-document-outline",  # a bookmark for every heading
)


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SmanhError(
        "rendering the PDF report needs Chromium: install it (Debian: apt-get install chromium)"
    )


def html_to_pdf(html: str | Path, pdf: str | Path, timeout: int = 120) -> None:
    """Print ``html`` to ``pdf`` as the browser's print view shows it."""
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    with tempfile.TemporaryDirectory() as profile:
        command = [
            find_browser(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        raise SmanhError(f"Chromium could not print {html} to PDF:\n{result.stderr[-2000:]}")
