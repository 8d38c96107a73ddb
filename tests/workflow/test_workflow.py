"""The whole workflow, run as a user runs it: from another directory, with the registry
outside the run directory, on the bundled sample registry."""

import json
import re

import pandas as pd
import pytest

from conftest import SAMPLE, leaked_identifiers, patient, run_snakemake, write_export
from smanh.cohort.dataset import analysis_dataset
from smanh.config.validation import validate_config
from smanh.ingest.registry import read_registry
from smanh.survival.km_tables import AT_RISK_COLUMNS, TEST_COLUMNS, km_tables
from smanh.survival.model_tables import (
    COX_COLUMNS,
    CUMINC_COLUMNS,
    PARAMETRIC_COLUMNS,
    PARAMETRIC_CURVE_COLUMNS,
    RMST_COLUMNS,
)

pytestmark = pytest.mark.workflow

CONTRACT = {
    "km_summary.csv": ["endpoint", "stratify_by", "stratum", "n", "events", "note", "median_years", "median_lo",
                       "median_hi",
                       "s_1y", "s_2y", "s_5y", "s_10y", "s_20y"],
    "km_curves.csv": ["endpoint", "stratify_by", "stratum", "time_years", "survival", "lo", "hi", "at_risk"],
    "cohort_flow.csv": ["endpoint", "step", "reason", "n"],
    "km_at_risk.csv": AT_RISK_COLUMNS,
    "km_tests.csv": TEST_COLUMNS,
    "cox.csv": COX_COLUMNS,
    "cuminc.csv": CUMINC_COLUMNS,
    "rmst.csv": RMST_COLUMNS,
    "parametric.csv": PARAMETRIC_COLUMNS,
    "parametric_curves.csv": PARAMETRIC_CURVE_COLUMNS,
}


def read(run_dir, name):
    return pd.read_csv(run_dir / "results" / "tables" / name, keep_default_na=False, na_values=[""])


def test_tables_follow_the_contract(sample_run):
    for name, columns in CONTRACT.items():
        assert read(sample_run, name).columns.tolist() == columns, name
    summary = read(sample_run, "km_summary.csv")
    assert set(summary["stratify_by"]) == {"all", "sma_type", "smn2_copies"}
    text = (sample_run / "results" / "tables" / "km_summary.csv").read_text()
    assert "inf" not in text and "nan" not in text.lower()


def test_tables_hold_the_package_numbers(sample_run):
    export = read_registry(SAMPLE)
    endpoints = validate_config({"registry": {"path": str(SAMPLE)}})["analysis"]["endpoints"]
    expected_summary, expected_curves = km_tables(
        analysis_dataset(export, endpoints), ["all", "sma_type", "smn2_copies"], [1, 2, 5, 10, 20],
        min_stratum_size=10,
    )
    written = read(sample_run, "km_summary.csv")
    written["note"] = written["note"].fillna("")  # an empty field reads back as missing
    pd.testing.assert_frame_equal(written, expected_summary, check_dtype=False, rtol=1e-15)
    pd.testing.assert_frame_equal(read(sample_run, "km_curves.csv"), expected_curves, check_dtype=False, rtol=1e-15)


def test_every_patient_is_accounted_for(sample_run):
    flow = read(sample_run, "cohort_flow.csv")
    n_export = len(pd.read_csv(SAMPLE / "patients.csv"))
    assert flow.iloc[0]["n"] == n_export
    summary = read(sample_run, "km_summary.csv")
    assert summary["endpoint"].nunique() == 7  # every built-in endpoint by default
    for endpoint, per_endpoint in flow[flow["endpoint"] != "all"].groupby("endpoint"):
        assert per_endpoint["n"].sum() == n_export, endpoint
        analysed = per_endpoint.loc[per_endpoint["step"] == "analysed", "n"].item()
        rows = summary[summary["endpoint"] == endpoint]
        assert rows.loc[rows["stratify_by"] == "all", "n"].item() == analysed
        for by in ("sma_type", "smn2_copies"):
            assert rows.loc[rows["stratify_by"] == by, "n"].sum() == analysed


def test_report_is_self_contained_and_shows_no_identifiers(sample_run):
    html = (sample_run / "results" / "report" / "report.html").read_text()
    assert re.search(r"(src|href)=\"(?!data:|#)", html) is None, "every resource is embedded"
    assert "http://" not in html and "https://" not in html
    assert not leaked_identifiers(html)
    for section in ("Summary", "Methods", "Cohort", "Survival", "Motor progression",
                    "Comparison with published natural history", "Warnings and limitations", "Provenance"):
        assert f". {section}</h2>" in html, section


def test_summary_json_holds_results_and_provenance(sample_run):
    summary = json.loads((sample_run / "results" / "summary.json").read_text())
    assert {f["table"] for f in summary["registry"]["files"]} == {"patients", "events", "treatments", "assessments"}
    assert summary["config"]["analysis"]["landmark_ages"] == [1, 2, 5, 10, 20]
    assert len(summary["kaplan_meier"]) == len(read(sample_run, "km_summary.csv"))
    assert summary["software"]["snakemake"].startswith("9.")


def test_figures_are_written(sample_run):
    figures = sample_run / "results" / "figures"
    assert (figures / "km_death_or_permanent_ventilation.png").stat().st_size > 10_000
    assert (figures / "km_death_or_permanent_ventilation.svg").exists()


def test_bad_config_stops_with_a_message_naming_the_key(tmp_path):
    result = run_snakemake(tmp_path / "run", f"registry:\n  path: {SAMPLE}\nanalysis:\n  landmark_ages: [1, two]\n")
    assert result.returncode != 0
    assert "config key 'analysis.landmark_ages[1]'" in result.stderr


def test_bad_export_stops_with_every_problem_and_no_traceback(tmp_path):
    export = write_export(
        tmp_path / "export",
        patients=[patient("P1", sma_type="7"), patient("P2")],
        assessments=[{"patient_id": "P3", "date": "2015-01-01", "scale": "RULM", "score": "12"}],
    )
    run_dir = tmp_path / "run"
    result = run_snakemake(run_dir, f"registry:\n  path: {export}\n")
    assert result.returncode != 0
    assert "patients.csv, line 2, column 'sma_type', value '7': must be one of" in result.stderr
    assert "assessments.csv, line 2, column 'patient_id', value 'P3': patient_id not in patients.csv" in result.stderr
    assert "Traceback" not in result.stderr
    problems = pd.read_csv(run_dir / "results" / "validation" / "problems.csv")
    assert len(problems) == 2
