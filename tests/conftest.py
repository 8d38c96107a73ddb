"""Shared test helpers: tiny registry exports written from Python literals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE = REPOSITORY / "data" / "sample"
FIXTURES = REPOSITORY / "tests" / "fixtures"

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


def run_snakemake(run_dir: Path, config_text: str, *targets: str) -> subprocess.CompletedProcess:
    """Run the workflow as a user does: from another directory, with ``--configfile``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "my.yaml").write_text(config_text)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "-s", str(REPOSITORY / "Snakefile"),
         "--directory", str(run_dir), "--cores", "2", "--configfile", str(run_dir / "my.yaml")],
        capture_output=True, text=True, cwd=run_dir.parent,
    )


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """One run of the whole workflow on the sample registry, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("run")
    result = run_snakemake(run_dir, f"registry:\n  format: canonical\n  path: {SAMPLE}\n")
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir


def leaked_identifiers(text: str) -> list[str]:
    """The sample registry's patient identifiers that occur as words of ``text``."""
    ids = set(pd.read_csv(SAMPLE / "patients.csv", dtype=str)["patient_id"])
    import re

    words = set(re.findall(r"[A-Za-z0-9]+", text)) | set(re.findall(r"[\w.\-]+", text))
    return sorted(ids & words)


def leaked_patient_dates(text: str) -> list[str]:
    """Dates of the sample registry's patients (any table, any date column) in ``text``."""
    import re

    shown = set(re.findall(r"\d{4}-\d{2}-\d{2}", text))
    leaked: set[str] = set()
    for table in TABLE_COLUMNS:
        frame = pd.read_csv(SAMPLE / f"{table}.csv", dtype=str, keep_default_na=False)
        leaked |= {v for c in frame.columns if "date" in c for v in frame[c] if v} & shown
    return sorted(leaked)
