"""Person-intervals of the natural-history follow-up (smanh.cohort.intervals), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smanh.cohort.intervals import person_intervals, split_points
from smanh.config.units import DAYS_PER_YEAR


def _dataset(rows):
    base = {"endpoint": "death", "sma_type_group": "2", "smn2_group": "3", "sex": "F", "site": "A",
            "birth_year": 2010, "event_type": 0, "excluded_reason": ""}
    return pd.DataFrame([{**base, **r} for r in rows])


PATIENTS = pd.DataFrame({
    "patient_id": ["A", "B", "C"],
    "birth_date": pd.to_datetime(["2010-01-01", "2010-07-02", "2011-01-01"]),
    "onset_date": pd.to_datetime(["2010-07-01", "2011-01-01", pd.NaT]),
    "diagnosis_date": pd.to_datetime([pd.NaT, pd.NaT, pd.NaT]),
})


def test_split_points():
    assert split_points(0.1, 0.6, 0.25).tolist() == [0.1, 0.25, 0.5, 0.6]
    assert split_points(0.25, 0.5, 0.25).tolist() == [0.25, 0.5]  # on the grid: one row
    assert split_points(0.3, 0.4, 0.25).tolist() == [0.3, 0.4]


def test_rows_status_treated_and_covariates():
    dataset = _dataset([
        {"patient_id": "A", "entry_age": 0.1, "exit_age": 0.6, "event": 1, "exit_reason": "event"},
        {"patient_id": "B", "entry_age": 0.25, "exit_age": 0.8, "event": 0, "exit_reason": "treatment"},
        {"patient_id": "C", "entry_age": 0.3, "exit_age": 0.4, "event": 0, "exit_reason": "last_contact"},
        {"patient_id": "C", "entry_age": 0.3, "exit_age": 0.3, "event": 0, "exit_reason": "last_contact",
         "endpoint": "other", "excluded_reason": "no follow-up after entry"},
    ])
    day = lambda pid, years: PATIENTS.set_index("patient_id").loc[pid, "birth_date"] + pd.Timedelta(  # noqa: E731
        days=int(np.floor(years * DAYS_PER_YEAR)))
    assessments = pd.DataFrame({
        "patient_id": ["A", "A", "A", "B"],
        "date": [day("A", 0.1), day("A", 0.3), day("A", 0.55), day("B", 0.6)],
        "scale": ["HFMSE", "HFMSE", "CHOP_INTEND", "HFMSE"],
        "score": [10.0, 12.0, 30.0, 20.0],
    })
    out = person_intervals(dataset, PATIENTS, assessments, ["death"], 0.25, ["HFMSE", "CHOP_INTEND"])
    a, b, c = (out[out["patient_id"] == p] for p in "ABC")
    assert a[["start", "stop"]].to_numpy().tolist() == [[0.1, 0.25], [0.25, 0.5], [0.5, 0.6]]
    assert a["status"].tolist() == [0, 0, 1] and a["treated"].tolist() == [0, 0, 0]
    assert b[["start", "stop"]].to_numpy().tolist() == [[0.25, 0.5], [0.5, 0.75], [0.75, 0.8]]
    assert b["treated"].tolist() == [0, 0, 1] and b["status"].tolist() == [0, 0, 0]
    assert c[["start", "stop"]].to_numpy().tolist() == [[0.3, 0.4]]
    assert set(out["endpoint"]) == {"death"}  # excluded rows give none
    # the score at or before each row's start (assessed on the entry day counts)
    np.testing.assert_array_equal(a["score_HFMSE"], [10.0, 10.0, 12.0])  # 12 assessed at 0.3
    np.testing.assert_array_equal(a["score_CHOP_INTEND"], [np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(b["score_HFMSE"], [np.nan, np.nan, 20.0])
    assert a["age"].tolist() == pytest.approx([0.1, 0.25, 0.5])
    # calendar year: birth (1 January 2010) plus age
    assert a["calendar_year"].tolist() == pytest.approx([2010.1, 2010.25, 2010.5])
    assert (a["entry_age"] == 0.1).all() and (a["event"] == 1).all()


def test_time_origin_onset_shifts_age_and_scores():
    onset = {"name": "onset_death", "events": ["death"], "time_origin": "onset"}
    dataset = _dataset([{"patient_id": "A", "endpoint": "onset_death", "entry_age": 0.0, "exit_age": 0.5,
                         "event": 0, "exit_reason": "last_contact"}])
    assessments = pd.DataFrame({"patient_id": ["A"], "date": pd.to_datetime(["2010-09-25"]),
                                "scale": ["HFMSE"], "score": [7.0]})
    out = person_intervals(dataset, PATIENTS, assessments, [onset], 0.25, ["HFMSE"])
    onset_age = (pd.Timestamp("2010-07-01") - pd.Timestamp("2010-01-01")).days / DAYS_PER_YEAR
    assert out["age"].tolist() == pytest.approx([onset_age, onset_age + 0.25])
    # assessed 86 days after onset: before the second row's start (0.25 years = 91.3 days)
    np.testing.assert_array_equal(out["score_HFMSE"], [np.nan, 7.0])


def test_no_rows_keeps_the_columns():
    dataset = _dataset([{"patient_id": "A", "entry_age": 0.1, "exit_age": 0.1, "event": 0,
                         "exit_reason": "last_contact", "excluded_reason": "no follow-up after entry"}])
    out = person_intervals(dataset, PATIENTS, pd.DataFrame(), ["death"], 0.25, ["HFMSE"])
    assert out.empty and "score_HFMSE" in out.columns and "treated" in out.columns
