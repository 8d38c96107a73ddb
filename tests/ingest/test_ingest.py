"""Registry ingest: file formats and encodings, malformed exports with their exact problems,
the exclude policy, arbitrary input (hypothesis) and the REDCap route of the sample."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPOSITORY, SAMPLE
from malformed_cases import CASES, HEADERS, P1, P2, patients, table
from smanh.cohort.dataset import analysis_dataset
from smanh.cohort.flow import cohort_flow
from smanh.errors import ConfigError, SmanhError
from smanh.ingest import readers
from smanh.ingest.data_quality import data_quality
from smanh.ingest.parse import parse_dates
from smanh.ingest.problems import Problem, RegistryValidationError
from smanh.ingest.registry import read_registry
from smanh.survival.km_tables import km_tables
from smanh.synthetic import redcap_sample

SAMPLE_REDCAP = REPOSITORY / "data" / "sample_redcap"
MAPPING = REPOSITORY / "config" / "redcap_mapping.yaml"
TABLES = ("patients", "events", "treatments", "assessments")


def write_files(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, header in HEADERS.items():
        (folder / name).write_text(header + "\n", encoding="utf-8")
    for name, content in files.items():
        if content is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def problems_of(folder, **kwargs):
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder, **kwargs)
    return error.value.problems


# --------------------------------------------------------------------------- malformed
@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_export_reports_exactly_its_problems(case, tmp_path):
    files, expected = CASES[case]
    found = problems_of(write_files(tmp_path / case, files))
    assert found == sorted(Problem(*p) for p in expected)


def test_there_are_at_least_25_malformed_cases():
    assert len(CASES) >= 25


def test_every_problem_is_reported_together_and_printed(tmp_path):
    folder = write_files(tmp_path / "x", {**CASES["unknown_sma_type"][0], "events.csv": ""})
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder)
    assert len(error.value.problems) == 2
    assert "events.csv: file is empty (no header row)" in str(error.value)


# --------------------------------------------------------------------------- formats
def canonical_frames(export):
    frames = {}
    for name in TABLES:
        frame = export.table(name).drop(columns="line")
        frames[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def assert_same_tables(a, b):
    fa, fb = canonical_frames(a), canonical_frames(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(fa[name], fb[name], check_dtype=False)


@pytest.fixture
def small_export(tmp_path):
    return write_files(tmp_path / "csv", {
        "patients.csv": patients(P1, P2.replace("2011-07-01", "2011-07")),
        "events.csv": table("events.csv", "P1,sits_independently,2011"),
        "treatments.csv": table("treatments.csv", "P2,nusinersen,2018-01-01,"),
        "assessments.csv": table("assessments.csv", "P1,2013-01-01,HFMSE,21.5", "P2,2013-02-01,CHOP_INTEND,30"),
    })


def test_partial_dates_are_imputed_and_counted(small_export):
    export = read_registry(small_export)
    assert export.patients.loc[1, "onset_date"] == pd.Timestamp("2011-07-15")
    assert export.events.loc[0, "date"] == pd.Timestamp("2011-07-01")
    assert export.imputed_dates == {("patients", "onset_date"): 1, ("events", "date"): 1}


def test_semicolon_decimal_comma_bom_and_latin1_read_the_same(small_export, tmp_path):
    expected = read_registry(small_export)
    for encoding in ("utf-8-sig", "latin-1"):
        folder = tmp_path / encoding
        folder.mkdir()
        for file in small_export.iterdir():
            text = file.read_text(encoding="utf-8").replace(",", ";").replace("21.5", "21,5")
            (folder / file.name).write_bytes(text.encode(encoding))
        assert_same_tables(read_registry(folder), expected)


def test_latin1_names_are_decoded(tmp_path):
    folder = write_files(tmp_path / "l1", {"patients.csv": patients(P1.replace(",DE", ",Zürich")).encode("latin-1")})
    assert read_registry(folder).patients["site"].tolist() == ["Zürich"]


def test_xlsx_workbook_with_date_cells_and_serials(small_export, tmp_path):
    import openpyxl

    expected = read_registry(small_export)
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name in TABLES:
        frame = pd.read_csv(small_export / f"{name}.csv", dtype=str, keep_default_na=False)
        sheet = workbook.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            cells = []
            for column, value in zip(frame.columns, row):
                if column == "birth_date":  # an Excel date serial
                    value = (dt.date.fromisoformat(value) - dt.date(1899, 12, 30)).days
                elif column == "enrolment_date":  # a date cell
                    value = dt.datetime.fromisoformat(value)
                elif column == "score":
                    value = float(value)
                elif column == "date" and value == "2011":  # a year typed as a number
                    value = 2011
                cells.append(value)
            sheet.append(cells)
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    assert_same_tables(read_registry(path), expected)
    assert read_registry(path).imputed_dates == expected.imputed_dates


def test_xlsx_problems_name_the_sheet_and_row(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.title = "events"
    workbook.active.append(["patient_id", "event", "date"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    assert problems_of(path) == [Problem("export.xlsx[patients]", 0, "", "", "required sheet is missing")]
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    assert problems_of(tmp_path / "broken.xlsx") == [
        Problem("broken.xlsx", 0, "", "", "not a readable .xlsx workbook: BadZipFile")
    ]


def test_parquet_folder(small_export, tmp_path):
    expected = read_registry(small_export)
    folder = tmp_path / "parquet"
    folder.mkdir()
    for name in TABLES:
        frame = expected.table(name).drop(columns="line")
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    export = read_registry(folder)
    assert_same_tables(export, expected)
    bad = expected.patients.drop(columns="line").astype(str).replace({"NaT": "", "<NA>": ""})
    bad.loc[0, "birth_date"] = "01/01/2010"
    bad.to_parquet(folder / "patients.parquet", index=False)
    assert problems_of(folder) == [Problem("patients.parquet", 2, "birth_date", "01/01/2010", CASES["unparseable_date"][1][0][4])]


# --------------------------------------------------------------------------- exclude
def test_exclude_policy_counts_every_patient(tmp_path):
    folder = write_files(tmp_path / "ex", {
        "patients.csv": patients(P1, P2.replace(",1b,", ",7,"), "P3,F,2010-01-01,2,3,,,2012-01-01,2011-01-01,,DE",
                                 "P4,F,2010-01-01,3a,4,,,2012-01-01,2020-01-01,,DE"),
        "events.csv": table("events.csv", "P4,walks_independently,2009-01-01", "P9,niv_start,2015-01-01"),
        "assessments.csv": table("assessments.csv", "P1,2013-01-01,RULM,12", "P9,2013-01-01,RULM,12"),
    })
    with pytest.raises(RegistryValidationError):
        read_registry(folder)
    export = read_registry(folder, on_invalid="exclude")
    assert export.patients["patient_id"].tolist() == ["P1"]
    assert export.excluded.to_dict("list") == {
        "patient_id": ["P2", "P3", "P4"],
        "reason": ["invalid: patients.sma_type: value not in the vocabulary",
                   "invalid: patients.last_contact_date: enrolment after last contact",
                   "invalid: events.date: date before the patient's birth"],
    }
    assert export.dropped_rows == {"events": 1, "treatments": 0, "assessments": 1}
    assert export.events.empty and export.assessments["patient_id"].tolist() == ["P1"]
    assert len(export.problems) == 5 and export.n_in_export == 4
    by_reason = export.excluded.groupby("reason").size().to_dict()
    flow = cohort_flow(export.n_in_export, analysis_dataset(export, ["death"]), by_reason)
    overall = flow[flow["endpoint"] == "all"].set_index("step")["n"]
    assert overall["export"] == 4 and overall["validated"] == 1
    assert flow.loc[flow["step"] == "excluded", "n"].sum() + flow.loc[flow["step"] == "analysed", "n"].sum() == 4


def test_whole_file_problems_stop_even_with_exclude(tmp_path):
    folder = write_files(tmp_path / "ex", CASES["missing_required_column"][0])
    assert problems_of(folder, on_invalid="exclude") == [Problem(*CASES["missing_required_column"][1][0])]


# --------------------------------------------------------------------------- arbitrary input
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CSV_TEXT = st.lists(
    st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["P1", "2010-01-01", "2010-13", "2", "", "\"", ";"])),
             max_size=12),
    max_size=6,
).map(lambda rows: "\n".join(",".join(cells) for cells in rows))


def _only_own_errors(folder):
    try:
        read_registry(folder)
        read_registry(folder, on_invalid="exclude")
    except SmanhError:
        pass


@FUZZ
@given(data=st.binary(max_size=300), name=st.sampled_from(sorted(HEADERS)))
def test_arbitrary_bytes_end_in_our_own_error(tmp_path_factory, data, name):
    folder = write_files(tmp_path_factory.mktemp("fuzz"), {"patients.csv": patients(P1), name: data})
    _only_own_errors(folder)


@FUZZ
@given(text=CSV_TEXT, name=st.sampled_from(sorted(HEADERS)), with_header=st.booleans())
def test_arbitrary_csv_text_ends_in_our_own_error(tmp_path_factory, text, name, with_header):
    content = (HEADERS[name] + "\n" + text) if with_header else text
    folder = write_files(tmp_path_factory.mktemp("fuzz"), {"patients.csv": patients(P1, P2), name: content})
    _only_own_errors(folder)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_arbitrary_redcap_export_ends_in_our_own_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "export.csv").write_bytes(data)
    try:
        read_registry(format="redcap", redcap={"export": folder / "export.csv", "mapping": MAPPING,
                                               "dictionary": SAMPLE_REDCAP / redcap_sample.DICTIONARY_FILE})
    except SmanhError:
        pass


# --------------------------------------------------------------------------- fast CSV path
def read_both_ways(data: bytes, monkeypatch, chunk: int | None = None):
    """``read_csv_bytes`` with and without the fast path; also whether the fast path
    took the file (rather than handing it to the csv module)."""
    taken = []
    simple = readers._read_simple

    def spy(*args):
        result = simple(*args)
        taken.append(result is not None)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(readers, "_read_simple", spy)
        if chunk:
            patch.setattr(readers, "SCAN_CHUNK", chunk)
        fast = readers.read_csv_bytes(data, "f.csv", "patients")
    exact = readers.read_csv_bytes(data, "f.csv", "patients", fast=False)
    return fast, exact, any(taken)


def assert_same_read(fast, exact):
    (table, problems), (expected, expected_problems) = fast, exact
    assert problems == expected_problems
    assert (table is None) == (expected is None)
    if table is not None:
        pd.testing.assert_frame_equal(table.data, expected.data, check_exact=True)
        assert table.lines.dtype == expected.lines.dtype and table.lines.tolist() == expected.lines.tolist()
        assert table.findings == expected.findings
        assert (table.encoding, table.delimiter) == (expected.encoding, expected.delimiter)


HEADER = "patient_id,sex,birth_date,site"
SIMPLE_CSV = {
    "blank_rows_and_trailing_blank_lines": f"\n  \n{HEADER}\nP1,F,2010,DE\n\n,,,\n ; ,\t, \nP2,M,2011-02,FR\n\n\n \n",
    "semicolon_decimal_comma": "patient_id;score;site\nP1;21,5;DE\nP2;3,25;FR\n",
    "crlf_and_lone_cr": f"{HEADER}\r\nP1,F,2010,DE\rP2,M,2011,FR\r\n\r\nP3,U,2012,IT",
    "ragged_rows": f"{HEADER}\nP1,F\nP2,M,2011,FR,,\nP3,U,2012,IT,x\nP4,F,2013,DE, ,\n",
    "cells_to_strip": f"{HEADER}\n P1 ,\tF,2010-01-01\u00a0,\u2003Zürich \nP2,M,2011,Malmö\n",
    "quoted_cells": '"patient_id","sex",birth_date,site\r\n"P1","",2010,"DE"\n" P2 ",M,"2011",""\n',
    "header_only": f"{HEADER}\n\n",
    "unnamed_columns": "patient_id,,sex,\nP1,x,F,y\nP2,,M,\n",
    "duplicate_header": "patient_id,sex,sex\nP1,F,M\n",
}
CSV_PATH_ONLY = {
    "quoted_multi_line_cell": f'{HEADER}\nP1,F,2010,"De\nutsch\nland"\n\nP2,X,2011,FR\n',
    "quoted_delimiter": f'{HEADER}\nP1,F,2010,"Paris, France"\nP2,M,2011,FR\n',
    "quote_inside_a_cell": f'{HEADER}\nP1,F,2010,5" tall\n',
    "empty_quoted_line_before_newline": f'{HEADER}\r""\nP1,F,2010,DE\n',
    "second_bom": "\ufeff\ufeff" + HEADER + "\nP1,F,2010,DE\n",
    "unclosed_quote": f'{HEADER}\nP1,F,2010,"DE\n',
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
@pytest.mark.parametrize("case", sorted(SIMPLE_CSV))
def test_fast_csv_path_reads_like_the_csv_module(case, encoding, monkeypatch):
    text = SIMPLE_CSV[case]
    if encoding == "latin-1":
        text = text.replace("\u2003", " ")
    for chunk in (None, 5):  # also scanned in many small pieces
        fast, exact, taken = read_both_ways(text.encode(encoding), monkeypatch, chunk)
        assert taken
        assert_same_read(fast, exact)


@pytest.mark.parametrize("case", sorted(CSV_PATH_ONLY))
def test_other_csv_files_take_the_csv_module_path(case, monkeypatch):
    fast, exact, taken = read_both_ways(CSV_PATH_ONLY[case].encode("utf-8"), monkeypatch)
    assert not taken
    assert_same_read(fast, exact)


def test_quoted_multi_line_cell_keeps_physical_line_numbers(tmp_path):
    folder = write_files(tmp_path / "ml", {
        "patients.csv": patients(P1.replace(",DE", ',"Deutsch-\nland"'), "", P2.replace(",M,", ",X,")),
    })
    assert problems_of(folder) == [Problem("patients.csv", 5, "sex", "X", "must be one of: M, F, U")]


@FUZZ
@given(text=st.lists(st.sampled_from([*'ab1-.,;" \t\r\n\x0b\x1c\xa0\u2003é\ufeff', "2010-01-01", '"x"', ",,"]),
                     max_size=40).map("".join),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]), chunk=st.sampled_from([None, 1, 4]))
def test_fast_csv_path_equals_the_csv_module_on_arbitrary_text(monkeypatch, text, encoding, chunk):
    data = text.encode(encoding, errors="replace")
    fast, exact, _ = read_both_ways(data, monkeypatch, chunk)
    assert_same_read(fast, exact)


def test_both_csv_paths_give_the_same_export_and_problems(tmp_path, monkeypatch):
    folder = write_files(tmp_path / "x", {
        "patients.csv": patients(P1, "", " P2 ,M,2011-05,1b,2,,,2012-02-01,2019-06-30,,FR",
                                 "P3,F,2010-01-01,7,2.5,,,2012-01-01,2011-01-01,,DE,extra", ",,,,"),
        "events.csv": table("events.csv", "P1,sits_independently,2011", "P2,walking,2013-13-01", "P9,niv_start,2015"),
        "treatments.csv": table("treatments.csv", "P1,nusinersen,2018-01-01,2017-01-01", "P2,risdiplam"),
        "assessments.csv": table("assessments.csv", "P1,2013-01-01,HFMSE,21.5", "P1,2013-01,RULM,99",
                                 "P2,2014,CHOP_INTEND,1e1", "P1,2015-01-01,HINE2,abc"),
    })
    fast = read_registry(folder, on_invalid="exclude")
    monkeypatch.setattr(readers, "_read_simple", lambda *args: None)
    exact = read_registry(folder, on_invalid="exclude")
    for name in TABLES:
        pd.testing.assert_frame_equal(fast.table(name), exact.table(name), check_exact=True)
    pd.testing.assert_frame_equal(fast.excluded, exact.excluded)
    pd.testing.assert_frame_equal(data_quality(fast), data_quality(exact))
    assert fast.problems == exact.problems and len(fast.problems) >= 8
    assert fast.imputed_dates == exact.imputed_dates == {("patients", "birth_date"): 1, ("events", "date"): 2,
                                                          ("assessments", "date"): 2}


def test_parse_dates_parses_repeated_texts_alike():
    values = pd.Series(["2010-05", "2010-05", "2010", "", "2010-02-30", "2010-01-01", "2010-1-1", "2010-01-01"])
    dates, bad, imputed = parse_dates(values)
    expected = ["2010-05-15", "2010-05-15", "2010-07-01", None, None, "2010-01-01", None, "2010-01-01"]
    pd.testing.assert_series_equal(dates, pd.Series(pd.to_datetime(expected), dtype="datetime64[ns]"))
    assert bad.tolist() == [False, False, False, False, True, False, True, False]
    assert imputed == 3


# --------------------------------------------------------------------------- REDCap
def redcap_route(export_path=SAMPLE_REDCAP / redcap_sample.EXPORT_FILE, mapping=MAPPING):
    return read_registry(format="redcap", redcap={
        "export": export_path, "dictionary": SAMPLE_REDCAP / redcap_sample.DICTIONARY_FILE, "mapping": mapping})


@pytest.fixture(scope="module")
def both_routes():
    return read_registry(SAMPLE), redcap_route()


def test_committed_redcap_sample_equals_regeneration(tmp_path):
    assert redcap_sample.main(["--sample", str(SAMPLE), "--out", str(tmp_path)]) == 0
    for name in (redcap_sample.EXPORT_FILE, redcap_sample.DICTIONARY_FILE):
        assert (SAMPLE_REDCAP / name).read_bytes() == (tmp_path / name).read_bytes(), f"{name}: run `make sample`"


def test_redcap_and_canonical_routes_give_identical_tables(both_routes):
    canonical, redcap = both_routes
    assert_same_tables(canonical, redcap)
    assert len(redcap.patients) == len(canonical.patients) > 1000


def test_redcap_and_canonical_routes_give_identical_results(both_routes):
    results = []
    for export in both_routes:
        dataset = analysis_dataset(export, ["death_or_permanent_ventilation", "death"])
        dataset = dataset.sort_values(["endpoint", "patient_id"]).reset_index(drop=True)
        results.append((dataset, *km_tables(dataset, ["all", "sma_type", "smn2_copies"], [1, 2, 5, 10, 20])))
    for a, b in zip(*results):
        pd.testing.assert_frame_equal(a, b)


def test_redcap_label_export_gives_the_same_tables(both_routes, tmp_path):
    raw = pd.read_csv(SAMPLE_REDCAP / redcap_sample.EXPORT_FILE, dtype=str, keep_default_na=False)
    subset = raw[raw["record_id"].isin(["P00001", "P00002", "P00003", "P00004"])]
    labels = redcap_sample.with_labels(subset, redcap_sample.data_dictionary())
    assert "Checked" in labels["ms_achieved___1"].tolist()
    subset.to_csv(tmp_path / "raw.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False, sep=";")
    assert_same_tables(redcap_route(tmp_path / "raw.csv"), redcap_route(tmp_path / "labels.csv"))


def test_redcap_problems_name_export_line_and_field(tmp_path):
    raw = pd.read_csv(SAMPLE_REDCAP / redcap_sample.EXPORT_FILE, dtype=str, keep_default_na=False).head(40)
    raw.loc[0, "diag_sma_type"] = "77"
    row = raw.index[raw["redcap_repeat_instrument"] == "motor_assessment"][0]
    column = next(c for c in redcap_sample.SCALE_FIELDS.values() if raw.loc[row, c[0]] != "")[0]
    raw.loc[row, column] = "500"
    raw.to_csv(tmp_path / "export.csv", index=False)
    with pytest.raises(RegistryValidationError) as error:
        redcap_route(tmp_path / "export.csv")
    scale = next(s for s, (f, _) in redcap_sample.SCALE_FIELDS.items() if f == column)
    assert set(error.value.problems) >= {
        Problem("export.csv", 2, "diag_sma_type", "77", CASES["unknown_sma_type"][1][0][4]),
    }
    assert any(p.line == row + 2 and p.column == column and p.value == "500" and p.rule.startswith(scale)
               for p in error.value.problems)


def test_redcap_mapping_errors_name_the_key(tmp_path):
    text = MAPPING.read_text().replace("birth_date: dem_dob", "birth_date: dem_birthday")
    (tmp_path / "mapping.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"tables.patients\[0\].birth_date: field 'dem_birthday' is not in the data"):
        redcap_route(mapping=tmp_path / "mapping.yaml")
    (tmp_path / "mapping.yaml").write_text("tables: {patients: [{event: baseline_arm_1}]}\n")
    with pytest.raises(ConfigError, match="columns"):
        redcap_route(mapping=tmp_path / "mapping.yaml")


def test_data_quality_table(both_routes):
    from smanh.ingest.data_quality import data_quality

    table = data_quality(both_routes[0])
    assert set(table["section"]) == {"completeness", "follow_up", "assessments", "recorded", "after_last_contact",
                                     "validation"}
    known = table[(table["field"] == "birth_date") & (table["statistic"] == "percent_known")]["value"]
    assert known.tolist() == [100.0]
    assert np.isfinite(table[table["statistic"] == "total_person_years"]["value"].astype(float)).all()


def test_the_data_cutoff_is_configurable_and_checked(tmp_path):
    """Any date after registry.data_cutoff is impossible; with on_invalid: exclude the
    patient is excluded and counted under that reason."""
    folder = write_files(tmp_path / "x", {
        "patients.csv": patients(P1, P2),
        "assessments.csv": table("assessments.csv", "P1,2019-03-01,HFMSE,20", "P2,2013-01-01,HFMSE,30"),
    })
    rule = "date after the data cut-off (2019-01-31)"
    assert problems_of(folder, data_cutoff="2019-01-31") == [
        Problem("assessments.csv", 2, "date", "2019-03-01", rule),
        Problem("patients.csv", 2, "last_contact_date", "2020-01-01", rule),
        Problem("patients.csv", 3, "last_contact_date", "2019-06-30", rule),
    ]
    export = read_registry(folder, on_invalid="exclude", data_cutoff="2019-12-31")
    assert export.excluded.to_dict("records") == [
        {"patient_id": "P1", "reason": "invalid: patients.last_contact_date: date after the data cut-off (2019-12-31)"}]
    assert export.data_cutoff.isoformat() == "2019-12-31"
    with pytest.raises(ConfigError, match="registry.data_cutoff"):
        read_registry(folder, data_cutoff="2019-02-30")


def test_records_after_last_contact_are_legal_and_counted(tmp_path):
    from smanh.ingest.data_quality import data_quality

    folder = write_files(tmp_path / "x", {
        "patients.csv": patients(P1, P2),
        "events.csv": table("events.csv", "P2,niv_start,2019-07-01", "P2,feeding_tube,2019-08-01"),
        "assessments.csv": table("assessments.csv", "P1,2020-02-01,HFMSE,20", "P1,2019-02-01,HFMSE,22"),
    })
    quality = data_quality(read_registry(folder)).query("section == 'after_last_contact'")
    counts = {(r.table, r.statistic): r.value for r in quality.itertuples()}
    assert counts == {("events", "rows"): 2, ("events", "patients"): 1, ("treatments", "rows"): 0,
                      ("treatments", "patients"): 0, ("assessments", "rows"): 1, ("assessments", "patients"): 1,
                      ("all", "rows"): 3, ("all", "patients"): 2}


def test_an_empty_sheet_or_form_is_an_empty_table(tmp_path):
    """A workbook sheet left blank (no header) for an optional table has no rows of it; a
    blank patients sheet is a problem. A REDCap export whose repeating forms have no
    instances gives empty treatments and assessments."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "patients"
    for line in patients(P1, P2).splitlines():
        sheet.append(line.split(","))
    workbook.create_sheet("events")
    workbook.create_sheet("assessments").append(HEADERS["assessments.csv"].split(","))
    workbook.save(tmp_path / "export.xlsx")
    export = read_registry(tmp_path / "export.xlsx")
    assert (len(export.patients), len(export.events), len(export.assessments)) == (2, 0, 0)
    workbook["patients"].delete_rows(1, 10)
    workbook.save(tmp_path / "blank.xlsx")
    assert problems_of(tmp_path / "blank.xlsx") == [
        Problem("blank.xlsx[patients]", 0, "", "", "sheet is empty (no header row)")]

    export = pd.read_csv(SAMPLE_REDCAP / redcap_sample.EXPORT_FILE, dtype=str, keep_default_na=False)
    export = export[export["redcap_repeat_instrument"] == ""]
    export.to_csv(tmp_path / "redcap.csv", index=False)
    redcap = redcap_route(tmp_path / "redcap.csv")
    assert len(redcap.patients) == len(read_registry(SAMPLE).patients)
    assert (len(redcap.treatments), len(redcap.assessments)) == (0, 0)
    assert set(redcap.events["event"]) <= {"head_control", "sits_independently", "stands_independently",
                                           "walks_independently"}  # the milestones' checkbox, not a form
