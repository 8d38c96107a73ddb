"""European exports: dates in another order (registry.date_format), workbooks in Excel's
1904 date system, and CSV text that is not UTF-8 (read as Windows-1252, the decision logged
in the ingest log and in results/canonical/sources.json)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest
from test_ingest import TABLES, assert_same_tables, write_files

from conftest import REPOSITORY, run_snakemake
from malformed_cases import P1, P2, patients, table
from smanh.config.validation import validate_config
from smanh.errors import ConfigError
from smanh.ingest import readers
from smanh.ingest.parse import parse_dates
from smanh.ingest.problems import Problem, RegistryValidationError
from smanh.ingest.registry import read_registry

SMALL = {
    "patients.csv": patients(P1, P2.replace("2011-07-01", "2011-07")),
    "events.csv": table("events.csv", "P1,sits_independently,2011", "P1,niv_start,2012-03-04"),
    "treatments.csv": table("treatments.csv", "P2,nusinersen,2018-01-01,"),
    "assessments.csv": table("assessments.csv", "P1,2013-01-01,HFMSE,21.5", "P2,2013-02-01,CHOP_INTEND,30"),
}
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
ISO_MONTH = re.compile(r"\b(\d{4})-(\d{2})\b")


def european(text: str) -> str:
    """An export's text as a German spreadsheet writes it: DD.MM.YYYY (partial MM.YYYY),
    semicolons, decimal commas."""
    text = text.replace(",", ";").replace("21.5", "21,5")
    text = ISO_DATE.sub(lambda m: f"{m[3]}.{m[2]}.{m[1]}", text)
    return ISO_MONTH.sub(lambda m: f"{m[2]}.{m[1]}", text)


@pytest.fixture
def iso_export(tmp_path):
    return write_files(tmp_path / "iso", SMALL)


# --------------------------------------------------------------------------- date_format
def test_parse_dates_in_day_month_year_order():
    values = pd.Series(["04.03.2012", "4.3.2012", "03.2012", "3.2012", "2012", "2012-03-04", "2012-03", "",
                        "31.02.2012", "04.03.12", "2012.03.04", "13.2012"])
    dates, bad, imputed = parse_dates(values, "%d.%m.%Y")
    expected = ["2012-03-04", "2012-03-04", "2012-03-15", "2012-03-15", "2012-07-01", "2012-03-04", "2012-03-15",
                None, None, None, None, None]
    pd.testing.assert_series_equal(dates, pd.Series(pd.to_datetime(expected), dtype="datetime64[ns]"))
    assert bad.tolist() == [False] * 8 + [True] * 4
    assert imputed == 4  # 03.2012, 3.2012, 2012 and 2012-03 (13.2012 is no date)


@pytest.mark.parametrize(("date_format", "text", "partial", "date"), [
    ("%m/%d/%Y", "03/04/2012", "03/2012", "2012-03-04"),
    ("%d/%m/%Y", "04/03/2012", "03/2012", "2012-03-04"),
    ("%Y%m%d", "20120304", "201203", "2012-03-04"),
    ("%d-%m-%Y", "04-03-2012", "03-2012", "2012-03-04"),
])
def test_other_orders_and_separators(date_format, text, partial, date):
    dates, bad, imputed = parse_dates(pd.Series([text, partial]), date_format)
    assert dates.tolist() == [pd.Timestamp(date), pd.Timestamp("2012-03-15")]
    assert not bad.any() and imputed == 1


def test_without_separators_every_field_has_its_full_width():
    dates, bad, _ = parse_dates(pd.Series(["2012034", "20120304"]), "%Y%m%d")
    assert bad.tolist() == [True, False]


def test_a_european_export_reads_as_its_iso_original(iso_export, tmp_path):
    folder = tmp_path / "eu"
    folder.mkdir()
    for file in iso_export.iterdir():
        (folder / file.name).write_text(european(file.read_text()), encoding="utf-8")
    assert "01.01.2010" in (folder / "patients.csv").read_text() and "07.2011" in (folder / "patients.csv").read_text()
    expected = read_registry(iso_export)
    export = read_registry(folder, date_format="%d.%m.%Y")
    assert_same_tables(export, expected)
    assert export.imputed_dates == expected.imputed_dates == {("patients", "onset_date"): 1, ("events", "date"): 1}
    # The same export read as ISO: every full or month date is a problem, named with the ISO rule.
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder)
    assert Problem("patients.csv", 2, "birth_date", "01.01.2010",
                   "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)") in error.value.problems


def test_a_bad_date_names_the_configured_format(tmp_path):
    folder = write_files(tmp_path / "bad", {"patients.csv": european(patients(P1)).replace("01.01.2010", "31.02.2010")})
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder, date_format="%d.%m.%Y")
    assert error.value.problems == [Problem(
        "patients.csv", 2, "birth_date", "31.02.2010",
        "must be a date DD.MM.YYYY (or partial MM.YYYY / YYYY) or YYYY-MM-DD")]


def test_date_format_in_the_config():
    assert validate_config({"registry": {"path": "x"}})["registry"]["date_format"] == "%Y-%m-%d"
    assert validate_config({"registry": {"path": "x", "date_format": "%d.%m.%Y"}})["registry"]["date_format"] == "%d.%m.%Y"
    for wrong in ("%d.%m.%y", "%d.%m", "%d.%m.%Y %H", "DD.MM.YYYY"):
        with pytest.raises(ConfigError, match=r"config key 'registry.date_format': .* must hold %d, %m and %Y once each"):
            validate_config({"registry": {"path": "x", "date_format": wrong}})
    with pytest.raises(ConfigError, match="registry.date_format"):
        read_registry("x", date_format="%y")


def test_a_workbook_with_text_dates_in_the_configured_format(iso_export, tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name in TABLES:
        frame = pd.read_csv(iso_export / f"{name}.csv", dtype=str, keep_default_na=False)
        sheet = workbook.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            # birth dates as date cells (read back as ISO), every other date as DD.MM.YYYY text
            sheet.append([dt.datetime.fromisoformat(v) if c == "birth_date" else european(v).replace(";", ",")
                          for c, v in zip(frame.columns, row)])
    workbook.save(tmp_path / "export.xlsx")
    assert_same_tables(read_registry(tmp_path / "export.xlsx", date_format="%d.%m.%Y"), read_registry(iso_export))


# --------------------------------------------------------------------------- 1904 workbooks
def workbook_of(export_folder, path, epoch):
    """The export as a workbook in the given date system: birth dates as serial numbers of
    that system, enrolment dates as date cells."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.epoch = epoch
    workbook.remove(workbook.active)
    for name in TABLES:
        frame = pd.read_csv(export_folder / f"{name}.csv", dtype=str, keep_default_na=False)
        sheet = workbook.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            cells = []
            for column, value in zip(frame.columns, row):
                if column == "birth_date":
                    value = (dt.date.fromisoformat(value) - epoch.date()).days
                elif column == "enrolment_date":
                    value = dt.datetime.fromisoformat(value)
                cells.append(value)
            sheet.append(cells)
    workbook.save(path)
    return path


