"""Propensity design, ATT weights, nearest-neighbour matching, balance and E-values on small
cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from smanh.errors import ModelError
from smanh.external_control.balance import balance_rows, effective_sample_size, weighted_variance
from smanh.external_control.evalue import evalue_rr, evalues_hazard_ratio, hazard_ratio_as_rr
from smanh.external_control.matching import match_batches, matching_weights, nearest_neighbour_match
from smanh.external_control.propensity import att_weights, fit_propensity, propensity_design


def baseline(**columns) -> pd.DataFrame:
    n = len(columns["arm"])
    defaults = {"age_at_entry": np.linspace(0.1, 0.5, n), "smn2_copies": np.full(n, 2.0), "sex": ["F"] * n,
                "age_at_onset": np.linspace(0.0, 0.3, n), "baseline_score": np.full(n, np.nan)}
    return pd.DataFrame({**defaults, **columns})


# --------------------------------------------------------------------------- design
def test_design_codes_unknown_values_with_indicators_and_leaves_out_what_cannot_be_estimated():
    frame = baseline(arm=[1, 1, 1, 0, 0, 0, 0], sex=["F", "M", "F", "M", "unknown", "F", "M"],
                     age_at_onset=[0.1, np.nan, 0.2, 0.3, 0.1, np.nan, 0.2])
    design = propensity_design(frame, ["age_at_entry", "smn2_copies", "sex", "age_at_onset"])
    assert design.columns == ["age_at_entry", "smn2_copies", "sex_M", "sex_unknown", "age_at_onset",
                              "age_at_onset_unknown"]
    onset = design.matrix[:, 4]
    np.testing.assert_allclose(onset[[1, 5]], np.mean([0.1, 0.2, 0.3, 0.1, 0.2]))  # the known ones' mean
    # sex unknown: a level no trial patient has -> outside, score 0
    assert list(design.inside) == [True] * 4 + [False, True, True]
    assert design.left_out == {"smn2_copies": "constant among the patients it is fitted to",
                               "sex_unknown": "constant among the patients it is fitted to"}
    assert design.model_columns == ["age_at_entry", "sex_M", "age_at_onset", "age_at_onset_unknown"]


def test_a_column_that_repeats_another_is_left_out():
    frame = baseline(arm=[1, 0, 1, 0, 1, 0], age_at_onset=np.linspace(0.1, 0.5, 6))  # = age_at_entry
    design = propensity_design(frame, ["age_at_entry", "age_at_onset"])
    assert design.left_out == {"age_at_onset": "a linear combination of the columns before it"}


def test_scores_outside_are_zero_and_get_no_weight():
    frame = baseline(arm=[1, 1, 1, 0, 0, 0, 0, 0], sex=["F", "M", "F", "M", "F", "unknown", "M", "F"],
                     age_at_entry=[0.1, 0.3, 0.2, 0.4, 0.15, 0.3, 0.25, 0.35])
    design = propensity_design(frame, ["age_at_entry", "sex"])
    score = fit_propensity(design, frame["arm"].to_numpy())
    assert score.logit[5] == -np.inf and score.score[5] == 0.0
    weights = att_weights(score.logit, frame["arm"].to_numpy())
    assert weights[5] == 0.0 and (weights[:3] == 1).all()
    np.testing.assert_allclose(weights[[3, 4, 6, 7]], score.score[[3, 4, 6, 7]] / (1 - score.score[[3, 4, 6, 7]]))


def test_weights_are_truncated_at_a_quantile_of_the_registry_weights():
    logit = np.log([1.0, 0.1, 0.2, 0.4, 0.8, 1.6])
    arm = np.array([1, 0, 0, 0, 0, 0])
    # R: quantile(c(0.1, 0.2, 0.4, 0.8, 1.6), 0.9) = 0.8 + 0.6 * 0.8 = 1.28 (type 7)
    np.testing.assert_allclose(att_weights(logit, arm, 0.9), [1.0, 0.1, 0.2, 0.4, 0.8, 1.28])


def test_an_arm_without_patients_cannot_be_modelled():
    frame = baseline(arm=[0, 0, 0])
    with pytest.raises(ModelError, match="both arms"):
        fit_propensity(propensity_design(frame, ["age_at_entry"]), frame["arm"].to_numpy())


# --------------------------------------------------------------------------- matching
def test_nearest_is_chosen_left_on_a_tie_of_differences_and_the_caliper_binds():
    # trial at 0.5 (largest first) and 0.2; registry at 0.1, 0.45, 0.55, 2.0
    distance = np.array([0.5, 0.2, 0.1, 0.45, 0.55, 2.0])
    arm = np.array([1, 1, 0, 0, 0, 0])
    matches = nearest_neighbour_match(distance, arm, 1, None)
    # 0.5: 0.45 and 0.55 are equally near -> the left one (0.45); 0.2: 0.1 (0.55 is farther)
    assert matches[:, 0].tolist() == [3, 2]
    sd = distance.std(ddof=1)  # 0.7044; a caliper of 0.1 SD = 0.0704 lets 0.2 - 0.1 = 0.1 fail
    matches = nearest_neighbour_match(distance, arm, 1, 0.1)
    assert 0.05 <= 0.1 * sd < 0.1
    assert matches[:, 0].tolist() == [3, -1]


def test_ratio_two_goes_round_by_round_largest_first():
    distance = np.array([1.0, 0.9, 0.95, 0.85, 0.0, -1.0])
    arm = np.array([1, 1, 0, 0, 0, 0])
    # round 1: 1.0 takes 0.95, 0.9 takes 0.85; round 2: 1.0 takes the nearest left, 0.0,
    # and 0.9 the one left over, -1.0
    matches = nearest_neighbour_match(distance, arm, 2, None)
    assert matches.tolist() == [[2, 4], [3, 5]]


def test_matchit_weights_share_a_trial_patient_among_its_matches():
    # trial 0 matched to registry 0 and 1, trial 1 to registry 2 only, trial 2 unmatched
    matches = np.array([[[0, 1], [2, -1], [-1, -1]]])
    trial, registry = matching_weights(matches, 4)
    assert trial.tolist() == [[1.0, 1.0, 0.0]]
    # raw 1/2, 1/2, 1, 0 -> scaled to sum to the 3 matched: x 3/2
    np.testing.assert_allclose(registry, [[0.75, 0.75, 1.5, 0.0]])


def test_batches_match_as_each_sample_alone():
    rng = np.random.default_rng(3)
    trial, registry = rng.normal(0.5, 1, (20, 8)), rng.normal(0, 1, (20, 30))
    registry[:, :3] = trial[:, :3]  # exact ties between arms
    together = match_batches(trial, registry, 2, 0.2)
    for b in range(20):
        np.testing.assert_array_equal(together[b], match_batches(trial[b:b + 1], registry[b:b + 1], 2, 0.2)[0])


def test_units_without_a_finite_score_are_never_matched():
    distance = np.array([0.0, -np.inf, 0.3])
    # the caliper from the finite ones: 0.2 * sd(0, 0.3) = 0.042 < 0.3
    assert nearest_neighbour_match(distance, np.array([1, 0, 0]), 1, 0.2).tolist() == [[-1]]
    assert nearest_neighbour_match(distance, np.array([1, 0, 0]), 1, 1.5).tolist() == [[2]]
    assert nearest_neighbour_match(distance, np.array([1, 0, 0]), 1, None).tolist() == [[2]]


# --------------------------------------------------------------------------- balance
def test_smd_variance_ratio_and_ess_by_hand():
    frame = baseline(arm=[1, 1, 1, 0, 0], age_at_entry=[1.0, 2.0, 4.0, 2.0, 6.0], sex=["M", "F", "M", "F", "M"])
    design = propensity_design(frame, ["age_at_entry", "sex"])
    weights = np.array([1.0, 1.0, 1.0, 3.0, 1.0])
    rows = balance_rows("primary", "weighting", design, frame["arm"].to_numpy(), weights).set_index("covariate")
    # age: trial mean 7/3, SD sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3); registry (3*2 + 6) / 4 = 3
    assert rows.loc["age_at_entry", "smd"] == pytest.approx((7 / 3 - 3) / math.sqrt(7 / 3), rel=1e-14)
    # weighted variance of the registry: (3 * 1 + 1 * 9) * 4 / (16 - 10) = 8
    assert weighted_variance(np.array([2.0, 6.0]), np.array([3.0, 1.0])) == pytest.approx(8.0, rel=1e-14)
    assert rows.loc["age_at_entry", "variance_ratio"] == pytest.approx((7 / 3) / 8, rel=1e-14)
    # sex M: trial 2/3, SD sqrt(2/9); registry (0 * 3 + 1) / 4
    assert rows.loc["sex_M", "smd"] == pytest.approx((2 / 3 - 1 / 4) / math.sqrt(2 / 9), rel=1e-14)
    assert math.isnan(rows.loc["sex_M", "variance_ratio"])
    assert rows.loc["sex_M", "ess_registry"] == pytest.approx(16 / 10) == effective_sample_size(np.array([3.0, 1.0]))



def test_a_covariate_with_unknown_values_is_compared_over_its_known_values_by_hand():
    frame = baseline(arm=[1, 1, 1, 1, 0, 0, 0, 0], baseline_score=[10.0, 20.0, 30.0, np.nan, 12.0, np.nan, 20.0, np.nan])
    design = propensity_design(frame, ["baseline_score"])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 3.0, 2.0, 1.0, 5.0])
    rows = balance_rows("primary", "weighting", design, frame["arm"].to_numpy(), weights).set_index("covariate")
    # known only: trial mean 20, SD sqrt((100 + 0 + 100) / 2) = 10; registry (3 * 12 + 20) / 4 = 14
    assert rows.loc["baseline_score", "mean_trial"] == pytest.approx(20.0, rel=1e-14)
    assert rows.loc["baseline_score", "mean_registry"] == pytest.approx(14.0, rel=1e-14)
    assert rows.loc["baseline_score", "sd_trial"] == pytest.approx(10.0, rel=1e-14)
    assert rows.loc["baseline_score", "smd"] == pytest.approx(0.6, rel=1e-14)
    # variances: trial 100; registry (3 * 4 + 1 * 36) * 4 / (16 - 10) = 32
    assert rows.loc["baseline_score", "variance_ratio"] == pytest.approx(100 / 32, rel=1e-14)
    assert rows.loc["baseline_score", "note"] == ""
    # the indicator's own row: share unknown, trial 1/4, registry (2 + 5) / 11
    assert rows.loc["baseline_score_unknown", "mean_registry"] == pytest.approx(7 / 11, rel=1e-14)


@pytest.mark.parametrize("arm", ["registry", "trial"])
def test_an_arm_without_a_known_value_has_no_smd_and_a_note(arm):
    """Filled-in values (the mean of the other arm's) would show a perfect balance."""
    scores = [22.0, 25.0, 31.0, np.nan, np.nan, np.nan]
    frame = baseline(arm=[1, 1, 1, 0, 0, 0] if arm == "registry" else [0, 0, 0, 1, 1, 1], baseline_score=scores)
    design = propensity_design(frame, ["age_at_entry", "baseline_score"])
    rows = balance_rows("none", "unadjusted", design, frame["arm"].to_numpy(), np.ones(6)).set_index("covariate")
    row = rows.loc["baseline_score"]
    assert math.isnan(row["smd"]) and math.isnan(row[f"mean_{arm}"])
    assert row["note"].startswith(f"no {arm} patient in the sample has a known value: no standardised difference")
    assert np.isfinite(rows.loc["age_at_entry", "smd"])


# --------------------------------------------------------------------------- E-values
def test_evalues_against_the_closed_form():
    # VanderWeele & Ding 2017: RR 3.9 -> 3.9 + sqrt(3.9 * 2.9) = 7.26; protective RR 0.5 -> 2 + sqrt(2) = 3.41
    assert evalue_rr(3.9) == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), rel=1e-15)
    assert evalue_rr(0.5) == pytest.approx(2 + math.sqrt(2), rel=1e-15)
    assert evalue_rr(1.0) == 1.0
    # a common outcome: HR 0.2 -> RR (1 - 0.5^sqrt(0.2)) / (1 - 0.5^sqrt(5))
    rr = (1 - 0.5 ** math.sqrt(0.2)) / (1 - 0.5 ** math.sqrt(5))
    assert hazard_ratio_as_rr(0.2, "common") == pytest.approx(rr, rel=1e-15)
    estimate, limit = evalues_hazard_ratio(0.2, 0.1, 0.4, "common")
    assert estimate == pytest.approx(1 / rr + math.sqrt(1 / rr * (1 / rr - 1)), rel=1e-14)
    upper = (1 - 0.5 ** math.sqrt(0.4)) / (1 - 0.5 ** math.sqrt(2.5))
    assert limit == pytest.approx(1 / upper + math.sqrt(1 / upper * (1 / upper - 1)), rel=1e-14)
    assert evalues_hazard_ratio(0.2, 0.1, 0.4, "rare") == pytest.approx((5 + math.sqrt(20), 2.5 + math.sqrt(3.75)))
    assert evalues_hazard_ratio(0.7, 0.4, 1.2, "rare")[1] == 1.0  # the interval holds 1
    assert evalues_hazard_ratio(2.0, 1.5, 3.0, "rare")[1] == pytest.approx(1.5 + math.sqrt(0.75))
    assert evalues_hazard_ratio(0.2, 0.0, 0.4, "rare")[1] == pytest.approx(2.5 + math.sqrt(3.75))  # bootstrap limit 0
    assert all(math.isnan(v) for v in evalues_hazard_ratio(float("nan"), 0.1, 0.4))
