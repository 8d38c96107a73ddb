"""Estimates only where something was observed: the estimable range of a curve under
delayed entry (README, "Analysis definitions"), by hand and on a registry that enrols only
after age 5."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from smanh.cohort.dataset import analysis_dataset
from smanh.cohort.intervals import person_intervals
from smanh.config.validation import default_config
from smanh.ingest.reference import load_reference
from smanh.ingest.registry import read_registry
from smanh.report.published import comparison_table
from smanh.survival.endpoint import SurvivalOptions, analyse_endpoint
from smanh.survival.estimable import conditional_rows, estimable_range
from smanh.survival.km import kaplan_meier
from smanh.survival.km_tables import km_tables


def test_the_range_by_hand():
    # at risk: (0, 1] 2 -> after 0.5: 3; after 1: 3 (one exits at 1, one enters at 1); after 2:
    # 3; at 3: 3 -> just after 3: 2 -> to_age 3 for k = 3
    entry, exit_ = [0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5]
    r = estimable_range(entry, exit_, 3)
    assert (r.from_age, r.to_age) == (0.5, 3.0)
    assert r.holds([0.4, 0.5, 3.0, 3.1]).tolist() == [False, True, True, False]
    assert not estimable_range(entry, exit_, 6).exists
    assert estimable_range(entry, exit_, 1).from_age == 0.0  # k = 1: the first entry


def test_the_conditional_curve_is_the_curve_given_event_free_at_from_age():
    rng = np.random.default_rng(3)
    entry = rng.uniform(0, 10, 300)
    exit_ = entry + rng.exponential(8, 300)
    event = rng.random(300) < 0.6
    r = estimable_range(entry, exit_, 10)
    fit = kaplan_meier(*conditional_rows(entry, exit_, event, r.from_age)[:3])
    full = kaplan_meier(entry, exit_, event)
    # product-limit factors after from_age are the same; the conditional curve is their product
    after = full.time > r.from_age
    factors = full.survival[after] / np.concatenate([[1.0], full.survival[after][:-1]])
    factors[0] = full.survival[after][0] / full.survival_at([r.from_age])[0]
    np.testing.assert_allclose(fit.survival, np.cumprod(factors), rtol=1e-12)


def late_enrolment(age: float = 5.0):
    """The sample registry as a registry that enrols only from ``age`` years on."""
    export = read_registry(SAMPLE)
    patients = export.patients
    earliest = patients["birth_date"] + pd.to_timedelta(round(age * 365.25), unit="D")
    patients["enrolment_date"] = np.maximum(patients["enrolment_date"], earliest)
    keep = patients["last_contact_date"] > patients["enrolment_date"]
    export.patients = patients[keep].reset_index(drop=True)
    return export


@pytest.fixture(scope="module")
def late_tables():
    export = late_enrolment()
    options = SurvivalOptions.from_config(default_config()["analysis"])
    options = replace(options, parametric_distributions=("weibull",), stratify_by=("all", "sma_type"))
    return {name: analyse_endpoint(
        analysis_dataset(export, [name]), analysis_dataset(export, [name], censor_at_treatment=False), options,
        person_intervals(analysis_dataset(export, [name]), export.patients, export.assessments, [name], 0.25,
                         ["HFMSE", "CHOP_INTEND"]), name)
        for name in ("death", "permanent_ventilation")}


def test_nothing_is_reported_outside_the_estimable_range(late_tables):
    """On a registry enrolling only after age 5 no survival, RMST or cumulative incidence is
    reported before from_age (>= 5) or beyond to_age; every curve table says both."""
    for name, tables in late_tables.items():
        summary = tables["km_summary"]
        modelled = summary.dropna(subset=["from_age"])
        assert len(modelled) and (modelled["from_age"] > 4.99).all(), name  # 5 years in whole days
        assert summary[["s_1y", "s_2y"]].isna().all().all()
        assert modelled["note"].str.contains("outside the estimable range").all()
        ipcw = tables["km_summary_ipcw"]
        assert (ipcw.dropna(subset=["from_age"])["from_age"] > 4.99).all() and ipcw["from_age"].notna().any()
        assert ipcw[["s_1y", "s_1y_lo", "s_2y", "s_2y_hi", "rmst_2y"]].isna().all().all()
        assert not ((ipcw["median_years"] < ipcw["median_lo"]) | (ipcw["median_years"] > ipcw["median_hi"])).any()
        for table in ("km_curves", "km_curves_sensitivity", "cuminc", "km_curves_ipcw"):
            curve = tables[table]
            assert {"from_age", "to_age"} <= set(curve.columns), table
            assert ((curve["time_years"] > curve["from_age"]) & (curve["time_years"] <= curve["to_age"])).all()
        rmst = tables["rmst"]
        assert rmst.loc[rmst["tau"] < 4.99, "rmst"].isna().all() and (rmst["from_age"] > 4.99).all()
        assert (tables["parametric_curves"]["time_years"] > tables["parametric_curves"]["from_age"]).all()
        assert not ((summary["median_years"] < summary["median_lo"]) |
                    (summary["median_years"] > summary["median_hi"])).any()
    comparison = comparison_table(load_reference(SAMPLE.parents[0] / "reference" / "published_natural_history.csv"),
                                  late_tables["death"]["km_curves"])
    early = comparison[(comparison["measure"] == "survival") & (comparison["time_years"] < 5)]
    assert early["estimate"].isna().all()
    analysed = early[early["endpoint_or_scale"] == "death"]  # the other endpoints were not analysed here
    assert len(analysed) and analysed["note"].str.contains("estimable range").all()


def test_the_sample_reports_no_median_outside_its_interval():
    export = read_registry(SAMPLE)
    names = default_config()["analysis"]["endpoints"]
    summary, curves = km_tables(analysis_dataset(export, names), ["all", "sma_type", "smn2_copies"], [1, 2, 5, 10, 20],
                                min_stratum_size=10, min_at_risk=10)
    assert not ((summary["median_years"] < summary["median_lo"]) | (summary["median_years"] > summary["median_hi"])).any()
    assert ((curves["time_years"] > curves["from_age"]) & (curves["time_years"] <= curves["to_age"])).all()
    landmarks = summary.melt(id_vars=["from_age", "to_age"], value_vars=["s_1y", "s_2y", "s_5y", "s_10y", "s_20y"])
    age = landmarks["variable"].str.extract(r"s_(.*)y")[0].astype(float)
    outside = (age < landmarks["from_age"]) | (age > landmarks["to_age"])
    assert landmarks.loc[outside, "value"].isna().all()