def test_a_1904_workbook_reads_its_serials_and_date_cells_in_its_own_system(iso_export, tmp_path):
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    expected = read_registry(iso_export)
    mac = read_registry(workbook_of(iso_export, tmp_path / "mac.xlsx", CALENDAR_MAC_1904))
    assert_same_tables(mac, expected)
    assert mac.patients["birth_date"].tolist() == [pd.Timestamp("2010-01-01"), pd.Timestamp("2011-05-05")]
    assert mac.sources[0].note == "mac.xlsx: workbook in the 1904 date system; date serials counted from 1904-01-01"
    assert [s.note for s in mac.sources[1:]] == ["", "", ""]  # said once per workbook
    windows = read_registry(workbook_of(iso_export, tmp_path / "windows.xlsx", CALENDAR_WINDOWS_1900))
    assert_same_tables(windows, expected)
    assert all(s.note == "" for s in windows.sources)
    # The same serial, read in the wrong system, would be 1,462 days (four years and a day) off.
    assert readers.cell_text(38_717, date_column=True) == "2005-12-31"
    assert readers.cell_text(38_717, date_column=True, epoch=readers.EXCEL_EPOCH_1904) == "2010-01-01"


def test_serials_beyond_9999_stay_numbers_in_either_system():
    for epoch in (readers.EXCEL_EPOCH, readers.EXCEL_EPOCH_1904):
        last = (dt.date(9999, 12, 31) - epoch).days
        assert readers.cell_text(last, True, epoch) == "9999-12-31"
        assert readers.cell_text(last + 1, True, epoch) == str(last + 1)


