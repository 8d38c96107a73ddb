"""Reading a canonical export: typed tables, or every problem with file, line, column, value, rule."""

import pandas as pd
import pytest

from conftest import patient
from smanh.errors import SmanhError
from smanh.ingest.problems import Problem, RegistryValidationError
from smanh.ingest.registry import read_registry


def problems(folder):
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder)
    return error.value.problems


def test_valid_export_is_typed(export_folder):
    folder = export_folder(
        patients=[patient("P1", onset_date="2010-09", diagnosis_date="2011")],
        assessments=[{"patient_id": "P1", "date": "2013-01-01", "scale": "HFMSE", "score": "21"}],
    )
    export = read_registry(folder)
    assert export.patients["birth_date"].dtype == "datetime64[ns]"
    assert export.patients["smn2_copies"].tolist() == [3]
    assert export.patients.loc[0, "onset_date"] == pd.Timestamp("2010-09-15")
    assert export.patients.loc[0, "diagnosis_date"] == pd.Timestamp("2011-07-01")
    assert export.imputed_dates == {("patients", "onset_date"): 1, ("patients", "diagnosis_date"): 1}
    assert export.assessments["score"].tolist() == [21.0]
    assert [s.rows for s in export.sources] == [1, 0, 0, 1]


def test_all_problems_are_reported_together(export_folder):
    folder = export_folder(
        patients=[
            patient("P1", sma_type="5"),
            patient("P2", death_date="2009-01-01", last_contact_date="2009-01-01", enrolment_date="2008-06-01"),
            patient("P3", birth_date="2010-02-30"),
        ],
        events=[{"patient_id": "P9", "event": "permanent_ventilation", "date": "2015-01-01"}],
        assessments=[{"patient_id": "P1", "date": "2013-01-01", "scale": "HFMSE", "score": "70"}],
    )
    found = problems(folder)
    assert Problem("patients.csv", 2, "sma_type", "5", "must be one of: 0, 1, 1a, 1b, 1c, 2, 2a, 2b, 3, 3a, 3b, 4, unknown") in found
    assert Problem("patients.csv", 3, "death_date", "2009-01-01", "death before birth") in found
    assert Problem("patients.csv", 4, "birth_date", "2010-02-30", "must be a date YYYY-MM-DD (or partial YYYY-MM / YYYY)") in found
    assert Problem("events.csv", 2, "patient_id", "P9", "patient_id not in patients.csv") in found
    assert Problem("assessments.csv", 2, "score", "70", "HFMSE score must be between 0 and 66") in found


def test_missing_required_column_and_duplicate_patient(export_folder, tmp_path):
    folder = export_folder(patients=[patient("P1"), patient("P1", sex="M")])
    frame = pd.read_csv(folder / "patients.csv", dtype=str).drop(columns="enrolment_date")
    frame.to_csv(folder / "patients.csv", index=False)
    found = problems(folder)
    assert Problem("patients.csv", 1, "enrolment_date", "", "required column is missing") in found
    assert Problem("patients.csv", 2, "patient_id", "P1", "patient_id is not unique") in found
    assert Problem("patients.csv", 3, "patient_id", "P1", "patient_id is not unique") in found


def test_empty_file_and_message_lists_every_problem(export_folder):
    folder = export_folder(patients=[patient("P1", enrolment_date="2021-01-01")])
    (folder / "events.csv").write_text("")
    with pytest.raises(RegistryValidationError) as error:
        read_registry(folder)
    message = str(error.value)
    assert "2 problem(s)" in message
    assert "events.csv: file is empty (no header row)" in message
    assert "patients.csv, line 2, column 'last_contact_date', value '2020-01-01': enrolment after last contact" in message


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SmanhError, match="does not exist"):
        read_registry(tmp_path / "nowhere")
