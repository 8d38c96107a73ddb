"""Endpoints from config (time origin, competing events), the per-endpoint survival job
(all tables, deterministic to the byte) and its clear messages instead of errors."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, patient
from smanh.cohort.dataset import ANALYSED_COLUMNS, NO_ONSET_DATE, analysis_dataset
from smanh.cohort.flow import cohort_flow
from smanh.config.endpoints import endpoint
from smanh.config.tables import SURVIVAL_TABLES
from smanh.config.validation import default_config
from smanh.errors import ConfigError
from smanh.ingest.registry import read_registry
from smanh.jobs.files import write_csv
from smanh.survival.endpoint import SurvivalOptions, analyse_endpoint
from smanh.survival.model_tables import cox_table


def test_onset_origin_competing_death_and_blank_origin(export_folder):
    folder = export_folder(
        patients=[
            # onset 2010-07-01, enrolled 2012-01-01, dies 2015-01-01 without ventilation
            patient("P1", birth_date="2010-01-01", onset_date="2010-07-01", diagnosis_date="2011-01-01",
                    death_date="2015-01-01", last_contact_date="2015-01-01"),
            patient("P2", onset_date="", diagnosis_date=""),  # no onset date: excluded from the onset endpoint
            patient("P3"),  # ventilated 2014-01-01
        ],
        events=[{"patient_id": "P3", "event": "permanent_ventilation", "date": "2014-01-01"}],
    )
    export = read_registry(folder)
    specs = ["permanent_ventilation", {"name": "death_since_onset", "events": ["death"], "time_origin": "onset"}]
    data = analysis_dataset(export, specs).set_index(["endpoint", "patient_id"])
    p1 = data.loc[("permanent_ventilation", "P1")]
    assert (p1["event"], p1["event_type"], p1["exit_reason"]) == (0, 2, "competing_event")
    assert data.loc[("permanent_ventilation", "P3"), "event_type"] == 1
    onset = data.loc[("death_since_onset", "P1")]
    assert onset["entry_age"] == pytest.approx((pd.Timestamp("2012-01-01") - pd.Timestamp("2010-07-01")).days / 365.25)
    assert onset["exit_age"] == pytest.approx((pd.Timestamp("2015-01-01") - pd.Timestamp("2010-07-01")).days / 365.25)
    assert data.loc[("death_since_onset", "P2"), "excluded_reason"] == NO_ONSET_DATE
    flow = cohort_flow(3, data.reset_index())
    per_endpoint = flow[flow["endpoint"] == "death_since_onset"]
    assert per_endpoint.loc[per_endpoint["step"] != "validated", "n"].sum() == 3  # analysed + excluded


def test_endpoint_mapping_overrides_a_built_in_and_needs_events_otherwise():
    spec = endpoint({"name": "death", "time_origin": "diagnosis"})
    assert spec.events == ("death",) and spec.time_origin == "diagnosis"
    with pytest.raises(ConfigError, match="needs 'events'"):
        endpoint({"name": "something_new"})


@pytest.fixture(scope="module")
def sample_rows():
    export = read_registry(SAMPLE)
    names = ["permanent_ventilation"]
    return (rows_of(analysis_dataset(export, names), names[0]),
            rows_of(analysis_dataset(export, names, censor_at_treatment=False), names[0]))


def rows_of(dataset, endpoint_name):
    return dataset[dataset["endpoint"] == endpoint_name].reset_index(drop=True)


DEFAULTS = SurvivalOptions.from_config(default_config()["analysis"])
FAST = replace(DEFAULTS, parametric_distributions=("weibull", "lognormal"), parametric_stratify_by=("all",),
               extrapolate_to=30)


def test_the_analysed_columns_are_all_the_tables_need(sample_rows):
    """The survival jobs read only ANALYSED_COLUMNS: every table is the same without the rest,
    with every Cox covariate in use."""
    dataset, sensitivity = sample_rows
    options = replace(
        DEFAULTS, parametric_distributions=("weibull",), parametric_stratify_by=("all",), extrapolate_to=30,
        cox_models=({"name": "every_covariate", "formula": "sma_type + smn2_copies + sex + site + birth_year"},),
    )
    full = analyse_endpoint(dataset, sensitivity, options)
    narrow = analyse_endpoint(dataset[ANALYSED_COLUMNS], sensitivity[ANALYSED_COLUMNS], options)
    for name in SURVIVAL_TABLES:
        pd.testing.assert_frame_equal(narrow[name], full[name], check_exact=True)
    assert "patient_id" not in ANALYSED_COLUMNS and len(full["cox"])


def test_every_table_and_byte_identical_twice(sample_rows, tmp_path):
    dataset, sensitivity = sample_rows
    written = {}
    for run in ("first", "second"):
        tables = analyse_endpoint(dataset, sensitivity, FAST)
        assert list(tables) == list(SURVIVAL_TABLES)
        for name, table in tables.items():
            write_csv(table, tmp_path / run / f"{name}.csv")
        written[run] = {name: (tmp_path / run / f"{name}.csv").read_bytes() for name in tables}
    assert written["first"] == written["second"]
    tables = analyse_endpoint(dataset, sensitivity, FAST)
    assert set(tables["cuminc"]["state"]) == {"event", "competing_event"}
    assert (tables["km_summary_sensitivity"]["analysis"] == "all_follow_up").all()
    overall = tables["km_summary"].query("stratify_by == 'all'").iloc[0]
    overall_sensitivity = tables["km_summary_sensitivity"].query("stratify_by == 'all'").iloc[0]
    assert overall_sensitivity["n"] >= overall["n"]  # treated before enrolment are no longer excluded
    assert set(tables["parametric"]["dist"]) == {"weibull", "lognormal"}
    assert tables["parametric"]["delta_aic"].min() == 0
    assert (tables["km_at_risk"]["at_risk"] >= 0).all()
    assert np.isfinite(tables["km_tests"]["chisq"]).all()


def test_cox_gives_messages_not_errors(sample_rows):
    dataset, _ = sample_rows
    models = [
        {"name": "constant", "formula": "sma_type", "subset": {"sma_type": ["2"]}},
        {"name": "empty", "formula": "sex", "subset": {"sma_type": ["9"]}},
        {"name": "ok", "formula": "sex"},
    ]
    table = cox_table(dataset, models, min_stratum_size=10).set_index("model")
    assert "single level" in table.loc["constant", "note"]
    assert "no patients left" in table.loc["empty", "note"]
    assert table.loc["ok", "hr"] > 0 and isinstance(table.loc["ok", "ph_violated"], (bool, np.bool_))
