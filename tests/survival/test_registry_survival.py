"""The per-endpoint survival tables against R survival 3.5 on two registries.

The sample registry and a second simulated registry (other seed and parameters): the
analysis datasets of ``death`` and ``permanent_ventilation`` (natural-history mode) are in
tests/fixtures/registry_survival/ (make_inputs.py), the R numbers beside them
(make_reference.R). Compared: Kaplan–Meier medians with log-log CIs and landmarks,
Cox score tests across strata, the default Cox models (coefficients, SEs, cox.zph), RMST
with its Greenwood-type SE, and Aalen–Johansen cumulative incidence with its SE.
Tolerances: 1e-6 absolute on the survival/probability and age scale, 1e-4 relative on
coefficients and test statistics.
"""


import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.config.validation import default_config
from smanh.survival.km_tables import km_tables, stratum_tests
from smanh.survival.model_tables import cox_table, cuminc_table, rmst_table

FIXTURES = FIXTURES / "registry_survival"
REGISTRIES = ["sample", "second"]
BY = ["all", "sma_type", "smn2_copies"]
MIN_SIZE = 10
ABS, REL = 1e-6, 1e-4


def dataset(registry: str, endpoint: str) -> pd.DataFrame:
    raw = pd.read_csv(FIXTURES / f"{registry}_{endpoint}.csv", dtype={"sma_type": str, "smn2_copies": str, "sex": str},
                      keep_default_na=False)
    return pd.DataFrame({
        "endpoint": endpoint, "sma_type_group": raw["sma_type"], "smn2_group": raw["smn2_copies"],
        "sex": raw["sex"], "site": "X", "birth_year": 2000, "entry_age": raw["entry"], "exit_age": raw["exit"],
        "event": (raw["event_type"] == 1).astype(int), "event_type": raw["event_type"], "excluded_reason": "",
    })


def reference(registry: str, kind: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{registry}_{kind}.csv", dtype={"stratum": str}, keep_default_na=False,
                       na_values=[""])


@pytest.fixture(scope="module", params=REGISTRIES)
def registry(request):
    return request.param


def test_km_medians_cis_and_landmarks_match_r(registry):
    summary, _ = km_tables(dataset(registry, "death"), BY, [1, 2, 5, 10, 20], min_stratum_size=MIN_SIZE)
    ref = reference(registry, "km")
    ours = summary.merge(ref, on=["stratify_by", "stratum"], suffixes=("", "_r"))
    assert len(ours) == len(ref) >= 8
    assert (ours["n"] == ours["n_r"]).all() and (ours["events"] == ours["events_r"]).all()
    for ours_col, ref_col in [("median_years", "median"), ("median_lo", "median_lo"), ("median_hi", "median_hi"),
                              ("s_1y", "s_1y_r"), ("s_2y", "s_2y_r"), ("s_5y", "s_5y_r"), ("s_10y", "s_10y_r"),
                              ("s_20y", "s_20y_r")]:
        np.testing.assert_allclose(ours[ours_col], ours[ref_col], rtol=0, atol=ABS, equal_nan=True, err_msg=ours_col)
    # strata below the size are reported (n, events) without estimates
    small = summary[summary["n"] < MIN_SIZE]
    assert small["median_years"].isna().all()


def test_test_across_strata_matches_the_cox_score_test_of_r(registry):
    tests = stratum_tests(dataset(registry, "death"), BY, min_stratum_size=MIN_SIZE)
    ref = reference(registry, "tests")
    ours = tests.merge(ref, on="stratify_by", suffixes=("", "_r"))
    assert len(ours) == 2
    assert (ours["strata"] == ours["strata_r"]).all() and (ours["df"] == ours["df_r"]).all()
    np.testing.assert_allclose(ours["chisq"], ours["chisq_r"], rtol=REL)


def test_cox_models_match_r(registry):
    table = cox_table(dataset(registry, "death"), default_config()["analysis"]["cox_models"], min_stratum_size=MIN_SIZE)
    ref = reference(registry, "cox")
    ours = table.merge(ref, on=["model", "term"], suffixes=("", "_r"))
    assert len(ours) == len(ref) >= 6, table[["model", "term", "note"]]
    assert (ours["n"] == ours["n_r"]).all() and (ours["events"] == ours["events_r"]).all()
    for column in ["coef", "se", "p", "ph_chisq", "ph_p", "ph_global_p"]:
        np.testing.assert_allclose(ours[column].astype(float), ours[f"{column}_r"], rtol=REL, err_msg=column)


def test_rmst_matches_r(registry):
    table = rmst_table(dataset(registry, "death"), BY, [2, 5, 10], min_stratum_size=MIN_SIZE)
    ref = reference(registry, "rmst").dropna()
    ours = table.merge(ref, on=["stratify_by", "stratum", "tau"], suffixes=("", "_r"))
    assert len(ours) == len(ref) >= 20
    np.testing.assert_allclose(ours["rmst"], ours["rmst_r"], rtol=0, atol=ABS)
    np.testing.assert_allclose(ours["se"], ours["se_r"], rtol=0, atol=ABS)
    # differences are of independent strata: SE = sqrt(se1^2 + se0^2)
    diffs = table.dropna(subset=["difference"])
    assert len(diffs) > 0


def test_aalen_johansen_matches_r(registry):
    curves = cuminc_table(dataset(registry, "permanent_ventilation"), BY, min_stratum_size=MIN_SIZE)
    ref = reference(registry, "aj")
    checked = 0
    for (by, stratum), rows in ref.groupby(["stratify_by", "stratum"]):
        for state, suffix in [("event", "event"), ("competing_event", "competing")]:
            curve = curves[(curves.stratify_by == by) & (curves.stratum == stratum) & (curves.state == state)]
            idx = np.searchsorted(curve["time_years"].to_numpy(), rows["time"].to_numpy(), side="right") - 1
            cif = np.where(idx >= 0, curve["cif"].to_numpy()[np.maximum(idx, 0)], 0.0)
            se = np.where(idx >= 0, curve["se"].to_numpy()[np.maximum(idx, 0)], 0.0)
            np.testing.assert_allclose(cif, rows[f"cif_{suffix}"], rtol=0, atol=ABS, err_msg=f"{by} {stratum}")
            np.testing.assert_allclose(se, rows[f"se_{suffix}"], rtol=0, atol=ABS, err_msg=f"{by} {stratum}")
            checked += len(rows)
    assert checked > 500
