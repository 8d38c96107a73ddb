"""The external-control analysis against R on the sample registry and the simulated trial
(tests/fixtures/external_control/: make_inputs.py, then make_reference.R): the propensity
model and ATT weights against glm(binomial), the matched sets against MatchIt 4.5.1
(identical pairs), the (weighted, matched) Kaplan-Meier, RMST and Cox estimates with their
robust SEs against survival 3.5-3, balance and motor means against R by hand."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.external_control import outcomes
from smanh.external_control.analysis import analyse_external_control
from smanh.external_control.balance import balance_rows
from smanh.external_control.matching import nearest_neighbour_match
from smanh.external_control.propensity import att_weights, fit_propensity
from smanh.survival.logistic import fit_logistic

HERE = FIXTURES / "external_control"
CASES = json.loads((HERE / "cases.json").read_text())
RTOL = 1e-8


def _inputs_module():
    spec = importlib.util.spec_from_file_location("external_control_inputs", HERE / "make_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built():
    return _inputs_module().sample_cohort()


def read(name):
    return pd.read_csv(HERE / name, float_precision="round_trip")


def test_the_fixture_cohort_is_the_cohort_the_package_builds(built):
    _, cohort, design = built
    written = read("cohort.csv")
    np.testing.assert_array_equal(written["arm"], cohort.arm)
    np.testing.assert_array_equal(written[design.columns].to_numpy(), design.matrix)
    follow = cohort.follow_up["death_or_permanent_ventilation"]
    np.testing.assert_array_equal(written[["entry", "exit", "event"]].to_numpy(),
                                  follow[["entry", "exit", "event"]].to_numpy())
    np.testing.assert_array_equal(written["motor_change"], cohort.motor["change"])


def test_propensity_scores_and_weights_equal_glm(built):
    _, cohort, design = built
    score = fit_propensity(design, cohort.arm)
    coef = read("propensity_coef.csv")
    assert score.fit.columns == list(coef["term"])
    np.testing.assert_allclose(score.fit.coef, coef["estimate"], rtol=RTOL)
    np.testing.assert_allclose(score.fit.se, coef["se"], rtol=RTOL)
    reference = read("propensity.csv")
    np.testing.assert_allclose(score.logit, reference["lp"], rtol=RTOL)  # -inf outside, both
    np.testing.assert_allclose(score.score, reference["ps"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(att_weights(score.logit, cohort.arm), reference["w_att"], rtol=RTOL)
    inside = design.inside
    # matchit's own glm (default convergence, 1e-8 in the deviance) gives the same logits
    np.testing.assert_allclose(score.logit[inside], reference["matchit_glm_distance"][inside], rtol=1e-8)
    assert (~inside).sum() == 31 and (cohort.arm[~inside] == 0).all()


def _pairs(case: str) -> pd.DataFrame:
    pairs = read("matched_pairs.csv")
    pairs = pairs[(pairs["case"] == case) & pairs["registry_id"].notna()]  # NA: no match
    return pairs.sort_values(["trial_id", "round"]).reset_index(drop=True)


def _as_pairs(matches: np.ndarray, trial_ids: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    rows = [(trial_ids[i], r + 1, ids[matches[i, r]]) for i in range(matches.shape[0])
            for r in range(matches.shape[1]) if matches[i, r] >= 0]
    return pd.DataFrame(rows, columns=["trial_id", "round", "registry_id"])


@pytest.mark.parametrize("case", CASES["matching"], ids=lambda c: c["name"])
def test_matched_sets_equal_matchit(built, case):
    _, cohort, design = built
    reference = read("propensity.csv")
    ids = reference["id"].to_numpy()
    arm = cohort.arm
    inside = design.inside
    expected = _pairs(case["name"])
    # on MatchIt's own input (R's logits, scaled as given to it) and on the package's logits
    for logit in (reference["lp"].to_numpy() * 1e8, fit_propensity(design, arm).logit):
        matches = nearest_neighbour_match(np.where(inside, logit, -np.inf), arm, case["ratio"], case["caliper"])
        found = _as_pairs(matches, ids[arm == 1], ids)
        pd.testing.assert_frame_equal(found, expected[["trial_id", "round", "registry_id"]], check_dtype=False)
    if case["caliper"] == 0.05:
        assert (matches[:, 0] < 0).sum() > 0, "the tight caliper leaves trial patients unmatched"
    weights = read("sample_weights.csv")[case["name"]].to_numpy()
    from smanh.external_control.analysis import _matched_weights

    np.testing.assert_allclose(_matched_weights(matches, arm), weights, rtol=1e-14)


@pytest.mark.parametrize("ratio", [1, 2])
def test_ties_are_broken_as_matchit_breaks_them(ratio):
    ties = read("ties.csv")
    x = ties[CASES["ties_covariates"]].to_numpy()
    lp = read("ties_lp.csv")["lp"].to_numpy()
    fit = fit_logistic(x, ties["arm"].to_numpy(float))
    mine = np.column_stack([np.ones(len(x)), x]) @ fit.coef
    np.testing.assert_allclose(mine, lp, rtol=1e-8)
    assert len(np.unique(lp)) < len(lp) - 20, "many tied scores"
    arm = ties["arm"].to_numpy()
    matches = nearest_neighbour_match(lp * 1e8, arm, ratio, 0.2)
    found = _as_pairs(matches, ties["id"].to_numpy()[arm == 1], ties["id"].to_numpy())
    expected = _pairs(f"ties_ratio{ratio}")
    pd.testing.assert_frame_equal(found, expected[["trial_id", "round", "registry_id"]], check_dtype=False)


SAMPLES = ["unadjusted", "weighting", *(c["name"] for c in CASES["matching"])]


@pytest.mark.parametrize("sample", SAMPLES)
def test_curves_landmarks_rmst_and_cox_equal_survival(built, sample):
    _, cohort, _ = built
    weights = read("sample_weights.csv")[sample].to_numpy()
    method = "unadjusted" if sample == "unadjusted" else "weighting"
    follow = cohort.follow_up["death_or_permanent_ventilation"]
    curves, values = read("curves.csv"), read("values.csv")
    fits = {}
    for arm in (1, 0):
        curve = outcomes.arm_curve(follow, cohort.arm == arm, weights, method, 0.95)
        fits[arm] = curve
        ref = curves[(curves["sample"] == sample) & (curves["arm"] == arm)]
        fit = curve.fit
        np.testing.assert_allclose(fit.time, ref["time"], rtol=1e-15)
        np.testing.assert_allclose(fit.n_risk, ref["n_risk"], rtol=RTOL)
        np.testing.assert_allclose(fit.survival, ref["surv"], rtol=RTOL, atol=1e-15)
        np.testing.assert_allclose(fit.std_err_survival, ref["std_err_surv"], rtol=RTOL, atol=1e-15)
        np.testing.assert_allclose(fit.lower, ref["lower"], rtol=RTOL)
        np.testing.assert_allclose(fit.upper, ref["upper"], rtol=RTOL)
        v = values[(values["sample"] == sample) & (values["arm"] == arm)].set_index("what")
        for age in CASES["landmark_ages"]:
            at = outcomes.at_age(curve, age)
            row = v.loc["survival"]
            np.testing.assert_allclose(at["survival"], row[np.isclose(row["at"], age)]["value"], rtol=RTOL)
            row = v.loc["std_err_surv"]
            np.testing.assert_allclose(at["se"], row[np.isclose(row["at"], age)]["value"], rtol=RTOL)
    rmst = outcomes.rmst_difference(fits[1], fits[0], CASES["tau"], 0.95)
    v = values[values["sample"] == sample]
    rmean = {a: v[(v["arm"] == a) & (v["what"] == "rmean")]["value"].item() for a in (1, 0)}
    np.testing.assert_allclose([rmst["trial"], rmst["registry"]], [rmean[1], rmean[0]], rtol=RTOL)
    se_name = "se_rmean" if sample == "unadjusted" else "robust_se_rmean"
    se = {a: v[(v["arm"] == a) & (v["what"] == se_name)]["value"].item() for a in (1, 0)}
    np.testing.assert_allclose(rmst["se"], np.hypot(se[1], se[0]), rtol=RTOL)
    effect, note = outcomes.hazard_ratio(follow, cohort.arm, weights, method, 0.95)
    cox = read("cox.csv").set_index("sample").loc[sample]
    assert note == ""
    np.testing.assert_allclose(np.log(effect["estimate"]), cox["coef"], rtol=RTOL)
    np.testing.assert_allclose(effect["se"], cox["se"] if sample == "unadjusted" else cox["robust_se"], rtol=RTOL)


@pytest.mark.parametrize("sample", SAMPLES)
def test_motor_means_and_balance_equal_r_by_hand(built, sample):
    _, cohort, design = built
    weights = read("sample_weights.csv")[sample].to_numpy()
    values = read("values.csv")
    v = values[values["sample"] == sample]
    for outcome, name in (("outcome", "motor_score"), ("change", "motor_change")):
        effect = outcomes.mean_difference(cohort.motor[outcome].to_numpy(), cohort.arm, weights, 0.95)
        get = {(a, s): v[(v["arm"] == a) & (v["what"] == f"{name}_{s}")]["value"].item()
               for a in (1, 0) for s in ("mean", "se")}
        np.testing.assert_allclose([effect["trial"], effect["registry"]], [get[(1, "mean")], get[(0, "mean")]],
                                   rtol=1e-12)
        np.testing.assert_allclose(effect["se"], np.hypot(get[(1, "se")], get[(0, "se")]), rtol=1e-12)
    mine = balance_rows("primary", sample, design, cohort.arm, weights)
    reference = read("balance.csv")
    reference = reference[reference["sample"] == sample].reset_index(drop=True)
    assert list(mine["covariate"]) == list(reference["covariate"])
    for column in ("mean_trial", "mean_registry", "smd", "variance_ratio"):
        np.testing.assert_allclose(mine[column], reference[column], rtol=1e-12, atol=1e-15, err_msg=column)
    np.testing.assert_allclose(mine["ess_registry"], reference["ess"], rtol=1e-12)


def test_the_analysis_tables_hold_the_reference_numbers(built):
    """The job's tables (no bootstrap) are the estimates checked above."""
    options, cohort, _ = built
    tables = analyse_external_control(cohort, options).tables
    effects = tables["external_control_effects"]
    cox = read("cox.csv").set_index("sample")
    hr = effects[(effects["endpoint"] == "death_or_permanent_ventilation") & (effects["measure"] == "hazard_ratio")]
    by = {(r.model, r.method): r for r in hr.itertuples()}
    np.testing.assert_allclose(np.log(by[("none", "unadjusted")].estimate), cox.loc["unadjusted", "coef"], rtol=RTOL)
    np.testing.assert_allclose(np.log(by[("primary", "weighting")].estimate), cox.loc["weighting", "coef"], rtol=RTOL)
    np.testing.assert_allclose(by[("primary", "weighting")].se, cox.loc["weighting", "robust_se"], rtol=RTOL)
    np.testing.assert_allclose(np.log(by[("primary", "matching")].estimate), cox.loc["ratio1_caliper02", "coef"],
                               rtol=RTOL)
    assert effects["boot_replicates"].eq(0).all() and effects["boot_lo"].isna().all()
