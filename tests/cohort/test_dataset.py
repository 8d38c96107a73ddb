"""The analysis dataset follows the README's "Analysis definitions", checked case by case by hand."""

import pandas as pd
import pytest

from conftest import patient
from smanh.cohort.dataset import (
    EVENT_BEFORE_ENTRY,
    NO_FOLLOW_UP,
    NOT_IN_POPULATION,
    TREATED_BEFORE_ENTRY,
    analysis_dataset,
)
from smanh.cohort.flow import cohort_flow
from smanh.errors import ConfigError
from smanh.ingest.registry import read_registry


def age(date, birth="2010-01-01"):
    return (pd.Timestamp(date) - pd.Timestamp(birth)).days / 365.25


@pytest.fixture
def export(export_folder):
    folder = export_folder(
        patients=[
            patient("censored"),
            patient("died", death_date="2015-06-01", last_contact_date="2015-06-01"),
            patient("ventilated", death_date="2016-03-01", last_contact_date="2016-03-01"),
            patient("treated", death_date="2019-05-05", last_contact_date="2019-05-05"),
            patient("treated_early"),
            patient("ventilated_early"),
            patient("same_day"),
            patient("no_follow_up", last_contact_date="2012-01-01"),
            patient("walker", sma_type="3a", smn2_copies="4"),
        ],
        events=[
            {"patient_id": "ventilated", "event": "permanent_ventilation", "date": "2014-01-01"},
            {"patient_id": "ventilated", "event": "permanent_ventilation", "date": "2015-01-01"},
            {"patient_id": "ventilated_early", "event": "permanent_ventilation", "date": "2011-12-01"},
            {"patient_id": "same_day", "event": "permanent_ventilation", "date": "2018-01-01"},
            {"patient_id": "walker", "event": "walks_independently", "date": "2011-06-01"},
            {"patient_id": "walker", "event": "loss_of_independent_walking", "date": "2017-06-01"},
        ],
        treatments=[
            {"patient_id": "treated", "treatment": "nusinersen", "start_date": "2018-01-01", "end_date": ""},
            {"patient_id": "treated", "treatment": "risdiplam", "start_date": "2018-09-01", "end_date": ""},
            {"patient_id": "treated_early", "treatment": "nusinersen", "start_date": "2011-06-01", "end_date": ""},
            {"patient_id": "same_day", "treatment": "risdiplam", "start_date": "2018-01-01", "end_date": ""},
        ],
    )
    return read_registry(folder)


def rows(dataset, endpoint="death_or_permanent_ventilation"):
    return dataset[dataset["endpoint"] == endpoint].set_index("patient_id")


def test_entry_exit_event_per_definition(export):
    data = rows(analysis_dataset(export, ["death_or_permanent_ventilation"]))
    entry = age("2012-01-01")
    assert (data.loc[data["excluded_reason"] == "", "entry_age"] == entry).all()
    expected = {
        "censored": (age("2020-01-01"), 0, "last_contact"),
        "died": (age("2015-06-01"), 1, "event"),
        "ventilated": (age("2014-01-01"), 1, "event"),  # the first ventilation, before death
        "treated": (age("2018-01-01"), 0, "treatment"),  # natural history: censored at first treatment
        "same_day": (age("2018-01-01"), 1, "event"),  # event on the censoring day counts
        "walker": (age("2020-01-01"), 0, "last_contact"),
    }
    for pid, (exit_age, event, reason) in expected.items():
        assert data.loc[pid, "exit_age"] == pytest.approx(exit_age, abs=1e-12), pid
        assert data.loc[pid, "event"] == event, pid
        assert data.loc[pid, "exit_reason"] == reason, pid
        assert data.loc[pid, "excluded_reason"] == "", pid


def test_patients_without_at_risk_time_are_excluded_with_their_reason(export):
    data = rows(analysis_dataset(export, ["death_or_permanent_ventilation"]))
    assert data.loc["treated_early", "excluded_reason"] == TREATED_BEFORE_ENTRY
    assert data.loc["ventilated_early", "excluded_reason"] == EVENT_BEFORE_ENTRY
    assert data.loc["no_follow_up", "excluded_reason"] == NO_FOLLOW_UP


def test_without_treatment_censoring_follow_up_continues(export):
    data = rows(analysis_dataset(export, ["death_or_permanent_ventilation"], censor_at_treatment=False))
    assert data.loc["treated", "exit_age"] == pytest.approx(age("2019-05-05"))
    assert data.loc["treated", "event"] == 1
    assert data.loc["treated_early", "excluded_reason"] == ""


def test_population_restricted_endpoint(export):
    data = rows(analysis_dataset(export, ["loss_of_independent_walking"]), "loss_of_independent_walking")
    assert data.loc["walker", "event"] == 1
    assert data.loc["walker", "exit_age"] == pytest.approx(age("2017-06-01"))
    assert (data.drop(index="walker")["excluded_reason"] == NOT_IN_POPULATION).all()


def test_strata_labels(export):
    data = rows(analysis_dataset(export, ["death"]), "death")
    assert data.loc["walker", "sma_type_group"] == "3"
    assert data.loc["walker", "smn2_group"] == "4+"
    assert data.loc["died", "smn2_group"] == "3"


