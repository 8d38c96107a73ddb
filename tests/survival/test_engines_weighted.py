"""Weighted, clustered, robust and conditional survival estimators and weighted logistic
regression against R (survival 3.5-3, glm), numerical derivatives and row duplication.

Reference numbers: tests/fixtures/engines/ (make_inputs.py, then make_reference.R); the
cases are listed in cases.json. Tolerances: 1e-8 (relative) for weighted and robust
quantities, 1e-10 (absolute) for unweighted conditional curves, landmarks, quantiles and
rmean.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.cox import cox_zph, design_matrix, fit_cox
from smanh.survival.cuminc import aalen_johansen
from smanh.survival.km import kaplan_meier
from smanh.survival.logistic import fit_logistic, fit_logistic_replicates
from smanh.survival.rmst import rmst, rmst_difference, rmst_from_fit

ENGINES = FIXTURES / "engines"
CASES = json.loads((ENGINES / "cases.json").read_text())
LABELS = {"id": str, "g": str, "sma_type": str, "sex": str}
WEIGHTED_RTOL = 1e-8
UNWEIGHTED_ATOL = 1e-10


def load(name: str) -> pd.DataFrame:
    return pd.read_csv(ENGINES / name, dtype=LABELS)


@functools.cache
def read_reference(name: str) -> pd.DataFrame:
    return pd.read_csv(ENGINES / name, dtype={"term": str, "row": str, "col": str})


def reference(name: str, case: str) -> pd.DataFrame:
    frame = read_reference(name)
    return frame[frame["case"] == case].reset_index(drop=True)


def km_fit(case: dict, data: pd.DataFrame | None = None):
    d = load(case["input"]) if data is None else data
    return kaplan_meier(d.entry, d.exit, d.event,
                        weights=d.w if case["weights"] else None,
                        cluster=d.id if case["id"] else None,
                        robust=case["robust"], start_time=case["start_time"])


def close(actual, expected, case: dict, what: str):
    """Weighted or robust: 1e-8 relative (1e-12 absolute near 0); else 1e-10 absolute."""
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    if case.get("weights") or case.get("robust"):
        np.testing.assert_allclose(actual, expected, rtol=WEIGHTED_RTOL, atol=1e-12,
                                   equal_nan=True, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=UNWEIGHTED_ATOL,
                                   equal_nan=True, err_msg=what)


# --------------------------------------------------------------------------- Kaplan-Meier
@pytest.mark.parametrize("case", CASES["km"], ids=lambda c: c["name"])
def test_kaplan_meier_matches_r(case):
    fit = km_fit(case)
    curve = reference("km_curve.csv.gz", case["name"])
    np.testing.assert_array_equal(fit.time, curve.time)
    for ours, theirs in [(fit.n_risk, "n_risk"), (fit.n_event, "n_event"),
                         (fit.n_censor, "n_censor"), (fit.survival, "surv"),
                         (fit.lower, "lower"), (fit.upper, "upper")]:
        close(ours, curve[theirs], case, theirs)
    positive = fit.survival > 0
    close(fit.std_err[positive], curve.std_err_log[positive], case, "std_err (log S)")
    close(fit.std_err_survival[positive], curve.std_err_surv[positive], case, "se of S")
    if case["robust"]:  # R: se(S) = 0 once S is 0
        close(fit.std_err_survival[~positive], curve.std_err_surv[~positive], case, "se at 0")


@pytest.mark.parametrize("case", CASES["km"], ids=lambda c: c["name"])
def test_kaplan_meier_quantiles_landmarks_and_rmean_match_r(case):
    fit = km_fit(case)
    values = reference("km_values.csv", case["name"])

    def get(what):
        return values[values.what == what]

    for p in (0.25, 0.5):
        expected = [get(w).set_index("at").value.get(p) for w in
                    ("quantile", "quantile_lower", "quantile_upper")]
        close(fit.quantile(p), expected, case, f"quantile {p}")
    landmarks = get("survival_at")
    close(fit.survival_at(landmarks["at"]), landmarks.value, case, "survival_at")
    rmean, se = get("rmean"), get("se_rmean")
    assert len(rmean) >= 2
    results = [rmst_from_fit(fit, tau) for tau in rmean["at"]]
    close([r.rmean for r in results], rmean.value, case, "rmean")
    close([r.se for r in results], se.value, case, "se(rmean)")
    if case["robust"]:
        robust = get("robust_se_rmean")
        np.testing.assert_allclose([r.robust_se for r in results], robust.value,
                                   rtol=WEIGHTED_RTOL, err_msg="robust se(rmean)")
    else:
        assert all(r.robust_se is None for r in results)


def test_conditional_curve_is_the_curve_of_those_event_free_at_start():
    """By hand, hand.csv from age 3.25 (unweighted, rows as subjects): at risk at 3.5:
    B2 (2,4.5], F (3,5], G2 (2,3.5], H3 (3,6], I (1,5], J (0.25,5], K (2,4], L2 (2,7],
    N (0,6.5]; M enters at 4; G2 and K leave at 3.5 and 4."""
    d = load("hand.csv")
    fit = kaplan_meier(d.entry, d.exit, d.event, start_time=3.25)
    assert fit.time[0] == 3.5 and fit.n_risk[0] == 9
    # events: 4.5 (B of 8), 5 (F, I, J of 7), 7 (L, alone)
    s45 = 1 - 1 / 8
    s5 = s45 * (1 - 3 / 7)
    assert fit.survival_at([3.0, 4.5, 5.0, 6.9]).tolist() == pytest.approx(
        [1.0, s45, s5, s5], abs=1e-15)
    assert fit.survival[-1] == 0.0
    r = rmst_from_fit(fit, 6.0)
    assert r.rmst == pytest.approx((4.5 - 3.25) + s45 * 0.5 + s5 * 1.0, abs=1e-15)
    assert r.rmean == pytest.approx(3.25 + r.rmst, abs=1e-15)
    assert rmst(d.entry, d.exit, d.event, 6.0, start_time=3.25).rmst == r.rmst


def test_event_at_the_start_age_counts_as_r_does():
    """R keeps rows exiting exactly at start.time: C's event at 3 drops the curve at 3, and
    summary(times =) before 3 reports S(3) (no row is put at the start then)."""
    d = load("hand.csv")
    fit = kaplan_meier(d.entry, d.exit, d.event, start_time=3.0)
    assert fit.time[0] == 3.0 and fit.n_event[0] == 1 and fit.survival[0] < 1
    assert fit.survival_at([2.0])[0] == fit.survival[0]


def test_at_risk_range_by_hand():
    # rows (entry, exit]: (0,1] (0,2] (1,3] (2,4] (0.5,5]
    fit = kaplan_meier([0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5], [1, 0, 1, 1, 0])
    # just after 0: 2 at risk; after 0.5: 3; after 1: 3 ((0,1] gone, (1,3] in); after 2: 3;
    # at 3: 3, just after: 2 ((2,4], (0.5,5])
    assert fit.at_risk_range(3) == (0.5, 3.0)
    assert fit.at_risk_range(2) == (0.0, 4.0)
    assert fit.at_risk_range(1) == (0.0, 5.0)
    assert np.isnan(fit.at_risk_range(4)).all()
    with pytest.raises(ModelError, match="at least 1"):
        fit.at_risk_range(0)


def test_at_risk_range_ignores_zero_weights_and_ages_before_start():
    entry, exit_, event = [0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5], [1, 0, 1, 1, 0]
    fit = kaplan_meier(entry, exit_, event, weights=[1, 1, 0, 1, 1])
    assert fit.at_risk_range(3) == (0.5, 1.0)  # (0,1] (0,2] (0.5,5]; (1,3] has weight 0
    conditional = kaplan_meier(entry, exit_, event, start_time=1.5)
    assert conditional.at_risk_range(3) == (1.5, 3.0)  # (0,2], (1,3], (0.5,5] from 1.5


# --------------------------------------------------------------------------- Cox
def cox_data(case):
    d = load(case["input"])
    if case["name"].startswith("registry"):
        d = d[d.sex.isin(["F", "M"])]
    if case["name"] == "registry":
        d = d[d.sma_type.isin(["1", "2", "3"])]
    return d.reset_index(drop=True)


@pytest.mark.parametrize("case", CASES["cox"], ids=lambda c: c["name"])
def test_cox_matches_r(case):
    d = cox_data(case)
    fit = fit_cox(d.entry, d.exit, d.event, d, case["rhs"],
                  strata=d[case["strata"]] if "strata" in case else None,
                  weights=d.w if case["weights"] else None, cluster=d.id)
    ref = reference("cox_coef.csv", case["name"])
    assert fit.columns == ref.term.tolist()
    for ours, theirs in [(fit.coef, "coef"), (fit.se, "se"), (fit.robust_se, "robust_se")]:
        np.testing.assert_allclose(ours, ref[theirs], rtol=WEIGHTED_RTOL, err_msg=theirs)
    tests = reference("cox_tests.csv", case["name"]).iloc[0]
    assert fit.n == tests.n and fit.n_events == tests.events
    np.testing.assert_allclose(
        [fit.loglik_null, fit.loglik, fit.score_test["chisq"], fit.wald_test["chisq"],
         fit.robust_score_test["chisq"]],
        tests[["loglik_null", "loglik", "score", "wald", "rscore"]].astype(float),
        rtol=WEIGHTED_RTOL)
    summary = fit.summary()
    assert summary.columns.tolist()[:5] == ["term", "coef", "se", "robust_se", "hr"]
    np.testing.assert_allclose(summary.z, fit.coef / fit.robust_se)


def test_cox_drops_zero_weight_rows_as_r_fits_without_them():
    d = load("hand.csv")
    full = fit_cox(d.entry, d.exit, d.event, d, "x + g", weights=d.w, cluster=d.id)
    kept = d[d.w > 0].reset_index(drop=True)
    without = fit_cox(kept.entry, kept.exit, kept.event, kept, "x + g", weights=kept.w,
                      cluster=kept.id)
    np.testing.assert_array_equal(full.coef, without.coef)
    np.testing.assert_array_equal(full.robust_vcov, without.robust_vcov)


def test_cox_weighted_fit_has_no_cox_zph():
    d = load("hand.csv")
    fit = fit_cox(d.entry, d.exit, d.event, d, "x", weights=d.w, cluster=d.id)
    with pytest.raises(ModelError, match="weighted"):
        cox_zph(fit, d.entry, d.exit, d.event)


# --------------------------------------------------------------------------- Aalen-Johansen
@pytest.mark.parametrize("case", CASES["aj"], ids=lambda c: c["name"])
def test_aalen_johansen_matches_r(case):
    d = load(case["input"])
    state = d["state"] if "state" in d else d["event_type"]
    ci = aalen_johansen(d.entry, d.exit, state, weights=d.w, cluster=d.id)
    ref = reference("aj.csv", case["name"])
    for k in (1, 2):
        at = ci.at(ref.time, state=k)
        np.testing.assert_allclose(at.cif, ref[f"cif_{k}"], rtol=WEIGHTED_RTOL, atol=1e-14)
        if case["se"]:
            np.testing.assert_allclose(at.se, ref[f"se_{k}"], rtol=WEIGHTED_RTOL, atol=1e-14)


def test_aalen_johansen_rejects_overlapping_rows_and_rows_after_an_event():
    with pytest.raises(ModelError, match="overlap"):
        aalen_johansen([0, 1], [2, 3], [0, 1], cluster=["a", "a"])
    with pytest.raises(ModelError, match="after its event"):
        aalen_johansen([0, 2], [2, 3], [1, 0], cluster=["a", "a"])


# --------------------------------------------------------------------------- numerical IJ
def derivative_variance(estimate, weights, clusters, eps=1e-6):
    """Sum over clusters of the squared derivative of ``estimate(w)`` when the weights of
    the cluster's rows are scaled by 1 + eps (central differences): the IJ variance."""
    total = 0.0
    for label in np.unique(clusters):
        bump = np.where(clusters == label, eps, 0.0)
        up = estimate(weights * (1 + bump))
        down = estimate(weights * (1 - bump))
        total = total + ((up - down) / (2 * eps)) ** 2
    return total


