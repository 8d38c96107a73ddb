"""Kaplan–Meier with delayed entry against hand computations and R survival."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.km import kaplan_meier, number_at_risk

FIXTURES = FIXTURES / "km"
Z = norm.ppf(0.975)

# Six subjects, three of them entering late (left truncation).
ENTRY = [0.0, 1.0, 0.0, 2.5, 3.5, 0.0]
EXIT = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
EVENT = [1, 0, 1, 1, 0, 1]


def loglog(s, var):
    """The log-log band written out: lower = S ** exp(-z·se/log S), upper = S ** exp(z·se/log S)."""
    se = np.sqrt(var)
    return s ** np.exp(-Z * se / np.log(s)), s ** np.exp(Z * se / np.log(s))


def test_hand_computed_left_truncated_curve():
    fit = kaplan_meier(ENTRY, EXIT, EVENT)
    # At risk (entry < t <= exit): t=2: A,B,C,F; t=3: B,C,D,F; t=4: C,D,E,F; t=5: D,E,F;
    # t=6: E,F; t=7: F.
    assert fit.time.tolist() == [2, 3, 4, 5, 6, 7]
    assert fit.n_risk.tolist() == [4, 4, 4, 3, 2, 1]
    assert fit.n_event.tolist() == [1, 0, 1, 1, 0, 1]
    expected = [3 / 4, 3 / 4, 9 / 16, 3 / 8, 3 / 8, 0.0]
    np.testing.assert_allclose(fit.survival, expected, rtol=0, atol=1e-15)
    # Greenwood: sum d / (n (n - d)).
    var = np.array([1 / 12, 1 / 12, 1 / 6, 1 / 3, 1 / 3])
    np.testing.assert_allclose(fit.std_err[:5], np.sqrt(var), atol=1e-15)
    lower, upper = loglog(np.array(expected[:5]), var)
    np.testing.assert_allclose(fit.lower[:5], lower, atol=1e-12)
    np.testing.assert_allclose(fit.upper[:5], upper, atol=1e-12)
    # S = 0 at the last event: band undefined (as R), never inf in tables.
    assert np.isnan(fit.lower[5]) and np.isnan(fit.upper[5])


def test_hand_computed_median_and_limits():
    fit = kaplan_meier(ENTRY, EXIT, EVENT)
    median, lo, hi = fit.median()
    assert median == 5.0  # first age with S <= 0.5 (S(4) = 0.5625, S(5) = 0.375)
    assert lo == 2.0  # the lower band is already below 0.5 at the first event (0.128)
    assert np.isnan(hi)  # the upper band never reaches 0.5: not reached


def test_median_on_a_flat_stretch_at_one_half_is_the_midpoint():
    fit = kaplan_meier([0, 0, 0, 0], [1, 2, 3, 4], [1, 1, 1, 1])
    assert fit.survival[1] == 0.5
    assert fit.median()[0] == 2.5  # (2 + 3) / 2, as R's quantile.survfit


def test_landmarks_are_right_continuous_and_empty_beyond_follow_up():
    fit = kaplan_meier(ENTRY, EXIT, EVENT)
    values = fit.survival_at([1.0, 2.0, 4.5, 7.0, 8.0])
    np.testing.assert_allclose(values[:4], [1.0, 0.75, 0.5625, 0.0])
    assert np.isnan(values[4])


def test_number_at_risk_counts_delayed_entries():
    assert number_at_risk(ENTRY, EXIT, [0.5, 2.0, 2.6, 7.5]).tolist() == [3, 4, 4, 0]


def test_no_truncation_matches_the_textbook_product_limit():
    fit = kaplan_meier(np.zeros(5), [1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    np.testing.assert_allclose(fit.survival, [0.8, 0.6, 0.3, 0.3])


@pytest.mark.parametrize(
    "entry, exit, event, message",
    [
        ([], [], [], "no subjects"),
        ([1.0], [1.0], [1], "exit must be later than entry"),
        ([0.0], [np.inf], [1], "finite"),
        ([0.0, 1.0], [1.0], [1], "same length"),
    ],
)
def test_bad_input_gives_a_clear_message(entry, exit, event, message):
    with pytest.raises(ModelError, match=message):
        kaplan_meier(entry, exit, event)


def _reference_cases():
    index = json.loads((FIXTURES / "reference.json").read_text())
    return index["fits"]


@pytest.mark.parametrize("case", _reference_cases(), ids=lambda c: c["name"])
def test_agrees_with_r_survival(case):
    """Fixtures from tests/fixtures/km/make_reference.R (R survival, conf.type = log-log)."""
    data = pd.read_csv(FIXTURES / case["input"])
    if case["filter"]:
        column, value = case["filter"]
        data = data[data[column].astype(str) == value]
    fit = kaplan_meier(data["entry"], data["exit"], data["event"])
    curve = pd.read_csv(FIXTURES / case["curve"])
    np.testing.assert_allclose(fit.time, curve["time"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fit.n_risk, curve["n_risk"])
    np.testing.assert_array_equal(fit.n_event, curve["n_event"])
    np.testing.assert_allclose(fit.survival, curve["surv"], rtol=0, atol=1e-10)
    std_err = np.where(np.isinf(fit.std_err), np.nan, fit.std_err)  # R stores NA once S = 0
    np.testing.assert_allclose(std_err, curve["std_err"], rtol=0, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(fit.lower, curve["lower"], rtol=0, atol=1e-10, equal_nan=True)
    np.testing.assert_allclose(fit.upper, curve["upper"], rtol=0, atol=1e-10, equal_nan=True)
    expected = [np.nan if v is None else v for v in case["median"]]
    np.testing.assert_allclose(fit.median(), expected, rtol=0, atol=1e-10, equal_nan=True)
    landmarks = [np.nan if v is None else v for v in case["landmarks"]]
    np.testing.assert_allclose(
        fit.survival_at(case["landmark_ages"]), landmarks, rtol=0, atol=1e-10, equal_nan=True
    )
