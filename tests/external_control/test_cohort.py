"""Eligibility at time zero, entry and follow-up of both arms, by hand on small exports."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from conftest import patient, write_export
from smanh.config.external_control import external_control_options
from smanh.config.validation import validate_config
from smanh.errors import ConfigError
from smanh.external_control.cohort import REGISTRY, TRIAL, external_cohort
from smanh.ingest.registry import read_registry

BIRTH = dt.date(2010, 1, 1)
DPV = "death_or_permanent_ventilation"


def day(n: int, birth: dt.date = BIRTH) -> str:
    return (birth + dt.timedelta(days=n)).isoformat()


def infant(pid, enrol, last, birth=BIRTH, **fields):
    row = {"birth_date": birth.isoformat(), "sma_type": "1b", "smn2_copies": "2", "onset_date": day(20, birth),
           "diagnosis_date": day(25, birth), "enrolment_date": day(enrol, birth), "last_contact_date": day(last, birth)}
    return patient(pid, **{**row, **fields})


def options(**section):
    eligibility = {"sma_types": ["1"], "smn2_copies": [2], "age_at_time_zero_years": [0, 0.5],
                   "onset_age_years": [0, 0.5]}
    eligibility.update(section.pop("eligibility", {}))
    config = {"registry": {"path": "x"}, "external_control": {
        "trial": {"path": "t"}, "eligibility": eligibility, "endpoints": [DPV, "death"], **section}}
    return external_control_options(validate_config(config))


def export(tmp_path, name, **tables):
    return read_registry(write_export(tmp_path / name, **tables), data_cutoff="2030-01-01")


@pytest.fixture
def registry(tmp_path):
    return export(tmp_path, "registry", patients=[
        infant("R1", 60, 365, death_date=day(365)),
        infant("R2", 212, 700),                       # enrolled after 0.5 years (182.6 days)
        infant("R3", 60, 700),                        # treated before enrolment
        infant("R4", 60, 700),                        # ventilated before enrolment
        infant("R5", 60, 60),                         # no follow-up after enrolment
        infant("R6", 60, 700, sma_type="2"),
        infant("R7", 60, 700, smn2_copies="3"),
        infant("R8", 60, 700, onset_date=""),
        infant("R9", 30, 700),                        # treated at day 100: censored there
        infant("R10", 10, 700),                       # ventilated at day 200, the event
    ], treatments=[
        {"patient_id": "R3", "treatment": "nusinersen", "start_date": day(40)},
        {"patient_id": "R9", "treatment": "nusinersen", "start_date": day(100)},
    ], events=[
        {"patient_id": "R4", "event": "permanent_ventilation", "date": day(50)},
        {"patient_id": "R10", "event": "permanent_ventilation", "date": day(200)},
    ])


@pytest.fixture
def trial(tmp_path):
    born = dt.date(2020, 1, 1)
    return export(tmp_path, "trial", patients=[
        infant("T1", 80, 900, birth=born),
        infant("T2", 80, 900, birth=born),            # never dosed
        infant("T3", 190, 900, birth=born),           # dosed at day 200
        infant("T4", 80, 900, birth=born),            # ventilated before dosing
        infant("T5", 80, 400, birth=born, death_date=day(400, born)),
    ], treatments=[
        {"patient_id": p, "treatment": "onasemnogene_abeparvovec", "start_date": day(d, born), "end_date": day(d, born)}
        for p, d in (("T1", 90), ("T3", 200), ("T4", 90), ("T5", 100))
    ] + [{"patient_id": "T1", "treatment": "nusinersen", "start_date": day(300, born)}],
        events=[{"patient_id": "T4", "event": "permanent_ventilation", "date": day(85, born)}])


def flow_counts(cohort, arm):
    rows = cohort.flow[cohort.flow["arm"] == arm]
    return {(r.step, r.reason): r.n for r in rows.itertuples()}


def test_time_zero_and_flow_of_both_arms(registry, trial):
    cohort = external_cohort(registry, trial, options())
    counts = flow_counts(cohort, REGISTRY)
    assert counts[("patients", "")] == 10 and counts[("eligible", "")] == 3
    assert counts[("excluded", "SMA type not 1")] == 1
    assert counts[("excluded", "SMN2 copies not 2")] == 1
    assert counts[("excluded", "age at onset unknown")] == 1
    assert counts[("excluded", "enrolled after age 0.5 years")] == 1
    assert counts[("excluded", "treated before an eligible age")] == 1
    assert counts[("excluded", "died or permanently ventilated before an eligible age")] == 1
    assert counts[("excluded", "no follow-up after an eligible age")] == 1
    assert sum(n for (step, _), n in counts.items() if step == "excluded") + 3 == 10
    counts = flow_counts(cohort, TRIAL)
    assert counts[("excluded", "not dosed (no treatments row)")] == 1
    assert counts[("excluded", "dosed outside ages 0 to 0.5 years")] == 1
    assert counts[("excluded", "died or permanently ventilated on or before dosing")] == 1
    assert counts[("eligible", "")] == 2
    base = cohort.baseline
    assert list(base["arm"]) == [1, 1, 0, 0, 0]  # trial first, each arm in export order
    np.testing.assert_allclose(base["age_at_entry"], np.array([90, 100, 60, 30, 10]) / 365.25)
    np.testing.assert_allclose(base["age_at_onset"], 20 / 365.25)
    assert "patient_id" not in base and all("patient_id" not in f for f in cohort.follow_up.values())


def test_follow_up_ends_at_treatment_for_registry_patients_only(registry, trial):
    follow = external_cohort(registry, trial, options()).follow_up[DPV]
    # T1 treated again at day 300: followed on to last contact; T5 died at day 400
    np.testing.assert_allclose(follow["exit"], np.array([900, 400, 365, 100, 200]) / 365.25)
    assert list(follow["event"]) == [0, 1, 1, 0, 1]
    np.testing.assert_allclose(follow["entry"], np.array([90, 100, 60, 30, 10]) / 365.25)
    death = external_cohort(registry, trial, options()).follow_up["death"]
    assert list(death["event"]) == [0, 1, 1, 0, 0]  # R10's ventilation is not a death


def test_an_event_before_time_zero_leaves_the_patient_out_of_that_endpoint_only(tmp_path, trial):
    registry = export(tmp_path, "r", patients=[infant("R1", 60, 700)],
                      events=[{"patient_id": "R1", "event": "feeding_tube", "date": day(30)}])
    o = options(endpoints=["feeding_tube", DPV])
    cohort = external_cohort(registry, trial, o)
    assert list(cohort.follow_up["feeding_tube"]["analysed"]) == [True, True, False]
    assert cohort.follow_up[DPV]["analysed"].all()


def test_the_first_day_with_a_baseline_score_in_range_is_time_zero(tmp_path, trial):
    scores = {"R1": [(10, 5), (40, 30), (100, 31)],      # first in range at day 40
              "R2": [(10, 30), (120, 25)],               # day 10 out of the window by day 50: day 120
              "R3": [(40, 30), (45, 10)],                # day 45 replaces day 40: days 40-44 only
              "R4": [(40, 30), (45, 10)],                # enrolled at day 46: no eligible day
              "R5": [(120, 30)]}                         # assessed after treatment (day 100)
    enrol = {"R1": 10, "R2": 50, "R3": 20, "R4": 46, "R5": 10}
    registry = export(tmp_path, "r", patients=[infant(p, e, 700) for p, e in enrol.items()],
                      treatments=[{"patient_id": "R5", "treatment": "nusinersen", "start_date": day(100)}],
                      assessments=[{"patient_id": p, "date": day(d), "scale": "CHOP_INTEND", "score": str(s)}
                                   for p, rows in scores.items() for d, s in rows])
    o = options(eligibility={"baseline_score": {"scale": "CHOP_INTEND", "window_months": 1, "range": [20, 40]}})
    cohort = external_cohort(registry, trial, o)
    registry_rows = cohort.baseline[cohort.baseline["arm"] == 0]
    np.testing.assert_allclose(registry_rows["age_at_entry"] * 365.25, [40, 120, 20 + 20])
    np.testing.assert_allclose(registry_rows["baseline_score"], [30, 25, 30])
    counts = flow_counts(cohort, REGISTRY)
    assert counts[("excluded", "no CHOP_INTEND 20 to 40 score at an eligible age")] == 2
    # the trial arm has no CHOP INTEND assessment: every trial patient fails the criterion
    assert flow_counts(cohort, TRIAL)[("eligible", "")] == 0


def test_motor_outcome_nearest_the_target_ties_to_the_earlier(tmp_path, trial):
    target = 60 + round(12 / 12 * 365.25)  # 425.25 days after birth: 12 months after day 60
    registry = export(tmp_path, "r", patients=[infant("R1", 60, 900), infant("R2", 60, 900)],
                      assessments=[{"patient_id": p, "date": day(d), "scale": "CHOP_INTEND", "score": str(s)}
                                   for p, d, s in (("R1", 55, 20), ("R1", target - 5, 11), ("R1", target + 5, 12),
                                                   ("R2", 25, 20), ("R2", target + 200, 30))])
    o = options(motor={"scale": "CHOP_INTEND", "months_after_time_zero": 12, "window_months": 3})
    motor = external_cohort(registry, trial, o).motor
    registry_rows = motor.iloc[2:]
    # 425 - 5 = 420 is 5.25 days before the target, 430 is 4.75 after: the later one is nearer
    assert list(registry_rows["outcome"].fillna(-1)) == [12, -1]
    assert list(registry_rows["baseline"].fillna(-1)) == [20, -1]  # R2's day 25 is 35 days before
    assert list(registry_rows["change"].fillna(-1)) == [-8, -1]


def test_exact_ties_of_distance_take_the_earlier_assessment(tmp_path, trial):
    registry = export(tmp_path, "r", patients=[infant("R1", 60, 900)],
                      assessments=[{"patient_id": "R1", "date": day(d), "scale": "CHOP_INTEND", "score": str(s)}
                                   for d, s in ((60 + 365 - 10, 11), (60 + 365 + 10, 12))])
    o = options(motor={"scale": "CHOP_INTEND", "months_after_time_zero": 12 * 365 / 365.25, "window_months": 3})
    assert external_cohort(registry, trial, o).motor["outcome"].iloc[-1] == 11


def test_config_windows_and_endpoints_are_checked():
    with pytest.raises(ConfigError, match="external_control.eligibility.age_at_time_zero_years'"):
        options(eligibility={"age_at_time_zero_years": [1, 0.5]})
    with pytest.raises(ConfigError, match="time origin onset"):
        external_control_options(validate_config({
            "registry": {"path": "x"},
            "analysis": {"endpoints": [{"name": "since_onset", "events": ["death"], "time_origin": "onset"}]},
            "external_control": {"trial": {"path": "t"}, "endpoints": ["since_onset"]}}))
    with pytest.raises(ConfigError, match="restricted to patients with sits_independently"):
        options(endpoints=["loss_of_independent_sitting"])
    with pytest.raises(ConfigError, match="unknown endpoint 'nonsense'"):
        options(endpoints=["nonsense"])


def test_no_eligible_registry_patient_gives_an_empty_arm(tmp_path, trial):
    registry = export(tmp_path, "r", patients=[infant("R1", 300, 700)])
    cohort = external_cohort(registry, trial, options())
    assert (cohort.arm == 0).sum() == 0
    assert flow_counts(cohort, REGISTRY)[("eligible", "")] == 0
    assert isinstance(cohort.follow_up[DPV], pd.DataFrame)