def test_robust_kaplan_meier_and_rmst_se_are_the_derivatives_in_the_cluster_weights():
    d = load("hand.csv")
    w, ids = d.w.to_numpy(), d.id.to_numpy()
    fit = kaplan_meier(d.entry, d.exit, d.event, weights=w, cluster=ids, robust=True)
    ages = fit.time[:-1]  # S > 0

    def survival(weights):
        return kaplan_meier(d.entry, d.exit, d.event, weights=weights).survival_at(ages)

    def area(weights):
        return rmst(d.entry, d.exit, d.event, 6.0, weights=weights).rmst

    var = derivative_variance(survival, w, ids)
    np.testing.assert_allclose(fit.std_err_survival[:-1], np.sqrt(var), rtol=1e-6)
    expected = np.sqrt(derivative_variance(area, w, ids))
    assert rmst_from_fit(fit, 6.0).robust_se == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["hand_aj.csv", "hand_aj_tv.csv"])
def test_aalen_johansen_se_is_the_derivative_in_the_cluster_weights(name):
    """With weights changing between a patient's rows (hand_aj_tv) survival 3.5-3's SE is
    not this derivative; ours is, in both cases."""
    d = load(name)
    w, ids = d.w.to_numpy(), d.id.to_numpy()
    ci = aalen_johansen(d.entry, d.exit, d.state, weights=w, cluster=ids)
    ages = np.arange(0.5, 7.0, 0.5)
    for k in (1, 2):

        def cif(weights, state=k):
            fit = aalen_johansen(d.entry, d.exit, d.state, weights=weights)
            return fit.at(ages, state).cif.to_numpy()

        np.testing.assert_allclose(ci.at(ages, k).se, np.sqrt(derivative_variance(cif, w, ids)),
                                   rtol=1e-6, atol=1e-12)


