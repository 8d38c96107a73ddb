"""Outcomes of one balanced sample (weights over the cohort's patients) with the project's
validated engines: per arm the (weighted) Kaplan-Meier with delayed entry at time zero,
its landmarks and restricted mean; between the arms the survival difference at the
landmarks, the hazard ratio of a (weighted) Cox model and the RMST difference; the
weighted mean motor score (and change) per arm and their difference.

Standard errors: unadjusted samples use the model-based ones (Greenwood for the curves,
the Cox information); weighted and matched samples the robust ones, clustered on the
patient (R ``survfit(..., weights = w, id = patient, robust = TRUE)`` and
``coxph(..., weights = w, cluster = patient)``). They treat the weights as known; the
bootstrap intervals beside them (:mod:`smanh.external_control.bootstrap`) also carry the
propensity model's uncertainty. Differences between the arms add the arms' variances
(independent patients); intervals are Wald intervals (hazard ratio: on the log scale).
A weighted mean's SE is the sandwich ``sqrt(sum w^2 (y - m)^2) / sum w``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError
from smanh.survival.cox import fit_cox
from smanh.survival.km import KaplanMeierFit, kaplan_meier, loglog_band
from smanh.survival.rmst import rmst_from_fit

UNADJUSTED = "unadjusted"


@dataclass(frozen=True)
class ArmCurve:
    """One arm's Kaplan-Meier fit (None: no patient), its patients and events."""

    fit: KaplanMeierFit | None
    n: int
    events: int
    note: str = ""


def arm_curve(follow_up: pd.DataFrame, rows: np.ndarray, weights: np.ndarray, method: str,
              confidence_level: float) -> ArmCurve:
    """The curve of the patients ``rows`` (bool) with positive weight."""
    keep = rows & follow_up["analysed"].to_numpy() & (weights > 0)
    n, events = int(keep.sum()), int(follow_up["event"].to_numpy()[keep].sum())
    if n == 0:
        return ArmCurve(None, 0, 0, "no patient")
    entry, exit_, event = (follow_up[c].to_numpy()[keep] for c in ("entry", "exit", "event"))
    if method == UNADJUSTED:
        fit = kaplan_meier(entry, exit_, event, confidence_level)
    else:
        fit = kaplan_meier(entry, exit_, event, confidence_level, weights=weights[keep],
                           cluster=np.flatnonzero(keep), robust=True)
    return ArmCurve(fit, n, events)


def at_age(curve: ArmCurve, age: float, one_sided: tuple[float, float] = (0.8, 0.9)) -> dict:
    """S at ``age`` with its SE, two-sided band and one-sided bounds: the upper bound of
    a one-sided 90% interval (the log-log band of level 0.8) and the lower bound of a
    one-sided 95% one (level 0.9); NaN beyond follow-up."""
    empty = {"survival": np.nan, "se": np.nan, "lo": np.nan, "hi": np.nan,
             "upper_one_sided_90": np.nan, "lower_one_sided_95": np.nan}
    fit = curve.fit
    if fit is None:
        return empty
    survival = float(fit.survival_at([age])[0])
    if np.isnan(survival):
        return empty
    index = int(np.searchsorted(fit.time, age, side="right")) - 1
    if index < 0:  # before the first exit: S = 1, no variance
        return {"survival": 1.0, "se": 0.0, "lo": np.nan, "hi": np.nan,
                "upper_one_sided_90": np.nan, "lower_one_sided_95": np.nan}
    std_err = fit.std_err[index: index + 1]
    s = fit.survival[index: index + 1]
    upper_90 = loglog_band(s, std_err, one_sided[0])[1][0]
    lower_95 = loglog_band(s, std_err, one_sided[1])[0][0]
    return {"survival": survival, "se": float(fit.std_err_survival[index]), "lo": float(fit.lower[index]),
            "hi": float(fit.upper[index]), "upper_one_sided_90": float(upper_90),
            "lower_one_sided_95": float(lower_95)}


def wald(estimate: float, se: float, confidence_level: float) -> tuple[float, float, float]:
    """``(lo, hi, p)`` of a Wald interval and two-sided test of 0."""
    if not (np.isfinite(estimate) and np.isfinite(se)) or se <= 0:
        return np.nan, np.nan, np.nan
    z = special.ndtri(0.5 + confidence_level / 2)
    return estimate - z * se, estimate + z * se, float(2 * special.ndtr(-abs(estimate / se)))


