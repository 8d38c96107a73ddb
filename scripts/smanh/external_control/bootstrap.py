"""Patient-level bootstrap of the whole analysis: resample, re-estimate the propensity
model, re-weight or re-match, re-estimate every effect — for all replicates at once.

Each replicate draws the trial arm's patients with replacement (as many as it has) and,
separately, the registry arm's (stratified by arm: both arms keep their sizes). The
propensity model is refitted to each replicate (:func:`smanh.survival.logistic.fit_logistic_replicates`,
the patients' draw counts as frequency weights, started at the full-data estimate);
ATT weights are recomputed (and truncated at the replicate's own quantile); matching is
redone on the replicate's logit scores with its own caliper, patients drawn twice being
two units (:func:`smanh.external_control.matching.match_batches`). The effects are then
estimated for all replicates at once (:mod:`smanh.external_control.batched`). Percentile
intervals (the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles, inverted empirical
distribution: order statistics, so a replicate whose hazard ratio is 0 or infinite — an
arm without events — still counts); replicates whose propensity model separates or
does not converge are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smanh.config.external_control import ExternalControlOptions
from smanh.external_control import batched
from smanh.external_control.cohort import ExternalCohort
from smanh.external_control.matching import match_batches, matching_weights
from smanh.external_control.propensity import PropensityDesign, PropensityFit, linear_predictor
from smanh.survival.logistic import fit_logistic_replicates


@dataclass(frozen=True)
class BootstrapSample:
    """Cohort rows drawn into each replicate: ``trial_units`` (B, n1), ``registry_units``
    (B, n0); ``frequencies`` (n, B) how often each patient was drawn."""

    trial_units: np.ndarray
    registry_units: np.ndarray
    frequencies: np.ndarray

    @property
    def replicates(self) -> int:
        return self.frequencies.shape[1]


def bootstrap_sample(arm: np.ndarray, replicates: int, seed: int) -> BootstrapSample:
    """Stratified (by arm) patient-level resamples, seeded."""
    rng = np.random.default_rng(seed)
    trial_rows, registry_rows = np.flatnonzero(arm == 1), np.flatnonzero(arm == 0)
    trial_units = trial_rows[rng.integers(0, len(trial_rows), (replicates, len(trial_rows)))]
    registry_units = registry_rows[rng.integers(0, len(registry_rows), (replicates, len(registry_rows)))]
    return BootstrapSample(trial_units, registry_units,
                           _per_patient(np.hstack([trial_units, registry_units]), None, len(arm)))


def _per_patient(units: np.ndarray, weights: np.ndarray | None, n: int) -> np.ndarray:
    """(n, B): the sum of the unit ``weights`` (B, m) (1 each without) of each patient."""
    replicates = units.shape[0]
    flat = (units * replicates + np.arange(replicates)[:, None]).ravel()
    values = None if weights is None else weights.ravel()
    return np.bincount(flat, weights=values, minlength=n * replicates).reshape(n, replicates).astype(float)


def replicate_weights(sample: BootstrapSample, design: PropensityDesign, score: PropensityFit,
                      arm: np.ndarray, options: ExternalControlOptions) -> tuple[dict[str, np.ndarray], int]:
    """Per method (``weighting``, ``matching``) the (n, B) weights of every replicate,
    with the propensity model refitted; NaN columns for replicates whose refit failed
    (their number is returned too)."""
    n = len(arm)
    inside = design.inside
    refits = fit_logistic_replicates(design.model_matrix, arm[inside].astype(float), sample.frequencies[inside],
                                     columns=design.model_columns, start=score.fit.coef)
    logit = np.full((n, sample.replicates), -np.inf)
    logit[inside] = linear_predictor(design, refits.coef)  # NaN where the refit failed
    failed = ~refits.converged
    odds = np.exp(logit)
    registry = arm == 0
    if options.truncate_at_quantile is not None:
        unit_odds = np.take_along_axis(odds.T, sample.registry_units, axis=1)
        cap = np.quantile(unit_odds, options.truncate_at_quantile, axis=1)
        odds = np.minimum(odds, cap[None, :])
    weighting = sample.frequencies * np.where(registry[:, None], odds, 1.0)
    by_replicate = logit.T
    matches = match_batches(np.take_along_axis(by_replicate, sample.trial_units, axis=1),
                            np.take_along_axis(by_replicate, sample.registry_units, axis=1),
                            options.matching_ratio, options.caliper_sd)
    trial_w, registry_w = matching_weights(matches, sample.registry_units.shape[1])
    matching = (_per_patient(sample.trial_units, trial_w, n)
                + _per_patient(sample.registry_units, registry_w, n))
    for weights in (weighting, matching):
        weights[:, failed] = np.nan
    return {"weighting": weighting, "matching": matching}, int(failed.sum())


def replicate_effects(cohort: ExternalCohort, weights: np.ndarray, options: ExternalControlOptions,
                      start: dict[str, float] | None = None) -> dict[tuple, np.ndarray]:
    """Every effect of every replicate (columns of ``weights``): keyed ``(endpoint,
    measure, time)`` (``log_hazard_ratio`` with time NaN) and ``(scale, outcome)`` for the
    motor differences; NaN for failed replicates."""
    arm = cohort.arm
    failed = np.isnan(weights).any(axis=0)
    weights = np.nan_to_num(weights)
    out: dict[tuple, np.ndarray] = {}
    for name, follow_up in cohort.follow_up.items():
        analysed = follow_up["analysed"].to_numpy()
        w = weights * analysed[:, None]
        entry, exit_, event = (follow_up[c].to_numpy() for c in ("entry", "exit", "event"))
        times = np.unique(exit_[analysed & (event == 1)])
        tables, curves = {}, {}
        for g in (0, 1):
            rows = arm == g
            tables[g] = batched.risk_table(entry[rows], exit_[rows], event[rows], w[rows], times)
            curves[g] = batched.km_survival(tables[g])
        landmarks = {g: batched.survival_at(tables[g], curves[g], options.landmark_years) for g in (0, 1)}
        for i, age in enumerate(options.landmark_years):
            out[(name, "survival_difference", age)] = landmarks[1][i] - landmarks[0][i]
        tau = options.rmst_horizon_years
        out[(name, "rmst_difference", tau)] = (batched.restricted_mean(tables[1], curves[1], tau)
                                               - batched.restricted_mean(tables[0], curves[0], tau))
        begin = (start or {}).get(name, 0.0)
        out[(name, "log_hazard_ratio", np.nan)] = batched.cox_binary(
            tables[1], tables[0], begin if np.isfinite(begin) else 0.0)
    if cohort.motor is not None:
        for outcome in ("outcome", "change"):
            values = cohort.motor[outcome].to_numpy()
            out[(options.motor_scale, outcome)] = (batched.weighted_means(values, weights * (arm == 1)[:, None])
                                                   - batched.weighted_means(values, weights * (arm == 0)[:, None]))
    for key in out:
        out[key] = np.where(failed, np.nan, out[key])
    return out


def percentile_summary(values: np.ndarray, confidence_level: float) -> tuple[float, float, float, int]:
    """``(se, lo, hi, replicates used)``: the SD of the finite replicates and the percentile
    interval over all non-missing ones (order statistics: infinite values count)."""
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return np.nan, np.nan, np.nan, len(values)
    finite = values[np.isfinite(values)]
    se = float(finite.std(ddof=1)) if len(finite) > 1 else np.nan
    lo, hi = np.quantile(values, [(1 - confidence_level) / 2, (1 + confidence_level) / 2], method="inverted_cdf")
    return se, float(lo), float(hi), len(values)