# --------------------------------------------------------------------------- logistic
@pytest.mark.parametrize("case", CASES["logistic"], ids=lambda c: c["name"])
def test_logistic_matches_r_glm(case):
    d = load(case["input"])
    design = design_matrix(d, case["rhs"])
    fit = fit_logistic(design.matrix, d.y, d.w, columns=design.columns)
    ref = reference("logistic_coef.csv", case["name"])
    assert fit.converged and fit.columns == ref.term.tolist()
    np.testing.assert_allclose(fit.coef, ref.coef, rtol=WEIGHTED_RTOL)
    np.testing.assert_allclose(fit.se, ref.se, rtol=WEIGHTED_RTOL)
    assert fit.deviance == pytest.approx(ref.deviance[0], rel=WEIGHTED_RTOL)
    vcov = reference("logistic_vcov.csv", case["name"]).pivot(index="row", columns="col",
                                                                values="value")
    vcov = vcov.loc[fit.columns, fit.columns].to_numpy()
    np.testing.assert_allclose(fit.vcov, vcov, rtol=WEIGHTED_RTOL)
    fitted = reference("logistic_fitted.csv", case["name"]).fitted
    np.testing.assert_allclose(fit.fitted, fitted, rtol=WEIGHTED_RTOL)


def test_logistic_replicates_equal_separate_weighted_fits():
    d = load("logistic_registry.csv")
    design = design_matrix(d, "sma_type + sex + entry")
    rng = np.random.default_rng(7)
    patients = rng.integers(0, 300, size=len(d))  # rows grouped into 300 "patients"
    counts = rng.multinomial(300, np.full(300, 1 / 300), size=5).T  # (300, 5)
    full = fit_logistic(design.matrix, d.y, d.w)
    reps = fit_logistic_replicates(design.matrix, d.y, counts, weights=d.w,
                                   row_cluster=patients, start=full.coef)
    assert reps.converged.all() and not reps.separated.any()
    for b in range(5):
        one = fit_logistic(design.matrix, d.y, d.w * counts[patients, b])
        np.testing.assert_allclose(reps.coef[b], one.coef, rtol=1e-10, atol=1e-12)
        assert reps.deviance[b] == pytest.approx(one.deviance, rel=1e-12)


