"""Aalen-Johansen cumulative incidence against R survival 3.5-3 (multi-state survfit with
delayed entry; IJ standard errors) and, without delayed entry, cmprsk::cuminc."""


import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.cuminc import aalen_johansen

FIXTURES = FIXTURES / "survival"
ABS = 1e-6


def load(name):
    return pd.read_csv(FIXTURES / f"{name}.csv")


@pytest.mark.parametrize("name", ["small", "sim"])
@pytest.mark.parametrize(("reference", "delayed"), [("aj", True), ("aj_noentry", False)])
def test_matches_r_multistate_survfit(name, reference, delayed):
    data = load(name)
    ci = aalen_johansen(data.entry if delayed else None, data.exit, data.event)
    ref = pd.read_csv(FIXTURES / name / f"{reference}.csv")
    np.testing.assert_allclose(ci.times, ref.time, atol=1e-12)
    np.testing.assert_array_equal(ci.n_risk, ref.n_risk)
    for k, state in enumerate(ci.states):
        np.testing.assert_allclose(ci.cif[:, k], ref[f"p{state}"], atol=ABS)
        np.testing.assert_allclose(ci.se[:, k], ref[f"se{state}"], atol=ABS)
        np.testing.assert_allclose(ci.lower[:, k], ref[f"lo{state}"], atol=ABS)  # NaN == NA
        np.testing.assert_allclose(ci.upper[:, k], ref[f"hi{state}"], atol=ABS)


@pytest.mark.parametrize("name", ["small", "sim"])
def test_points_match_cmprsk_without_delayed_entry(name):
    data = load(name)
    ci = aalen_johansen(None, data.exit, data.event)
    ref = pd.read_csv(FIXTURES / name / "cmprsk.csv")
    for k, state in enumerate(ci.states):
        np.testing.assert_allclose(ci.cif[:, k], ref[f"p{state}"], atol=ABS)


def test_small_by_hand():
    # (entry, exit]: at age 1 eight at risk, one event -> 1/8.
    data = load("small")
    ci = aalen_johansen(data.entry, data.exit, data.event)
    at = ci.at([0.5, 1.0, 2.0], state=1)
    np.testing.assert_allclose(at.cif, [0.0, 1 / 8, 1 / 8 + (7 / 8) * (1 / 10)])
    # at age 2: ten at risk, one event of each cause
    np.testing.assert_allclose(ci.at([2.0], state=2).cif, [(7 / 8) * (1 / 10)])


def test_deterministic_under_ties_and_row_order():
    data = load("sim")
    shuffled = data.sample(frac=1.0, random_state=1)
    a = aalen_johansen(data.entry, data.exit, data.event)
    b = aalen_johansen(shuffled.entry, shuffled.exit, shuffled.event)
    np.testing.assert_array_equal(a.cif, b.cif)
    np.testing.assert_allclose(a.se, b.se, atol=1e-14)


def test_cif_plus_event_free_is_one():
    data = load("sim")
    ci = aalen_johansen(data.entry, data.exit, data.event)
    np.testing.assert_allclose(ci.cif.sum(1) + ci.event_free, 1.0, atol=1e-12)


@pytest.mark.parametrize(
    ("entry", "exit_", "event", "message"),
    [([0, 2], [1, 2], [1, 0], "later than entry"), ([0, 0], [1, 2], [1, -1], "codes"),
     ([0], [1, 2], [1, 0], "same length")],
)
def test_errors(entry, exit_, event, message):
    with pytest.raises(ModelError, match=message):
        aalen_johansen(entry, exit_, event)
