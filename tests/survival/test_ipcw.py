"""IPCW sensitivity analysis against R (tests/fixtures/ipcw/make_fixtures.R): the pooled
logistic models (glm binomial), the stabilised truncated weights, and the weighted
Kaplan–Meier curves with patient-clustered robust standard errors (survfit(..., weights,
id, robust = TRUE)), on simulated person-intervals and on a subset of the sample registry;
plus the odd cases (no treatment, no patients, analysis off)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.survival.ipcw import IpcwOptions, design, independent_columns, ipcw_weights, period_labels
from smanh.survival.ipcw_tables import ipcw_tables

IPCW = FIXTURES / "ipcw"
TOL = 1e-8
TEXT = {c: str for c in ("patient_id", "sma_type_group", "smn2_group", "sex", "site")}


def intervals(name: str) -> pd.DataFrame:
    return pd.read_csv(IPCW / f"{name}_intervals.csv", dtype=TEXT, keep_default_na=False,
                       na_values={"score_HFMSE": [""], "score_CHOP_INTEND": [""]})


@pytest.fixture(scope="module", params=["simulated", "sample"])
def case(request):
    name = request.param
    data = intervals(name)
    return name, data, ipcw_weights(data, IpcwOptions())


def test_models_match_glm(case):
    name, _, weights = case
    reference = pd.read_csv(IPCW / f"{name}_coefficients.csv")
    for label, fit in (("denominator", weights.denominator), ("numerator", weights.numerator)):
        expected = reference[reference["model"] == label]
        assert len(fit.coef) == len(expected), (name, label, fit.columns)
        np.testing.assert_allclose(fit.coef, expected["estimate"], rtol=0, atol=TOL)
        # R's vcov uses the working weights of its last iteration but one: 1e-7 relative
        np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), expected["se"], rtol=1e-6)


def test_weights_match_r(case):
    name, _, weights = case
    reference = pd.read_csv(IPCW / f"{name}_weights.csv")
    for column in ("p_numerator", "p_denominator", "raw", "weight"):
        np.testing.assert_allclose(getattr(weights, column), reference[column], rtol=0, atol=TOL,
                                   err_msg=f"{name} {column}")


def test_weighted_curves_match_survfit(case):
    name, data, _ = case
    reference = pd.read_csv(IPCW / f"{name}_curves.csv", dtype={"stratum": str})
    tables = ipcw_tables("death", data, IpcwOptions(), ["all", "sma_type"], [1.0], [2.0], min_at_risk=10)
    curves = tables["km_curves_ipcw"]
    for stratum, expected in reference.groupby("stratum"):
        ours = curves[curves["stratum"] == stratum]
        from_age = float(expected["from_age"].iloc[0])
        assert ours["from_age"].iloc[0] == pytest.approx(from_age, abs=1e-12)
        # the table stops at to_age; R's curve goes on to the last exit
        expected = expected.iloc[: len(ours)]
        np.testing.assert_allclose(ours["time_years"], expected["time"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours["survival"], expected["survival"], rtol=0, atol=TOL)
        for column in ("lo", "hi"):
            r_column = {"lo": "lower", "hi": "upper"}[column]
            interior = (expected["survival"] < 1).to_numpy() & (expected["survival"] > 0).to_numpy()
            np.testing.assert_allclose(ours[column].to_numpy(float)[interior], expected[r_column].to_numpy()[interior],
                                       rtol=0, atol=TOL, err_msg=f"{name} {stratum} {column}")


def test_robust_standard_errors_match_survfit(case):
    """R's robust std.err is the standard error of S (logse = FALSE)."""
    from smanh.survival.km import kaplan_meier

    name, data, weights = case
    reference = pd.read_csv(IPCW / f"{name}_curves.csv", dtype={"stratum": str})
    for stratum, expected in reference.groupby("stratum"):
        a0 = float(expected["from_age"].iloc[0])
        rows = (data["sma_type_group"] == stratum).to_numpy() if stratum != "all" else np.ones(len(data), bool)
        rows &= data["stop"].to_numpy() > a0
        fit = kaplan_meier(np.maximum(data["start"].to_numpy()[rows], a0), data["stop"].to_numpy()[rows],
                           data["status"].to_numpy()[rows], weights=weights.weight[rows],
                           cluster=data["patient_id"].to_numpy()[rows], robust=True, start_time=a0)
        np.testing.assert_allclose(fit.time, expected["time"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(fit.n_risk, expected["n_risk"], rtol=TOL, atol=TOL)
        np.testing.assert_allclose(fit.std_err_survival, expected["std_err"], rtol=0, atol=TOL,
                                   err_msg=f"{name} {stratum}")
        median = fit.median()
        np.testing.assert_allclose(median, expected[["median", "median_lo", "median_hi"]].iloc[0], atol=TOL)


def test_summary_landmark_median_and_rmst_match_survfit(case):
    name, data, _ = case
    reference = pd.read_csv(IPCW / f"{name}_curves.csv", dtype={"stratum": str})
    for stratum, expected in reference.groupby("stratum"):
        first = expected.iloc[0]
        landmark, tau = float(first["landmark"]), float(first["tau"])
        tables = ipcw_tables("death", data, IpcwOptions(), ["all", "sma_type"], [landmark], [tau], min_at_risk=10)
        row = tables["km_summary_ipcw"].set_index("stratum").loc[stratum]
        assert row[f"s_{landmark:g}y"] == pytest.approx(first["s_landmark"], abs=TOL)
        assert row[f"rmst_{tau:g}y"] == pytest.approx(first["rmst"], abs=TOL)
        median = row[["median_years", "median_lo", "median_hi"]].to_numpy(float)
        expected_median = first[["median", "median_lo", "median_hi"]].to_numpy(float)
        shown = ~np.isnan(median)
        np.testing.assert_allclose(median[shown], expected_median[shown], atol=TOL)
        assert not (median[0] < median[1] or median[0] > median[2])  # never outside its interval


def test_truncation_bounds_are_the_percentiles():
    data = intervals("simulated")
    weights = ipcw_weights(data, IpcwOptions(truncate=(5.0, 95.0)))
    lo, hi = np.percentile(weights.raw, [5, 95])
    assert weights.bounds == (lo, hi)
    assert weights.weight.min() == lo and weights.weight.max() == hi
    untruncated = ipcw_weights(data, IpcwOptions(truncate=(0.0, 100.0)))
    np.testing.assert_array_equal(untruncated.weight, untruncated.raw)


def test_no_treatment_starts_gives_weights_one_and_the_unweighted_curve():
    from smanh.survival.km import kaplan_meier

    data = intervals("simulated").assign(treated=0)
    tables = ipcw_tables("death", data, IpcwOptions(), ["all"], [1.0], [2.0], min_at_risk=1)
    model = tables["ipcw_model"]
    assert "no treatment starts: weights are 1" in model["note"].iloc[0]
    stats = model[model["model"] == "weights"].set_index("term")["estimate"]
    assert (stats.drop("share_truncated") == 1.0).all() and stats["share_truncated"] == 0.0
    patients = data.drop_duplicates("patient_id")
    plain = kaplan_meier(patients["entry_age"], patients["exit_age"], patients["event"])
    curve = tables["km_curves_ipcw"]
    np.testing.assert_allclose(curve["survival"], plain.survival_at(curve["time_years"]), atol=1e-12)


def test_structural_zero_levels_have_probability_zero():
    data = intervals("simulated")
    x, groups, zero = design(data, IpcwOptions())
    before = period_labels(data["calendar_year"], (2017, 2020)) == "<2017"
    assert data.loc[before, "treated"].sum() == 0  # the simulation treats nobody before 2017
    np.testing.assert_array_equal(zero, before)
    weights = ipcw_weights(data, IpcwOptions())
    assert (weights.p_denominator[before] == 0).all() and (weights.p_numerator[before] == 0).all()
    assert "period=<2017" not in x.columns


def test_collinear_and_empty_columns_are_dropped():
    x = np.column_stack([np.arange(6.0), np.zeros(6), 2 * np.arange(6.0), np.ones(6), [0, 1, 0, 1, 1, 0.0]])
    assert independent_columns(x, list("abcde")) == ["a", "e"]


@pytest.mark.parametrize("unavailable", [None, "IPCW sensitivity analysis off (analysis.ipcw.enabled: false)"])
def test_empty_and_off_give_notes(unavailable):
    empty = intervals("simulated").iloc[:0]
    tables = ipcw_tables("death", empty, IpcwOptions(), ["all", "sma_type"], [1.0], [2.0], unavailable=unavailable)
    summary = tables["km_summary_ipcw"]
    assert len(summary) == 1 and summary["note"].iloc[0]
    assert tables["km_curves_ipcw"].empty
    assert tables["ipcw_model"]["n_intervals"].iloc[0] == 0


def test_separation_falls_back_to_fewer_terms():
    data = intervals("simulated").copy()
    # a score that separates: every treated row (and only those) below 0
    data["score_CHOP_INTEND"] = np.where(data["treated"] == 1, -50.0, 50.0)
    weights = ipcw_weights(data, IpcwOptions())
    assert any("without motor terms" in note for note in weights.notes)
    assert not any("CHOP" in c for c in weights.denominator.columns)


def test_every_fitted_interval_a_start_gives_weights_one_with_a_note():
    data = intervals("simulated")
    one = data[data["treated"] == 1].drop_duplicates("patient_id").head(3)
    weights = ipcw_weights(one.reset_index(drop=True), IpcwOptions())
    assert (weights.weight == 1).all() and "no treatment model could be fitted" in weights.notes[0]
    tables = ipcw_tables("death", one, IpcwOptions(), ["all"], [1.0], [2.0])
    assert "no treatment model" in tables["ipcw_model"]["note"].iloc[0]


def test_truncation_percentiles_in_order():
    from smanh.errors import ConfigError

    with pytest.raises(ConfigError):
        IpcwOptions.from_config({"enabled": True, "interval_months": 3, "truncate_percentiles": [99, 1],
                                 "motor_scales": [], "calendar_periods": []})