def test_logistic_replicate_that_separates_is_flagged_not_fatal():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([0, 0, 1, 0, 1, 1])
    counts = np.array([[1, 1], [1, 1], [1, 0], [1, 0], [1, 1], [1, 1]])  # second separates
    reps = fit_logistic_replicates(x, y, counts)
    assert reps.converged.tolist() == [True, False]
    assert reps.separated.tolist() == [False, True]
    assert np.isnan(reps.coef[1]).all()
    np.testing.assert_allclose(reps.coef[0], fit_logistic(x, y).coef, rtol=1e-12)


@pytest.mark.parametrize(
    "x, y, weights, message",
    [
        (np.empty((0, 1)), [], None, "no rows"),
        ([0.0, 1.0, 2.0, 3.0], [0, 0, 1, 1], None, "separated"),
        (np.empty((1, 0)), [0], None, "separated"),  # one row: the MLE is at -infinity
        ([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], [0, 1, 0, 1], None, "collinear"),
        ([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], [0, 1, 0], None, "is 0 on every row"),
        ([0.0, 1.0, 2.0], [0, 2, 1], None, "in \\[0, 1\\]"),
        ([0.0, np.nan, 2.0], [0, 1, 1], None, "finite"),
        ([0.0, 1.0, 2.0], [0, 1, 1], [1.0, -1.0, 1.0], "non-negative"),
        ([0.0, 1.0, 2.0], [0, 1, 1], [0.0, 0.0, 0.0], "every weight is 0"),
    ],
)
def test_logistic_refuses_what_has_no_estimate(x, y, weights, message):
    with pytest.raises(ModelError, match=message):
        fit_logistic(x, y, weights)