# --------------------------------------------------------------------------- Windows-1252
SITES = "€uroKlinik", "Košice", "Łódź"  # 0x80 '€', 0x9A 'š'; 'Ł' is not in Windows-1252


def test_windows_1252_bytes_are_decoded_and_the_decision_noted(tmp_path):
    rows = [P1.replace(",DE", ",€uroKlinik"), P2.replace(",FR", ",Košice")]
    data = patients(*rows).encode("cp1252")
    assert b"\x80" in data and b"\x9a" in data
    folder = write_files(tmp_path / "w", {"patients.csv": data})
    export = read_registry(folder)
    assert export.patients["site"].tolist() == ["€uroKlinik", "Košice"]  # Latin-1 would give '\x80uroKlinik', 'Ko\x9aice'
    source = next(s for s in export.sources if s.table == "patients")
    assert source.encoding == "windows-1252"
    assert source.note == "patients.csv: not UTF-8 (byte 0x80 on line 2 is not valid UTF-8); decoded as Windows-1252"
    assert {s.encoding for s in export.sources if s.table != "patients"} == {"utf-8"}
    assert all(s.note == "" for s in export.sources if s.table != "patients")


def test_latin1_text_reads_the_same_as_windows_1252():
    """Windows-1252 is Latin-1 but for 0x80-0x9F, so Latin-1 exports read as before."""
    text = "patient_id,site\nP1,Zürich\nP2,Malmö\n"
    table, problems = readers.read_csv_bytes(text.encode("latin-1"), "f.csv", "patients")
    assert not problems and table.data["site"].tolist() == ["Zürich", "Malmö"]
    assert table.encoding_note == "f.csv: not UTF-8 (byte 0xFC on line 2 is not valid UTF-8); decoded as Windows-1252"


def test_bytes_windows_1252_leaves_undefined_decode_as_latin1_controls():
    text, encoding, problems = readers.decode_text(b"a\x81b\x8d\x8f\x90\x9d\x80", "f.csv")
    assert (text, encoding, problems) == ("a\x81b\x8d\x8f\x90\x9d€", "windows-1252", [])


def test_note_of_a_file_with_a_bom_counts_lines_from_the_start():
    data = b"\xef\xbb\xbfpatient_id,site\nP1,DE\nP2,K\xf6ln\n"
    assert readers.encoding_note(data, "f.csv", "windows-1252") == (
        "f.csv: not UTF-8 (byte 0xF6 on line 3 is not valid UTF-8); decoded as Windows-1252")
    assert readers.encoding_note(b"a,b\n", "f.csv", "utf-8") == ""


@pytest.mark.parametrize("fast", [True, False])
def test_both_csv_paths_decode_windows_1252_alike(fast):
    data = ("patient_id;site\nP1; €uroKlinik \nP2;Košice\n").encode("cp1252")
    table, problems = readers.read_csv_bytes(data, "f.csv", "patients", fast=fast)
    assert not problems
    assert table.data["site"].tolist() == ["€uroKlinik", "Košice"]
    assert table.encoding == "windows-1252" and table.encoding_note.startswith("f.csv: not UTF-8 (byte 0x80 on line 2")


