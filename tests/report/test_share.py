"""What leaves the secure environment (results/share/ and the report's tables) discloses no
small count: the audit of disclosure_audit.py on the sample's released tables, on small
registries (tests/test_shapes.py runs it on every registry it draws) and on hand cases."""

import json

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from report.disclosure_audit import audit

from smanh.disclosure.release import release
from smanh.report.share import sha256_of

pytestmark = pytest.mark.workflow


def shared(run_dir):
    folder = run_dir / "results" / "share"
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False) for path in folder.glob("*.csv")}


def test_results_share_holds_no_count_below_the_threshold(sample_run):
    released = shared(sample_run)
    exact = {p.stem for p in (sample_run / "results" / "tables").glob("*.csv")}
    assert set(released) == exact  # every table has its released copy
    assert audit(released, 5) == []
    # the curves are on the monthly grid, never at an individual's event age
    curves = released["km_curves"]
    assert "time_years" not in curves and len(curves) > 100


def test_the_workbook_and_the_manifest(sample_run):
    folder = sample_run / "results" / "share"
    workbook = load_workbook(folder / "tables.xlsx", read_only=True)
    assert workbook.sheetnames[0] == "README"
    assert {name[:31] for name in shared(sample_run)} <= set(workbook.sheetnames)
    rows = list(workbook["km_summary"].iter_rows(values_only=True))
    csv = pd.read_csv(folder / "km_summary.csv", dtype=str, keep_default_na=False)
    assert list(rows[0]) == list(csv.columns) and len(rows) == len(csv) + 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["km_summary.csv"] == sha256_of(folder / "km_summary.csv")
    assert (folder / "report.html").read_bytes() == (sample_run / "results" / "report" / "report.html").read_bytes()
    # every column of every sheet explained; shown counts are numbers, hidden ones text
    explained = {(r[0], r[2]): r[3] for r in workbook["README"].iter_rows(values_only=True) if r and len(r) > 3}
    unexplained = [(name, column) for name, table in shared(sample_run).items() for column in table.columns
                   if not explained.get((name[:31], column))]
    assert not unexplained
    n = [row[rows[0].index("n")] for row in rows[1:]]
    assert all(isinstance(v, int) or v.startswith(("<", "≈")) for v in n) and any(isinstance(v, int) for v in n)
    assert not csv["n"].str.contains(",").any()


def test_data_quality_of_fewer_than_t_patients_releases_no_other_number():
    """A group with 1 to T - 1 patients: their follow-up quantiles and sums, or their
    assessments, would describe those few patients."""
    rows = [("follow_up", "patients", "last_contact_date - enrolment_date", "patients", 1),
            ("follow_up", "patients", "last_contact_date - enrolment_date", "median_years", 10.9),
            ("follow_up", "patients", "last_contact_date - enrolment_date", "total_person_years", 10.9),
            ("assessments", "assessments", "HFMSE", "patients", 40),
            ("assessments", "assessments", "HFMSE", "assessments", 440),
            ("assessments", "assessments", "HFMSE", "median_per_patient", 11.0),
            ("assessments", "assessments", "RULM", "patients", 2),
            ("assessments", "assessments", "RULM", "assessments", 44),
            ("assessments", "assessments", "RULM", "median_per_patient", 22.0)]
    table = pd.DataFrame(rows, columns=["section", "table", "field", "statistic", "value"])
    shown = release({"data_quality": table}, 5)["data_quality"]
    assert shown["value"].astype(str).tolist() == ["<5", "nan", "nan", "40", "440", "11.0", "<5", "nan", "nan"]
    assert audit({"data_quality": shown}, 5) == []
    leaky = shown.copy()
    leaky.loc[1, "value"] = 10.9
    assert audit({"data_quality": leaky}, 5) != []


@pytest.mark.parametrize("counts, expected", [
    ([100, 3, 40, 57], ["100", "<5", "≈40", "57"]),   # one hidden: the smallest other rounded
    ([100, 3, 2, 95], ["100", "<5", "<5", "95"]),     # two hidden: they protect each other
    ([50, 0, 0, 50], ["50", "0", "0", "50"]),         # zeros disclose nobody and stay
])
def test_strata_of_a_stratification_complement_each_other(counts, expected):
    total = sum(counts[1:])
    summary = pd.DataFrame({
        "endpoint": "death", "stratify_by": ["all"] + ["sma_type"] * 3, "stratum": ["all", "1", "2", "3"],
        "n": [total] + counts[1:], "events": [total] + counts[1:], "note": "",
    })
    summary.loc[0, ["n", "events"]] = total
    shown = release({"km_summary": summary}, 5)["km_summary"]
    assert list(shown["n"].iloc[1:]) == expected[1:]


def test_a_model_n_one_short_of_its_endpoint_is_rounded():
    summary = pd.DataFrame({"endpoint": "death", "stratify_by": ["all"], "stratum": ["all"], "n": [1801],
                            "events": [300], "note": ""})
    tests = pd.DataFrame({"endpoint": ["death"], "stratify_by": ["sma_type"], "test": ["cox_score"], "strata": [3],
                          "n": [1800], "events": [300], "chisq": [1.0], "df": [2], "p": [0.6], "note": [""]})
    shown = release({"km_summary": summary, "km_tests": tests}, 5)["km_tests"]
    assert shown["n"].tolist() == ["≈1,800"] and shown["events"].tolist() == ["300"]


def test_ipcw_weights_of_few_patients_or_few_truncated_intervals_are_not_released():
    from smanh.disclosure.release import hidden_weight_terms

    def model(patients, intervals, share):
        return pd.DataFrame([
            {"endpoint": "death", "model": "data", "term": "person-intervals", "n_intervals": intervals,
             "n_patients": patients, "n_treatment_starts": 40, "estimate": np.nan, "se": np.nan,
             "note": "2 rows left out"},
            {"endpoint": "death", "model": "weights", "term": "p50", "estimate": 1.01},
            {"endpoint": "death", "model": "weights", "term": "share_truncated", "estimate": share}])

    assert hidden_weight_terms(model(3, 30, 0.0), 5) == {"death": {"p50", "share_truncated"}}
    assert hidden_weight_terms(model(300, 100, 0.02), 5) == {"death": {"share_truncated"}}  # 2 intervals
    assert hidden_weight_terms(model(300, 1000, 0.02), 5) == {}  # 20 intervals
    shown = release({"ipcw_model": model(300, 100, 0.02)}, 5)["ipcw_model"]
    assert shown["estimate"].isna().tolist() == [True, False, True]
    assert shown["note"].iloc[0] == "fewer than 5 rows left out"