# --------------------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": [1, 1]}, "weights has 2 values"),
        ({"weights": [1, -1, 1]}, "row 1 has weight -1"),
        ({"weights": [1, np.nan, 1]}, "finite"),
        ({"weights": [0, 0, 0]}, "every weight is 0"),
        ({"cluster": ["a", None, "b"]}, "row 1 has none"),
        ({"cluster": ["a", "b"]}, "cluster has 2 values"),
        ({"start_time": 9.0}, "no row is followed up to start_time 9.0"),
        ({"start_time": np.nan}, "finite age"),
    ],
)
def test_kaplan_meier_bad_weights_clusters_start_give_clear_messages(kwargs, message):
    with pytest.raises(ModelError, match=message):
        kaplan_meier([0, 0, 1], [1, 2, 3], [1, 0, 1], **kwargs)


def test_estimators_on_empty_and_one_row_inputs():
    for call in (lambda: kaplan_meier([], [], [], weights=[]),
                 lambda: aalen_johansen([], [], [], weights=[]),
                 lambda: fit_cox([], [], [], np.empty((0, 1)), weights=[])):
        with pytest.raises(ModelError, match="no subjects"):
            call()
    fit = kaplan_meier([1.0], [2.0], [1], weights=[0.5], cluster=["a"], robust=True)
    assert fit.survival.tolist() == [0.0] and fit.std_err_survival.tolist() == [0.0]
    assert kaplan_meier([1.0], [2.0], [0], start_time=1.5).survival.tolist() == [1.0]
    ci = aalen_johansen([0.0], [1.0], [2], weights=[2.0], cluster=["a"])
    assert ci.states == [2] and ci.cif.tolist() == [[1.0]] and ci.se.tolist() == [[0.0]]
    r = rmst([0.0], [2.0], [1], tau=3.0, weights=[2.0], robust=True)
    assert (r.rmst, r.robust_se) == (2.0, 0.0)


