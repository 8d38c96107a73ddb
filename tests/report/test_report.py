"""The reviewer report keeps its promises: every number traceable to results/tables/,
small counts suppressed, no identifiers or patient dates, reproducible apart from the run
date, and `snakemake --report` works too."""

import base64
import html as html_lib
import json
import re

import numpy as np
import pandas as pd
import pytest
from report.disclosure_audit import audit_html

from conftest import leaked_identifiers, leaked_patient_dates, run_snakemake
from smanh.figures.survival import km_figure
from smanh.jobs.files import read_csv

pytestmark = pytest.mark.workflow

RUN_DATE = re.compile(r"Run \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# Sections whose numbers are results (methods and provenance quote the config and files).
RESULT_SECTIONS = ("summary", "cohort", "survival", "progression", "comparison", "warnings")
COUNT_HEADERS = {"n", "events", "patients", "assessments", "Patients", "at floor", "at ceiling",
                 "patients ever at floor", "patients ever at ceiling"}


def report_html(run_dir):
    return (run_dir / "results" / "report" / "report.html").read_text(encoding="utf-8")


def section_text(html, section):
    start = html.index(f'<h2 id="{section}">')
    end = html.find("<h2 id=", start + 10)
    part = re.sub(r'src="data:[^"]+"', "", html[start:end])
    part = re.sub(r"<svg.*?</svg>", lambda m: re.sub(r"<[^>]+>", " ", m.group(0)), part, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", part))


def table_values(run_dir) -> set[str]:
    """Every number of results/tables/, as the report may print it."""
    shown: set[str] = set()
    for path in (run_dir / "results" / "tables").glob("*.csv"):
        frame = pd.read_csv(path)
        for column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").dropna()
            for v in values:
                shown.add(f"{v:.0f}")
                for digits in (1, 2, 3):
                    shown.add(f"{v:.{digits}f}")
                    shown.add(f"{100 * v:.{digits - 1}f}")  # shares shown as percentages
            text = frame[column].astype(str)
            for t in text:
                shown.update(re.findall(r"-?\d+(?:\.\d+)?", t))  # numbers inside labels and notes
    return shown


def test_every_number_in_the_results_is_in_the_tables(sample_run):
    html = report_html(sample_run)
    known = table_values(sample_run)
    # the first page's calendar facts come from summary.json (data cut-off, first enrolment month)
    facts = json.loads((sample_run / "results" / "summary.json").read_text())
    for date in (facts["registry"]["data_cutoff"], facts["registry_facts"]["first_enrolment"]):
        known.update(re.findall(r"\d+", date))
    known.add(str(facts["registry_facts"]["sites"]))
    # Constants of the definitions and the config that the result sections quote.
    config_numbers = {"95", "0.05", "5", "10", "12", "3", "2", "15", "1", "7", "16", "14", "365.25"}
    missing = set()
    for section in RESULT_SECTIONS:
        for token in re.findall(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?", section_text(html, section)):
            number = token.replace(",", "")
            if number not in known and number.lstrip("-") not in known and number not in config_numbers:
                missing.add((section, token))
    assert not missing, sorted(missing)[:30]


def test_counts_below_the_threshold_are_suppressed(sample_run):
    html = report_html(sample_run)
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        headers = [html_lib.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            cells = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
            for header, cell in zip(headers, cells):
                if header in COUNT_HEADERS or header.startswith("type ") or header == "all":
                    match = re.match(r"^(\d[\d,]*)(?: \(|$)", cell)
                    if match:
                        assert int(match.group(1).replace(",", "")) >= 5, (header, cell)
    flow = re.sub(r"<[^>]+>", " ", re.search(r"<svg.*?</svg>", html, flags=re.S).group(0))
    counts = re.findall(r": (\d[\d,]*)\b", html_lib.unescape(flow))
    assert counts, "the flow diagram shows counts"
    assert all(int(c.replace(",", "")) >= 5 for c in counts), counts


def test_no_identifier_or_patient_date_in_the_report(sample_run):
    html = report_html(sample_run)
    assert not leaked_patient_dates(RUN_DATE.sub("", html))
    assert not leaked_identifiers(html)


def test_two_runs_give_identical_tables_and_reports_apart_from_the_run_date(sample_run, tmp_path):
    second = tmp_path / "second"
    result = run_snakemake(second, (sample_run / "my.yaml").read_text())
    assert result.returncode == 0, result.stderr[-3000:]
    for table in sorted((sample_run / "results" / "tables").glob("*.csv")):
        assert table.read_bytes() == (second / "results" / "tables" / table.name).read_bytes(), table.name
    assert RUN_DATE.sub("", report_html(sample_run)) == RUN_DATE.sub("", report_html(second))


def test_snakemake_report_registers_the_figures(sample_run):
    result = run_snakemake(sample_run, (sample_run / "my.yaml").read_text(), "--report", "results/snakemake-report.zip")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sample_run / "results" / "snakemake-report.zip").stat().st_size > 100_000


def test_every_figure_is_embedded_as_its_svg(sample_run):
    """The report's figures are the SVG files of results/figures/, byte for byte; the
    cumulative-incidence, parametric and 12-month-change figures stay in results/figures/
    (their tables are in results/share/), to keep the report short."""
    embedded = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', report_html(sample_run))
    figures = sample_run / "results" / "figures"
    outside = ("cuminc_", "parametric_", "change_12m_")
    svgs = {path.read_bytes() for path in figures.glob("*.svg") if not path.name.startswith(outside)}
    assert len(embedded) == len(svgs) >= 10
    assert {base64.b64decode(data) for data in embedded} == svgs


def test_numbers_at_risk_under_the_curves_are_suppressed(sample_run):
    tables = sample_run / "results" / "survival" / "death_or_permanent_ventilation"
    figure = km_figure(read_csv(tables / "km_curves.csv"), "death_or_permanent_ventilation",
                       at_risk=read_csv(tables / "km_at_risk.csv"), min_cell_count=5)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert texts, "the at-risk tables are drawn"
    numbers = [int(t.replace(",", "")) for t in texts if re.fullmatch(r"[\d,]+", t)]
    assert numbers and min(numbers) >= 5
    assert any(t == "<5" for t in texts)
    assert np.isfinite(numbers).all()


def test_every_number_of_the_report_is_released_under_the_count_rules(sample_run):
    """The independent audit of the HTML (disclosure_audit.audit_html): every count in a
    table, in the text and in the notes is 0, at least the threshold, <T or ≈; no 'nan', no
    p-value printed as 0.000."""
    assert audit_html(report_html(sample_run), 5) == []


def test_the_first_page_holds_the_key_estimates_and_the_facts(sample_run):
    html = report_html(sample_run)
    front = section_text(html[:html.index('<h2 id="methods">')] + '<h2 id="end">', "summary")
    for fact in ("Data cut-off", "Calendar period", "Sites", "Key estimates"):
        assert fact in front, fact
    assert re.search(r"\d+\.\d \(\d+\.\d to \d+\.\d\)", front), "a median with its confidence interval"
    assert "individual-level data" not in front  # off by default
    for anchor in ("#methods", "#survival", "#warnings", "#strobe", "#provenance"):
        assert f'href="{anchor}"' in html[:html.index('<h2 id="methods">')]


def test_every_table_names_its_released_csv(sample_run):
    html = report_html(sample_run)
    share = sample_run / "results" / "share"
    tables = re.findall(r"<table[^>]*>.*?</table>\s*(?:<p class=\"footnotes\">.*?</p>\s*)?(<p class=\"source\">[^<]*</p>)?",
                        html, flags=re.S)
    named = re.findall(r'<p class="source">results/share/([\w]+\.csv)</p>', html)
    assert len(named) >= 15
    for name in named:
        assert (share / name).exists(), name
    # the tables without a CSV line: the first page's not-recorded list, the endpoint definitions,
    # provenance and the STROBE checklist
    assert sum(1 for source in tables if not source) <= 8


def test_strobe_appendix_maps_all_22_items(sample_run):
    html = report_html(sample_run)
    part = html[html.index('<h2 id="strobe">'):]
    rows = re.findall(r"<tr><td>(\d+)</td>", part)
    assert rows == [str(i) for i in range(1, 23)]
    anchors = set(re.findall(r'href="#([\w-]+)"', part))
    ids = set(re.findall(r'id="([\w-]+)"', html))
    assert anchors <= ids, anchors - ids


def test_notes_are_short_phrases_with_footnotes(sample_run):
    html = report_html(sample_run)
    for cell in re.findall(r'<td class="text">([^<]*)<sup>\d+</sup></td>', html):
        assert len(cell) <= 28, cell
    assert re.search(r'<p class="footnotes"><span class="footnote"><sup>1</sup> ', html)
