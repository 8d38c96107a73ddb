"""RMST against R survival 3.5-3 ``summary(survfit(...), rmean = 5)$table`` (rmean,
se(rmean)), from R's own KM risk tables and from individual (entry, exit] data."""


import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.rmst import rmst, rmst_by_group, rmst_difference, rmst_from_km

FIXTURES = FIXTURES / "survival"
STRATA = {"small": "group", "sim": "smn2_copies"}
ABS = 1e-6


def reference(name):
    return pd.read_csv(FIXTURES / name / "rmst.csv", dtype={"stratum": str})


@pytest.mark.parametrize("name", list(STRATA))
def test_from_r_km_tables(name):
    km = pd.read_csv(FIXTURES / name / "km.csv", dtype={"stratum": str})
    ref = reference(name).set_index("stratum")
    for stratum, table in km.groupby("stratum"):
        r = rmst_from_km(table.time, table.n_risk, table.n_event, tau=5.0)
        assert r.rmst == pytest.approx(ref.loc[stratum, "rmean"], abs=ABS)
        assert r.se == pytest.approx(ref.loc[stratum, "se"], abs=ABS)


@pytest.mark.parametrize("name", list(STRATA))
def test_from_individual_data(name):
    data = pd.read_csv(FIXTURES / f"{name}.csv", dtype={"smn2_copies": str})
    ref = reference(name)
    overall = rmst(data.entry, data.exit, data.event, tau=5.0)
    assert (overall.rmst, overall.se) == pytest.approx((ref.rmean[0], ref.se[0]), abs=ABS)
    by = rmst_by_group(data.entry, data.exit, data.event, data[STRATA[name]], tau=5.0)
    np.testing.assert_allclose(by.rmst, ref.rmean[1:], atol=ABS)
    np.testing.assert_allclose(by.se, ref.se[1:], atol=ABS)


def test_hand_example_and_difference():
    # S = 3/4 on [1,2), 1/2 on [2,3), 1/4 on [3,4): area 1 + .75 + .5 + .25
    a = rmst_from_km([1, 2, 3], [4, 3, 2], [1, 1, 1], tau=4)
    assert a.rmst == pytest.approx(2.5)
    # Greenwood-type: areas after t_i (1.5, .75, .25) squared times d/(n(n-d))
    assert a.se**2 == pytest.approx(1.5**2 / 12 + 0.75**2 / 6 + 0.25**2 / 2)
    b = rmst_from_km([2.0], [10], [5], tau=4)
    d = rmst_difference(a, b)
    assert d.difference == pytest.approx(a.rmst - b.rmst)
    assert d.se == pytest.approx(np.hypot(a.se, b.se))
    assert d.lower < d.difference < d.upper


def test_censoring_only_times_change_nothing():
    a = rmst_from_km([1, 2, 3], [4, 3, 2], [1, 1, 1], tau=4)
    b = rmst_from_km([1, 1.5, 2, 3], [4, 3, 3, 2], [1, 0, 1, 1], tau=4)
    assert (a.rmst, a.se) == pytest.approx((b.rmst, b.se))


def test_beyond_followup_flag_and_errors():
    assert rmst_from_km([1.0], [3], [1], tau=5).beyond_followup
    with pytest.raises(ModelError, match="increasing"):
        rmst_from_km([2, 1], [3, 2], [1, 1], tau=5)
    with pytest.raises(ModelError, match="tau"):
        rmst_from_km([1], [3], [1], tau=0)