def test_cox_cluster_without_robust_is_refused():
    d = load("hand.csv")
    with pytest.raises(ModelError, match="robust=True"):
        fit_cox(d.entry, d.exit, d.event, d, "x", cluster=d.id, robust=False)


def test_rmst_difference_uses_the_robust_se():
    d = load("hand.csv")
    a = rmst(d.entry, d.exit, d.event, 6.0, weights=d.w, cluster=d.id, robust=True)
    b = rmst(d.entry, d.exit, d.event, 6.0)
    diff = rmst_difference(a, b)
    assert diff.se == pytest.approx(np.hypot(a.robust_se, b.se), rel=1e-15)
    with pytest.raises(ModelError, match="not both"):
        rmst(d.entry, d.exit, d.event, 6.0, start=1.0, start_time=2.0)


# --------------------------------------------------------------------------- properties
@st.composite
def follow_up(draw, max_rows=12):
    """Left-truncated rows on a coarse age grid (ties likely), integer weights 0-3."""
    n = draw(st.integers(1, max_rows))
    entry = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), float) / 2
    length = np.array(draw(st.lists(st.integers(1, 6), min_size=n, max_size=n)), float) / 2
    state = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    weights = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), float)
    if not weights.any():
        weights[0] = 1.0
    return entry, entry + length, state, weights


@settings(max_examples=150, deadline=None)
@given(follow_up())
def test_weights_of_one_give_exactly_the_unweighted_results(data):
    entry, exit_, state, _ = data
    event = (state == 1).astype(int)
    ones = np.ones(len(entry))
    plain, weighted = kaplan_meier(entry, exit_, event), kaplan_meier(entry, exit_, event,
                                                                      weights=ones)
    for field in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower",
                  "upper"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(weighted, field))
    np.testing.assert_array_equal(plain.median(), weighted.median())
    a = rmst(entry, exit_, event, 3.0)
    b = rmst_from_fit(weighted, 3.0)
    assert (a.rmst, a.se) == pytest.approx((b.rmst, b.se), rel=1e-14, abs=1e-15)
    ci, ci_w = aalen_johansen(entry, exit_, state), aalen_johansen(entry, exit_, state,
                                                                   weights=ones)
    np.testing.assert_array_equal(ci.cif, ci_w.cif)
    np.testing.assert_array_equal(ci.se, ci_w.se)


@settings(max_examples=150, deadline=None)
@given(follow_up())
def test_integer_weights_equal_duplicated_rows(data):
    entry, exit_, state, weights = data
    event = (state == 1).astype(int)
    copies = weights.astype(int)
    rows = np.repeat(np.arange(len(entry)), copies)
    fit = kaplan_meier(entry, exit_, event, weights=weights, robust=False)
    dup = kaplan_meier(entry[rows], exit_[rows], event[rows])
    ages = np.union1d(fit.time, dup.time)
    ages = ages[ages <= dup.time[-1]]
    np.testing.assert_allclose(fit.survival_at(ages), dup.survival_at(ages), rtol=1e-13)
    kept = np.isin(fit.time, dup.time)  # the weighted fit also has the 0-weight exit ages
    np.testing.assert_array_equal(fit.n_risk[kept], dup.n_risk)
    np.testing.assert_array_equal(fit.n_event[kept], dup.n_event)
    np.testing.assert_allclose(fit.std_err[kept], dup.std_err, rtol=1e-13)
    if weights.min() > 0:  # rows of weight 0 still add exit ages, so flat ends last longer
        np.testing.assert_array_equal(fit.median(), dup.median())
    tau = float(dup.time[-1])
    if tau > 0:
        assert rmst_from_fit(fit, tau).rmst == pytest.approx(
            rmst(entry[rows], exit_[rows], event[rows], tau).rmst, rel=1e-13)
    ci = aalen_johansen(entry, exit_, state, weights=weights)
    ci_dup = aalen_johansen(entry[rows], exit_[rows], state[rows])
    for k in ci_dup.states:
        if k in ci.states:
            np.testing.assert_allclose(ci.at(ages, k).cif, ci_dup.at(ages, k).cif, rtol=1e-13,
                                       atol=1e-15)