# --------------------------------------------------------------------------- in the workflow
@pytest.mark.workflow
def test_ingest_logs_and_records_how_it_read_a_european_export(tmp_path):
    files = {name: european(text) for name, text in SMALL.items()}
    files["patients.csv"] = european(patients(P1.replace(",DE", ",Košice"), P2.replace("2011-07-01", "2011-07")))
    folder = write_files(tmp_path / "eu", {name: text.encode("cp1252") for name, text in files.items()})
    run_dir = tmp_path / "run"
    config = f"registry:\n  path: {folder}\n  date_format: '%d.%m.%Y'\n"
    result = run_snakemake(run_dir, config, "results/canonical/sources.json")
    assert result.returncode == 0, result.stderr[-3000:]
    sources = json.loads((run_dir / "results" / "canonical" / "sources.json").read_text())
    assert sources["date_format"] == "%d.%m.%Y"
    by_table = {f["table"]: f for f in sources["files"]}
    note = "patients.csv: not UTF-8 (byte 0x9A on line 2 is not valid UTF-8); decoded as Windows-1252"
    assert by_table["patients"]["encoding"] == "windows-1252" and by_table["patients"]["note"] == note
    assert by_table["events"]["encoding"] == "utf-8"  # ASCII only: valid UTF-8
    assert note in (run_dir / "logs" / "ingest.log").read_text().splitlines()
    canonical = pd.read_parquet(run_dir / "results" / "canonical" / "patients.parquet")
    assert canonical["site"].tolist() == ["Košice", "FR"]
    assert canonical["birth_date"].tolist() == [pd.Timestamp("2010-01-01"), pd.Timestamp("2011-05-05")]


@pytest.mark.workflow
def test_report_provenance_shows_version_encodings_notes_and_date_format(sample_run):
    """The report rendered from the sample run's results, with the sources of a European
    export: every file's encoding, how a non-UTF-8 file was read, the date format."""
    import smanh
    from smanh.jobs.files import read_csv
    from smanh.report.html import render_report

    results = sample_run / "results"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["workflow"]["version"] == smanh.__version__
    assert [f["encoding"] for f in summary["registry"]["files"]] == ["utf-8"] * 4
    summary["registry"]["date_format"] = "%d.%m.%Y"
    summary["registry"]["files"][0].update(
        encoding="windows-1252", note="patients.csv: not UTF-8 (byte 0x9A on line 2 is not valid UTF-8); "
                                      "decoded as Windows-1252")
    tables = {path.stem: read_csv(path) for path in sorted((results / "tables").glob("*.csv"))}
    figures = results / "figures"
    html = render_report(
        REPOSITORY / "workflow" / "report" / "report.html.j2", title="t", summary=summary, tables=tables,
        figures={"km_figures": sorted(figures.glob("km_*.svg")),
                 "parametric_figures": sorted(figures.glob("parametric_*.svg")),
                 "cuminc_figures": sorted(figures.glob("cuminc_*.svg")),
                 "cox_forest": figures / "cox_forest.svg",
                 "spaghetti_figures": sorted(figures.glob("progression_*.svg")),
                 "change_figures": sorted(figures.glob("change_12m_*.svg"))},
        min_cell_count=5,
    )
    provenance = html[html.index('id="provenance"'):]
    assert f"smanh {smanh.__version__} · workflow commit" in html
    assert '<td class="text">windows-1252</td>' in provenance and provenance.count('<td class="text">utf-8</td>') == 3
    assert "<li>patients.csv: not UTF-8 (byte 0x9A on line 2 is not valid UTF-8); decoded as Windows-1252</li>" in provenance
    assert "Dates read as <code>%d.%m.%Y</code>" in provenance
    original = (results / "report" / "report.html").read_text()
    assert "How files were read" not in original and "Dates read as" not in original