def survival_difference(trial: ArmCurve, registry: ArmCurve, age: float, confidence_level: float) -> dict:
    a, b = at_age(trial, age), at_age(registry, age)
    estimate = a["survival"] - b["survival"]
    se = float(np.hypot(a["se"], b["se"]))
    lo, hi, p = wald(estimate, se, confidence_level)
    return {"trial": a["survival"], "registry": b["survival"], "estimate": estimate, "se": se,
            "lo": lo, "hi": hi, "p": p}


def rmst_difference(trial: ArmCurve, registry: ArmCurve, tau: float, confidence_level: float) -> dict:
    """RMST from age 0 to ``tau`` per arm and their difference (NaN: an arm without patients)."""
    if trial.fit is None or registry.fit is None:
        return _missing_effect()
    a, b = rmst_from_fit(trial.fit, tau), rmst_from_fit(registry.fit, tau)
    estimate = a.rmst - b.rmst
    se = float(np.hypot(a.interval_se, b.interval_se))
    lo, hi, p = wald(estimate, se, confidence_level)
    return {"trial": a.rmst, "registry": b.rmst, "estimate": estimate, "se": se, "lo": lo, "hi": hi, "p": p}


def hazard_ratio(follow_up: pd.DataFrame, arm: np.ndarray, weights: np.ndarray, method: str,
                 confidence_level: float) -> tuple[dict, str]:
    """HR of the trial arm from a (weighted) Cox model on the age scale with delayed entry
    at time zero; ``(effect, note)`` with the note saying why it is missing."""
    keep = follow_up["analysed"].to_numpy() & (weights > 0)
    entry, exit_, event = (follow_up[c].to_numpy()[keep] for c in ("entry", "exit", "event"))
    trial = (arm[keep] == 1).astype(float)
    if not keep.any():
        return _missing_effect(), "no patient"
    for label, in_arm in (("trial", trial == 1), ("registry", trial == 0)):
        if not (event[in_arm] == 1).any():
            return _missing_effect(), f"no event in the {label} arm: the hazard ratio is not estimable"
    try:
        if method == UNADJUSTED:
            fit = fit_cox(entry, exit_, event, pd.DataFrame({"trial": trial}))
            se = float(fit.se[0])
        else:
            fit = fit_cox(entry, exit_, event, pd.DataFrame({"trial": trial}), weights=weights[keep],
                          cluster=np.flatnonzero(keep), robust=True)
            se = float(fit.robust_se[0])
    except ModelError as err:
        return _missing_effect(), str(err)
    coef = float(fit.coef[0])
    lo, hi, p = wald(coef, se, confidence_level)
    return {"trial": np.nan, "registry": np.nan, "estimate": float(np.exp(coef)), "se": se,
            "lo": float(np.exp(lo)), "hi": float(np.exp(hi)), "p": p}, ""


def mean_difference(values: np.ndarray, arm: np.ndarray, weights: np.ndarray, confidence_level: float) -> dict:
    """Weighted mean per arm over patients with a value, and the difference trial - registry."""
    parts = {}
    for label, g in (("trial", 1), ("registry", 0)):
        keep = (arm == g) & ~np.isnan(values) & (weights > 0)
        w, y = weights[keep], values[keep]
        total = w.sum()
        mean = float(np.dot(w, y) / total) if total > 0 else np.nan
        se = float(np.sqrt(np.dot(w**2, (y - mean) ** 2)) / total) if total > 0 else np.nan
        parts[label] = (mean, se, int(keep.sum()))
    estimate = parts["trial"][0] - parts["registry"][0]
    se = float(np.hypot(parts["trial"][1], parts["registry"][1]))
    lo, hi, p = wald(estimate, se, confidence_level)
    return {"n_trial": parts["trial"][2], "n_registry": parts["registry"][2], "trial": parts["trial"][0],
            "registry": parts["registry"][0], "estimate": estimate, "se": se, "lo": lo, "hi": hi, "p": p}


def _missing_effect() -> dict:
    return dict.fromkeys(("trial", "registry", "estimate", "se", "lo", "hi", "p"), np.nan)