def test_integer_weights_equal_duplicated_rows_for_cox_and_logistic():
    """Cox: as R's, the weighted Efron likelihood counts a row of weight 2 as one event with
    weight 2, two copies of it as two tied events; so events keep weight 1 here and tied
    event ages are left out (then the two are the same likelihood)."""
    d = load("registry_rows.csv")
    d = d[d.sma_type.isin(["1", "2", "3"])]
    tied = d[d.event == 1].duplicated("exit", keep=False)
    d = d.drop(index=tied.index[tied]).reset_index(drop=True)
    copies = np.random.default_rng(3).integers(0, 4, size=len(d))
    copies[d.event.to_numpy() == 1] = 1
    rows = np.repeat(np.arange(len(d)), copies)
    dup = d.iloc[rows].reset_index(drop=True)
    cox_w = fit_cox(d.entry, d.exit, d.event, d, "sma_type + x", weights=copies, robust=False)
    cox_dup = fit_cox(dup.entry, dup.exit, dup.event, dup, "sma_type + x")
    np.testing.assert_allclose(cox_w.coef, cox_dup.coef, rtol=1e-10)
    np.testing.assert_allclose(cox_w.se, cox_dup.se, rtol=1e-10)
    design, design_dup = design_matrix(d, "sma_type + x"), design_matrix(dup, "sma_type + x")
    logit_w = fit_logistic(design.matrix, d.event, copies)
    logit_dup = fit_logistic(design_dup.matrix, dup.event)
    np.testing.assert_allclose(logit_w.coef, logit_dup.coef, rtol=1e-10)
    np.testing.assert_allclose(logit_w.se, logit_dup.se, rtol=1e-10)
    assert logit_w.deviance == pytest.approx(logit_dup.deviance, rel=1e-12)


def test_curve_reaches_exactly_zero_when_everyone_left_has_the_event():
    """Weights whose sums round (0.1 + 0.2 + 0.7) and a later entry: the risk set at 1 is
    exactly the weight of its events, as R's counts make it."""
    entry, exit_, event = [0, 0, 0, 2, 0.5], [1, 1, 1, 3, 1], [1, 1, 1, 0, 1]
    weights = [0.1, 0.2, 0.7, 0.3, 0.3]
    fit = kaplan_meier(entry, exit_, event, weights=weights)
    assert fit.survival[0] == 0.0 and np.isinf(fit.std_err[0])
    robust = kaplan_meier(entry, exit_, event, weights=weights, robust=True)
    assert robust.survival[0] == 0.0 and robust.std_err_survival[0] == 0.0
    ci = aalen_johansen(entry, exit_, [1, 2, 1, 0, 2], weights=weights)
    assert ci.event_free[0] == 0.0
    assert ci.cif[0].sum() == pytest.approx(1.0, abs=1e-15)


def test_weighted_results_do_not_depend_on_the_row_order():
    d = load("registry_split.csv")
    shuffled = d.sample(frac=1.0, random_state=5).reset_index(drop=True)
    fits = [kaplan_meier(x.entry, x.exit, x.event, weights=x.w, cluster=x.id, robust=True)
            for x in (d, shuffled)]
    for field in ("n_risk", "survival", "std_err", "lower", "upper"):
        np.testing.assert_array_equal(getattr(fits[0], field), getattr(fits[1], field))
    assert rmst_from_fit(fits[0], 10.0) == rmst_from_fit(fits[1], 10.0)
    ci = [aalen_johansen(x.entry, x.exit, x.event_type, weights=x.w, cluster=x.id)
          for x in (d, shuffled)]
    np.testing.assert_array_equal(ci[0].cif, ci[1].cif)
    np.testing.assert_array_equal(ci[0].se, ci[1].se)
