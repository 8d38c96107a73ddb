"""Every table of the external-control analysis from the cohort of both arms
(:mod:`smanh.external_control.cohort`): balance before and after weighting and matching
for each propensity model, per-arm curves and landmarks, the effects with robust and
bootstrap intervals and E-values, the motor outcome. Deterministic: a seeded bootstrap,
fixed row order.

Samples: ``unadjusted`` (model ``none``: every eligible patient, weight 1); per model
(``primary``; ``without_baseline_score`` beside it when a baseline score is a covariate)
``weighting`` (ATT odds weights) and ``matching`` (MatchIt's weights of the matched set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smanh.config.external_control import ExternalControlOptions
from smanh.errors import ModelError
from smanh.external_control import outcomes
from smanh.external_control.balance import BALANCE_COLUMNS, balance_rows
from smanh.external_control.bootstrap import (
    bootstrap_sample,
    percentile_summary,
    replicate_effects,
    replicate_weights,
)
from smanh.external_control.cohort import ExternalCohort
from smanh.external_control.evalue import evalues_hazard_ratio
from smanh.external_control.matching import matching_weights, nearest_neighbour_match
from smanh.external_control.propensity import att_weights, fit_propensity, propensity_design
from smanh.survival.km import number_at_risk

SURVIVAL_COLUMNS = ["endpoint", "model", "method", "arm", "time_years", "n", "events", "survival", "se", "lo",
                    "hi", "upper_one_sided_90", "lower_one_sided_95", "note"]
CURVE_COLUMNS = ["endpoint", "model", "method", "arm", "time_years", "survival", "lo", "hi", "at_risk",
                 "weighted_at_risk"]
AT_RISK_COLUMNS = ["endpoint", "model", "method", "arm", "age_years", "at_risk"]
BOOT_COLUMNS = ["boot_se", "boot_lo", "boot_hi", "boot_replicates"]
EFFECT_COLUMNS = ["endpoint", "model", "method", "measure", "time_years", "trial", "registry", "estimate", "se",
                  "lo", "hi", "p", *BOOT_COLUMNS, "evalue_estimate", "evalue_limit", "note"]
MOTOR_COLUMNS = ["scale", "model", "method", "outcome", "months_after_time_zero", "n_trial", "n_registry",
                 "trial", "registry", "estimate", "se", "lo", "hi", "p", *BOOT_COLUMNS, "note"]
ARMS = ((1, "trial"), (0, "registry"))
NO_CONTROLS = "no registry patient meets the eligibility criteria: nothing to compare"
NO_TRIAL = "no trial patient meets the eligibility criteria: nothing to compare"


@dataclass(frozen=True)
class ExternalControlAnalysis:
    """The tables (keyed by their names under ``results/tables/``) and, for the overlap
    figure, the primary model's logit scores and ATT weights (None: not estimable)."""

    tables: dict[str, pd.DataFrame]
    logit: np.ndarray | None = None
    weights: np.ndarray | None = None


def analyse_external_control(cohort: ExternalCohort, options: ExternalControlOptions) -> ExternalControlAnalysis:
    """Every table of the analysis (see the module docstring)."""
    arm = cohort.arm
    tables = {"external_control_flow": cohort.flow}
    missing = NO_TRIAL if not (arm == 1).any() else NO_CONTROLS if not (arm == 0).any() else ""
    if missing:
        return ExternalControlAnalysis({**tables, **_empty_tables(options, missing)})
    samples, balance, fits = _samples(cohort, options)
    tables["external_control_balance"] = balance
    rows = {name: [] for name in ("survival", "curves", "at_risk", "effects", "motor")}
    for (model, method), (weights, note) in samples.items():
        for spec in options.endpoints:
            _endpoint_rows(rows, spec.name, model, method, cohort, weights, note, options)
        if cohort.motor is not None:
            _motor_rows(rows["motor"], model, method, cohort, weights, note, options)
    effects = pd.DataFrame(rows["effects"], columns=EFFECT_COLUMNS)
    motor = pd.DataFrame(rows["motor"], columns=MOTOR_COLUMNS)
    if options.replicates > 0:
        effects, motor = _with_bootstrap(effects, motor, cohort, samples, fits, options)
    tables.update({
        "external_control_survival": pd.DataFrame(rows["survival"], columns=SURVIVAL_COLUMNS),
        "external_control_curves": pd.DataFrame(rows["curves"], columns=CURVE_COLUMNS),
        "external_control_at_risk": pd.DataFrame(rows["at_risk"], columns=AT_RISK_COLUMNS),
        "external_control_effects": _with_evalues(effects, options),
        "external_control_motor": motor,
    })
    primary = fits.get("primary")
    if primary is None:
        return ExternalControlAnalysis(tables)
    return ExternalControlAnalysis(tables, primary[1].logit, samples[("primary", "weighting")][0])


