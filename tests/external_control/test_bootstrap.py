"""The batched estimators equal the engines column by column, and the bootstrap's replicates
are what refitting each resample on its own gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smanh.external_control import batched
from smanh.external_control.analysis import _matched_weights
from smanh.external_control.bootstrap import (
    bootstrap_sample,
    percentile_summary,
    replicate_effects,
    replicate_weights,
)
from smanh.external_control.cohort import ExternalCohort
from smanh.external_control.matching import nearest_neighbour_match
from smanh.external_control.propensity import att_weights, fit_propensity, propensity_design
from smanh.survival.cox import fit_cox
from smanh.survival.km import kaplan_meier
from smanh.survival.logistic import fit_logistic
from smanh.survival.rmst import rmst_from_fit


def follow_up(n: int, seed: int) -> pd.DataFrame:
    """Ages on a coarse day lattice: many tied exits, events tied with censorings."""
    rng = np.random.default_rng(seed)
    entry = rng.integers(10, 180, n) / 365.25
    exit_ = entry + rng.integers(1, 40, n) * 20 / 365.25
    return pd.DataFrame({"entry": entry, "exit": exit_, "event": (rng.random(n) < 0.6).astype(int),
                         "analysed": True})


def test_batched_estimators_equal_the_engines_for_every_column():
    rng = np.random.default_rng(5)
    data = follow_up(120, 1)
    arm = (rng.random(120) < 0.3).astype(int)
    weights = rng.gamma(1.5, 1.0, (120, 25))
    weights[rng.random((120, 25)) < 0.25] = 0.0
    weights[:, 0] = np.round(weights[:, 0])  # integer weights too
    times = np.unique(data["exit"][data["event"] == 1])
    tables = {g: batched.risk_table(*(data[c][arm == g] for c in ("entry", "exit", "event")), weights[arm == g], times)
              for g in (0, 1)}
    survival = {g: batched.km_survival(tables[g]) for g in (0, 1)}
    ages, tau = [0.4, 1.0, 1.6], 1.5
    landmarks = {g: batched.survival_at(tables[g], survival[g], ages) for g in (0, 1)}
    areas = {g: batched.restricted_mean(tables[g], survival[g], tau) for g in (0, 1)}
    beta = batched.cox_binary(tables[1], tables[0])
    for b in range(weights.shape[1]):
        w = weights[:, b]
        for g in (0, 1):
            keep = (arm == g) & (w > 0)
            fit = kaplan_meier(data["entry"][keep], data["exit"][keep], data["event"][keep], weights=w[keep])
            np.testing.assert_allclose(landmarks[g][:, b], fit.survival_at(ages), rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(areas[g][b], rmst_from_fit(fit, tau).rmst, rtol=1e-12)
        keep = w > 0
        cox = fit_cox(data["entry"][keep], data["exit"][keep], data["event"][keep],
                      pd.DataFrame({"trial": arm[keep].astype(float)}), weights=w[keep], robust=False)
        np.testing.assert_allclose(beta[b], cox.coef[0], rtol=1e-9)


def test_a_hazard_ratio_without_events_in_an_arm_is_zero_or_infinite():
    data = follow_up(40, 2)
    arm = np.r_[np.ones(10, int), np.zeros(30, int)]
    weights = np.ones((40, 3))
    weights[(arm == 1) & (data["event"].to_numpy() == 1), 0] = 0  # no trial event in replicate 0
    weights[(arm == 0) & (data["event"].to_numpy() == 1), 1] = 0  # no registry event in replicate 1
    times = np.unique(data["exit"][data["event"] == 1])
    tables = {g: batched.risk_table(*(data[c][arm == g] for c in ("entry", "exit", "event")), weights[arm == g], times)
              for g in (0, 1)}
    beta = batched.cox_binary(tables[1], tables[0])
    assert beta[0] == -np.inf and beta[1] == np.inf and np.isfinite(beta[2])


def test_percentile_intervals_are_order_statistics_and_count_infinite_replicates():
    values = np.r_[-np.inf, np.arange(1.0, 100.0), np.nan]
    se, lo, hi, used = percentile_summary(values, 0.9)
    assert used == 100 and se == pytest.approx(np.arange(1.0, 100.0).std(ddof=1))
    # inverted empirical distribution: the 5th and 95th of 100 ordered values
    assert (lo, hi) == (4.0, 94.0)
    assert percentile_summary(np.array([np.nan, 1.0]), 0.95)[3] == 1


def cohort_of(n1: int, n0: int, seed: int) -> ExternalCohort:
    rng = np.random.default_rng(seed)
    n = n1 + n0
    arm = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    base = pd.DataFrame({"arm": arm, "age_at_entry": rng.uniform(0.05, 0.5, n) + 0.05 * arm,
                         "smn2_copies": 2.0, "sex": np.where(rng.random(n) < 0.5, "F", "M"),
                         "age_at_onset": rng.uniform(0, 0.3, n), "baseline_score": np.nan})
    data = follow_up(n, seed)
    data["exit"] = np.where(arm == 1, data["exit"] * 1.5, data["exit"])
    data["entry"] = base["age_at_entry"]
    data["exit"] = data["entry"] + 0.02 + data["exit"]
    motor = pd.DataFrame({"baseline": rng.normal(20, 5, n), "outcome": np.where(rng.random(n) < 0.8,
                                                                                 rng.normal(25, 5, n), np.nan)})
    motor["change"] = motor["outcome"] - motor["baseline"]
    flow = pd.DataFrame(columns=["arm", "step", "reason", "n"])
    return ExternalCohort(base, {"e": data}, motor, flow)


class Options:
    """The options the bootstrap reads."""

    landmark_years = (0.6, 1.0)
    rmst_horizon_years = 1.0
    truncate_at_quantile = 0.95
    matching_ratio = 2
    caliper_sd = 0.5
    motor_scale = "CHOP_INTEND"


def test_replicates_are_the_analysis_of_each_resample():
    cohort = cohort_of(25, 90, 7)
    arm = cohort.arm
    design = propensity_design(cohort.baseline, ["age_at_entry", "sex", "age_at_onset"])
    score = fit_propensity(design, arm)
    sample = bootstrap_sample(arm, 6, seed=11)
    assert sample.trial_units.shape == (6, 25) and sample.registry_units.shape == (6, 90)
    assert (sample.frequencies[arm == 1].sum(0) == 25).all() and (sample.frequencies[arm == 0].sum(0) == 90).all()
    np.testing.assert_array_equal(bootstrap_sample(arm, 6, seed=11).frequencies, sample.frequencies)
    weights, failed = replicate_weights(sample, design, score, arm, Options)
    assert failed == 0
    effects = replicate_effects(cohort, weights["weighting"], Options)
    x = design.model_matrix
    for b in range(6):
        f = sample.frequencies[:, b]
        refit = fit_logistic(x, arm.astype(float), f)
        logit = np.column_stack([np.ones(len(x)), x]) @ refit.coef
        odds = np.exp(logit)
        cap = np.quantile(odds[sample.registry_units[b]], 0.95)  # over the replicate's registry units
        expected = f * np.where(arm == 1, 1.0, np.minimum(odds, cap))
        # the refits stop at a Newton step below 1e-10: the logits agree to about that
        np.testing.assert_allclose(weights["weighting"][:, b], expected, rtol=1e-9)
        # matching redone on the replicate's units (each draw a unit), trial units first
        units = np.r_[sample.trial_units[b], sample.registry_units[b]]
        unit_arm = arm[units]
        matched = nearest_neighbour_match(logit[units], unit_arm, 2, 0.5)
        per_unit = _matched_weights(matched, unit_arm)
        np.testing.assert_allclose(weights["matching"][:, b], np.bincount(units, per_unit, len(arm)), rtol=1e-12)
        # the effects of the replicate: the weighted estimators on its weights
        w = expected
        follow = cohort.follow_up["e"]
        fits = {}
        for g in (0, 1):
            keep = (arm == g) & (w > 0)
            fits[g] = kaplan_meier(follow["entry"][keep], follow["exit"][keep], follow["event"][keep], weights=w[keep])
        difference = fits[1].survival_at([0.6]) - fits[0].survival_at([0.6])
        np.testing.assert_allclose(effects[("e", "survival_difference", 0.6)][b], difference[0], rtol=1e-8)
        cox = fit_cox(follow["entry"][w > 0], follow["exit"][w > 0], follow["event"][w > 0],
                      pd.DataFrame({"trial": arm[w > 0].astype(float)}), weights=w[w > 0], robust=False)
        log_hr = next(v for k, v in effects.items() if k[1] == "log_hazard_ratio")  # its time is NaN
        np.testing.assert_allclose(log_hr[b], cox.coef[0], rtol=1e-8)
        known = ~np.isnan(cohort.motor["change"].to_numpy()) & (w > 0)
        y = cohort.motor["change"].to_numpy()
        mean = {g: np.average(y[known & (arm == g)], weights=w[known & (arm == g)]) for g in (0, 1)}
        np.testing.assert_allclose(effects[("CHOP_INTEND", "change")][b], mean[1] - mean[0], rtol=1e-8)
    np.testing.assert_allclose(att_weights(score.logit, arm)[arm == 1], 1.0)
