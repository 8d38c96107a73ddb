"""Shared test helpers: tiny registry exports written from Python literals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE = REPOSITORY / "data" / "sample"

PATIENT_COLUMNS = [
    "patient_id", "sex", "birth_date", "sma_type", "smn2_copies", "onset_date",
    "diagnosis_date", "enrolment_date", "last_contact_date", "death_date", "site",
]
TABLE_COLUMNS = {
    "patients": PATIENT_COLUMNS,
    "events": ["patient_id", "event", "date"],
    "treatments": ["patient_id", "treatment", "start_date", "end_date"],
    "assessments": ["patient_id", "date", "scale", "score"],
}


def write_export(folder: Path, **tables: list[dict]) -> Path:
    """Write a canonical export; tables not given are written header-only."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, columns in TABLE_COLUMNS.items():
        rows = tables.get(name, [])
        frame = pd.DataFrame(rows, columns=columns).fillna("")
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def patient(patient_id="P1", **fields) -> dict:
    """A valid patient row; override any field."""
    row = {
        "patient_id": patient_id, "sex": "F", "birth_date": "2010-01-01", "sma_type": "2",
        "smn2_copies": "3", "onset_date": "2010-09-01", "diagnosis_date": "2011-01-01",
        "enrolment_date": "2012-01-01", "last_contact_date": "2020-01-01", "death_date": "",
        "site": "DE",
    }
    row.update(fields)
    return row


@pytest.fixture
def export_folder(tmp_path):
    def make(**tables):
        return write_export(tmp_path / "export", **tables)

    return make