def model_covariates(model: str, options: ExternalControlOptions) -> list[str]:
    covariates = list(options.covariates)
    if options.baseline_scale and model == "primary":
        covariates.append("baseline_score")
    return covariates


def _samples(cohort, options):
    """``{(model, method): (weights or None, note)}``, the balance table and the fitted
    propensity models ``{model: (design, score)}``."""
    arm = cohort.arm
    ones = np.ones(len(arm))
    samples = {("none", outcomes.UNADJUSTED): (ones, "")}
    first = propensity_design(cohort.baseline, model_covariates(options.models[0], options))
    balance = [balance_rows("none", outcomes.UNADJUSTED, first, arm, ones)]
    fits = {}
    for model in options.models:
        design = propensity_design(cohort.baseline, model_covariates(model, options))
        try:
            unknown = _unknown_baseline_score(cohort, options) if "baseline_score" in design.columns else ""
            if unknown:
                raise ModelError(unknown)
            score = fit_propensity(design, arm)
        except ModelError as err:
            note = f"propensity model not estimable: {err}"
            samples[(model, "weighting")] = samples[(model, "matching")] = (None, note)
            balance.append(pd.DataFrame([(model, "weighting", "", "", *[np.nan] * 5, 0, 0, np.nan, False, note)],
                                        columns=BALANCE_COLUMNS))
            continue
        fits[model] = (design, score)
        weighting = att_weights(score.logit, arm, options.truncate_at_quantile)
        matches = nearest_neighbour_match(score.logit, arm, options.matching_ratio, options.caliper_sd)
        matched = _matched_weights(matches, arm)
        # no count in the note: the report shows notes, and counts only through suppression
        note = ("trial patients without a registry patient within the caliper are left out"
                if (matches[:, 0] < 0).any() else "")
        samples[(model, "weighting")] = (weighting, "")
        samples[(model, "matching")] = (matched, note) if matched[arm == 0].sum() > 0 else (
            None, "no registry patient within the caliper of any trial patient")
        balance.append(balance_rows(model, "weighting", design, arm, weighting))
        balance.append(balance_rows(model, "matching", design, arm, matched))
    return samples, pd.concat(balance, ignore_index=True), fits


def _unknown_baseline_score(cohort, options) -> str:
    """Why the baseline score cannot be adjusted for ("" where it can): an arm in which no
    patient has a known baseline score (the model would see no patient of that arm in
    the other's population)."""
    score = cohort.baseline["baseline_score"].to_numpy(float)
    for g, label in ARMS[::-1]:
        if np.isnan(score[cohort.arm == g]).all():
            months = _months(options.baseline_window_years * 12)
            why = (f"the {label} export records none" if options.baseline_scale in cohort.unrecorded.get(label, ())
                   else f"none within the {months} before time zero")
            return f"no {label} patient has a baseline {options.baseline_scale} score ({why})"
    return ""


def _months(months: float) -> str:
    return f"{months:g} month{'' if months == 1 else 's'}"