def test_cohort_flow_accounts_for_every_patient(export):
    names = ["death_or_permanent_ventilation", "loss_of_independent_walking"]
    flow = cohort_flow(len(export.patients), analysis_dataset(export, names))
    assert flow.iloc[0].tolist() == ["all", "export", "patients in export", 9]
    for name in names:
        per_endpoint = flow[flow["endpoint"] == name]
        assert per_endpoint["n"].sum() == 9
    dpv = flow[flow["endpoint"] == names[0]].set_index("reason")["n"]
    assert dpv["at risk after entry"] == 6


def test_unknown_endpoint_names_the_key(export):
    with pytest.raises(ConfigError, match="analysis.endpoints: unknown endpoint 'survival'"):
        analysis_dataset(export, ["survival"])


def test_milestone_endpoints_enter_when_the_milestone_is_gained(export_folder):
    """No immortal time: at risk of losing walking only from the age one walked (if later
    than enrolment); in natural-history mode only those who walked before any treatment."""
    from smanh.cohort.dataset import MILESTONE_AFTER_TREATMENT

    folder = export_folder(
        patients=[patient("walked_before"), patient("walked_later"), patient("walked_after_treatment"),
                  patient("never_walked")],
        events=[
            {"patient_id": "walked_before", "event": "walks_independently", "date": "2011-06-01"},
            {"patient_id": "walked_later", "event": "walks_independently", "date": "2013-03-01"},
            {"patient_id": "walked_later", "event": "loss_of_independent_walking", "date": "2016-01-01"},
            {"patient_id": "walked_after_treatment", "event": "walks_independently", "date": "2015-01-01"},
        ],
        treatments=[{"patient_id": "walked_after_treatment", "treatment": "nusinersen",
                     "start_date": "2014-01-01", "end_date": ""}],
    )
    export = read_registry(folder)
    data = rows(analysis_dataset(export, ["loss_of_independent_walking"]), "loss_of_independent_walking")
    assert data.loc["walked_before", "entry_age"] == age("2012-01-01")  # enrolment, the later
    assert data.loc["walked_later", "entry_age"] == age("2013-03-01")  # the milestone, the later
    assert (data.loc["walked_later", "exit_age"], data.loc["walked_later", "event"]) == (age("2016-01-01"), 1)
    assert data.loc["walked_after_treatment", "excluded_reason"] == MILESTONE_AFTER_TREATMENT
    assert data.loc["never_walked", "excluded_reason"] == NOT_IN_POPULATION
    # followed through treatment, whoever walked is in the population
    all_follow_up = rows(analysis_dataset(export, ["loss_of_independent_walking"], censor_at_treatment=False),
                         "loss_of_independent_walking")
    assert all_follow_up.loc["walked_after_treatment", "entry_age"] == age("2015-01-01")
    flow = cohort_flow(4, analysis_dataset(export, ["loss_of_independent_walking"]))
    counts = dict(zip(flow["reason"], flow["n"]))
    assert counts[MILESTONE_AFTER_TREATMENT] == 1 and counts[NOT_IN_POPULATION] == 1


def test_non_fatal_endpoints_have_death_competing_by_default(export):
    data = rows(analysis_dataset(export, ["feeding_tube"]), "feeding_tube")
    # died 2015-06-01 with last contact that day: a competing event, not censoring
    assert (data.loc["died", "event_type"], data.loc["died", "exit_reason"]) == (2, "competing_event")
    overridden = rows(analysis_dataset(export, [{"name": "feeding_tube", "competing": []}]), "feeding_tube")
    assert overridden.loc["died", "event_type"] == 0


def test_the_vital_status_date_follows_deaths_past_last_contact(export_folder):
    folder = export_folder(patients=[
        patient("died_after_contact", last_contact_date="2016-01-01", death_date="2018-02-01"),
        patient("alive", last_contact_date="2016-01-01"),
        patient("died_after_vital_status", last_contact_date="2016-01-01", death_date="2021-05-01"),
    ])
    export = read_registry(folder)
    today = rows(analysis_dataset(export, ["death"]), "death")
    assert today.loc["died_after_contact", "exit_age"] == age("2016-01-01")  # censored at last contact
    assert today.loc["died_after_contact", "event"] == 0
    linked = rows(analysis_dataset(export, ["death", "death_or_permanent_ventilation"], vital_status_date="2020-12-31"),
                  "death")
    assert (linked.loc["died_after_contact", "exit_age"], linked.loc["died_after_contact", "event"]) == (
        age("2018-02-01"), 1)
    assert (linked.loc["alive", "exit_age"], linked.loc["alive", "event"]) == (age("2020-12-31"), 0)
    assert linked.loc["died_after_vital_status", "exit_age"] == age("2020-12-31")
    # a composite with a non-death event stays at last contact: ventilation is not ascertained after it
    composite = rows(analysis_dataset(export, ["death_or_permanent_ventilation"], vital_status_date="2020-12-31"))
    assert composite.loc["died_after_contact", "exit_age"] == age("2016-01-01")