def _matched_weights(matches: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """MatchIt's weights over the cohort's rows from the matched rows of each trial patient."""
    trial, registry = np.flatnonzero(arm == 1), np.flatnonzero(arm == 0)
    position = np.full(len(arm), -1)
    position[registry] = np.arange(len(registry))
    units = np.where(matches >= 0, position[np.maximum(matches, 0)], -1)[None]
    w_trial, w_registry = matching_weights(units, len(registry))
    weights = np.zeros(len(arm))
    weights[trial], weights[registry] = w_trial[0], w_registry[0]
    return weights


def _endpoint_rows(rows, name, model, method, cohort, weights, note, options) -> None:
    follow_up = cohort.follow_up[name]
    arm = cohort.arm
    confidence_level = options.confidence_level
    if weights is None:
        for age in options.landmark_years:
            rows["effects"].append(_effect(name, model, method, "survival_difference", age, {}, note))
        rows["effects"].append(_effect(name, model, method, "hazard_ratio", np.nan, {}, note))
        rows["effects"].append(_effect(name, model, method, "rmst_difference", options.rmst_horizon_years, {}, note))
        return
    curves = {g: outcomes.arm_curve(follow_up, arm == g, weights, method, confidence_level) for g, _ in ARMS}
    for g, label in ARMS:
        curve = curves[g]
        for age in options.landmark_years:
            rows["survival"].append((name, model, method, label, age, curve.n, curve.events,
                                     *outcomes.at_age(curve, age).values(), curve.note))
        keep = (arm == g) & follow_up["analysed"].to_numpy() & (weights > 0)
        entry, exit_ = follow_up["entry"].to_numpy()[keep], follow_up["exit"].to_numpy()[keep]
        if curve.fit is not None:
            fit = curve.fit
            counts = number_at_risk(entry, exit_, fit.time)
            rows["curves"] += [(name, model, method, label, *values) for values in
                               zip(fit.time, fit.survival, fit.lower, fit.upper, counts, fit.n_risk)]
        at_risk = number_at_risk(entry, exit_, options.at_risk_years) if len(entry) else [0] * len(
            options.at_risk_years)
        rows["at_risk"] += [(name, model, method, label, age, int(n)) for age, n in zip(options.at_risk_years, at_risk)]
    for age in options.landmark_years:
        effect = outcomes.survival_difference(curves[1], curves[0], age, confidence_level)
        why = note or ("beyond the follow-up of an arm" if np.isnan(effect["estimate"]) else "")
        rows["effects"].append(_effect(name, model, method, "survival_difference", age, effect, why))
    effect, why = outcomes.hazard_ratio(follow_up, arm, weights, method, confidence_level)
    rows["effects"].append(_effect(name, model, method, "hazard_ratio", np.nan, effect, "; ".join(filter(None, [note, why]))))
    tau = options.rmst_horizon_years
    effect = outcomes.rmst_difference(curves[1], curves[0], tau, confidence_level)
    why = note or ("no patient analysed in an arm" if np.isnan(effect["estimate"]) else "")
    rows["effects"].append(_effect(name, model, method, "rmst_difference", tau, effect, why))


def _effect(name, model, method, measure, time, effect: dict, note: str) -> tuple:
    values = [effect.get(k, np.nan) for k in ("trial", "registry", "estimate", "se", "lo", "hi", "p")]
    return (name, model, method, measure, time, *values, np.nan, np.nan, np.nan, 0, np.nan, np.nan, note)


def _motor_rows(rows, model, method, cohort, weights, note, options) -> None:
    months = options.motor_years_after * 12
    for outcome in ("outcome", "change"):
        label = "score" if outcome == "outcome" else "change_from_baseline"
        if weights is None:
            rows.append((options.motor_scale, model, method, label, months, 0, 0, *[np.nan] * 7,
                         np.nan, np.nan, np.nan, 0, note))
            continue
        effect = outcomes.mean_difference(cohort.motor[outcome].to_numpy(), cohort.arm, weights, options.confidence_level)
        why = note or (_no_motor_value(cohort, weights, outcome, options) if np.isnan(effect["estimate"]) else "")
        rows.append((options.motor_scale, model, method, label, months, effect["n_trial"], effect["n_registry"],
                     *[effect[k] for k in ("trial", "registry", "estimate", "se", "lo", "hi", "p")],
                     np.nan, np.nan, np.nan, 0, why))


def _no_motor_value(cohort, weights, outcome: str, options) -> str:
    """Why a motor difference is missing: the arm(s) without a patient who has the score
    (or the change: a baseline and an outcome assessment)."""
    scale = options.motor_scale
    after = (f"a {scale} assessment {options.motor_years_after * 12:g} ± {options.motor_window_years * 12:g} "
             "months after time zero")
    before = f"a {scale} assessment within the {_months(options.motor_baseline_window_years * 12)} before time zero"
    reasons = []
    for g, label in ARMS[::-1]:
        in_arm = cohort.arm == g
        has = {column: ~np.isnan(cohort.motor[column].to_numpy()) for column in ("baseline", "outcome")}
        valued = in_arm & has["outcome"] & (has["baseline"] if outcome == "change" else True)
        if (valued & (weights > 0)).any():
            continue
        who = f"no {label} patient" if not valued.any() else f"no {label} patient in this sample"
        if scale in cohort.unrecorded.get(label, ()):
            reasons.append(f"{who} has {after} (the {label} export records no {scale} assessment)")
        elif outcome == "change" and (in_arm & has["outcome"] & (weights > 0)).any():
            reasons.append(f"{who} has both {before} and {after}")
        else:
            reasons.append(f"{who} has {after}")
    return "; ".join(reasons) or "the difference is not estimable"


def _with_bootstrap(effects, motor, cohort, samples, fits, options):
    """The bootstrap columns of every effect and motor difference."""
    arm = cohort.arm
    sample = bootstrap_sample(arm, options.replicates, options.seed)
    start = {}
    hr = effects[effects["measure"] == "hazard_ratio"]
    for r in hr.itertuples():
        start[(r.model, r.method, r.endpoint)] = np.log(r.estimate) if r.estimate > 0 else 0.0
    replicated: dict[tuple, dict] = {}
    failed: dict[str, int] = {}
    for (model, method), (weights, _) in samples.items():
        if weights is None:
            continue
        if method == outcomes.UNADJUSTED:
            matrix = sample.frequencies
        else:
            if model not in replicated:
                design, score = fits[model]
                replicated[model], failed[model] = replicate_weights(sample, design, score, arm, options)
            matrix = replicated[model][method]
        begin = {e: start.get((model, method, e), 0.0) for e in options.endpoint_names}
        estimates = replicate_effects(cohort, matrix, options, begin)
        _fill(effects, motor, model, method, estimates, options.confidence_level, failed.get(model, 0))
    return effects, motor


def _fill(effects, motor, model, method, estimates, confidence_level, failed) -> None:
    for key, values in estimates.items():
        if len(key) == 3:
            name, measure, time = key
            measure = "hazard_ratio" if measure == "log_hazard_ratio" else measure
            rows = ((effects["endpoint"] == name) & (effects["model"] == model) & (effects["method"] == method)
                    & (effects["measure"] == measure))
            if measure != "hazard_ratio":
                rows &= np.isclose(effects["time_years"], time)
            se, lo, hi, used = percentile_summary(values, confidence_level)
            if measure == "hazard_ratio":
                lo, hi = np.exp(lo), np.exp(hi)
            target = effects
        else:
            scale, outcome = key
            label = "score" if outcome == "outcome" else "change_from_baseline"
            rows = (motor["scale"] == scale) & (motor["model"] == model) & (motor["method"] == method) & (
                motor["outcome"] == label)
            se, lo, hi, used = percentile_summary(values, confidence_level)
            target = motor
        index = target.index[rows & target["estimate"].notna()]  # no interval for what is not estimated
        target.loc[index, BOOT_COLUMNS] = [se, lo, hi, used]
        if failed:
            note = f"{failed} bootstrap replicates left out: propensity model not estimable"
            target.loc[index, "note"] = [("; ".join(filter(None, [n, note]))) for n in target.loc[index, "note"]]


def _with_evalues(effects: pd.DataFrame, options) -> pd.DataFrame:
    """E-values of every hazard ratio: of the estimate and of the limit closer to 1 of its
    primary interval: the bootstrap one, but the robust one for matching (where the
    bootstrap that re-matches each resample is conservative) and without bootstrap
    replicates."""
    effects = effects.copy()
    for i, r in effects[effects["measure"] == "hazard_ratio"].iterrows():
        robust = options.replicates == 0 or r.method == "matching"
        lo, hi = (r.lo, r.hi) if robust else (r.boot_lo, r.boot_hi)
        effects.loc[i, ["evalue_estimate", "evalue_limit"]] = evalues_hazard_ratio(
            r.estimate, lo, hi, options.evalue_outcome)
    return effects


def _empty_tables(options, note: str) -> dict[str, pd.DataFrame]:
    """Tables that keep one row saying why nothing is estimated."""
    effects = [_effect(spec.name, "none", outcomes.UNADJUSTED, "hazard_ratio", np.nan, {}, note)
               for spec in options.endpoints]
    motor = ([(options.motor_scale, "none", outcomes.UNADJUSTED, "score", options.motor_years_after * 12, 0, 0,
               *[np.nan] * 7, np.nan, np.nan, np.nan, 0, note)] if options.motor_scale else [])
    balance = [("none", outcomes.UNADJUSTED, "", "", *[np.nan] * 5, 0, 0, np.nan, False, note)]
    survival = [(spec.name, "none", outcomes.UNADJUSTED, "", np.nan, 0, 0, *[np.nan] * 6, note)
                for spec in options.endpoints]
    return {
        "external_control_balance": pd.DataFrame(balance, columns=BALANCE_COLUMNS),
        "external_control_survival": pd.DataFrame(survival, columns=SURVIVAL_COLUMNS),
        "external_control_curves": pd.DataFrame(columns=CURVE_COLUMNS),
        "external_control_at_risk": pd.DataFrame(columns=AT_RISK_COLUMNS),
        "external_control_effects": pd.DataFrame(effects, columns=EFFECT_COLUMNS),
        "external_control_motor": pd.DataFrame(motor, columns=MOTOR_COLUMNS),
    }
