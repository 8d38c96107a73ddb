"""The IPCW sensitivity analysis of one endpoint as tables (README, "Outputs"):
``km_summary_ipcw``, ``km_curves_ipcw`` and ``ipcw_model``.

Per stratum, the weighted Kaplan–Meier curve of the natural-history follow-up
(:func:`smanh.survival.km.kaplan_meier` with the person-intervals as counting-process rows
``(start, stop]``, the weights of :func:`smanh.survival.ipcw.ipcw_weights`, ``cluster`` =
patient and ``robust``: R ``survfit(Surv(start, stop, status) ~ 1, weights = w, id = id,
robust = TRUE)``), over the stratum's estimable range (:mod:`smanh.survival.estimable`, the
same patients' follow-up as the unweighted curve) and conditional on being event-free at its
``from_age``. The summary has the landmarks with their log-log intervals (robust standard
errors), the median (empty when outside its interval) and the restricted mean event-free
time from ``from_age`` to each horizon with its robust Wald interval. The curve's
``at_risk`` is the number of patients at risk (not the weighted sum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.cohort.intervals import PATIENT_COLUMNS
from smanh.cohort.strata import strata
from smanh.survival.estimable import estimable_range
from smanh.survival.ipcw import IpcwOptions, Weights, ipcw_weights
from smanh.survival.km import kaplan_meier, number_at_risk
from smanh.survival.km_tables import (
    CURVE_COLUMNS,
    NO_EVENTS,
    SUMMARY_COLUMNS,
    _median_within,
    landmark_column,
    not_modelled_note,
)
from smanh.survival.rmst import rmst_from_fit

ANALYSIS = "ipcw"
MODEL_COLUMNS = ["endpoint", "model", "term", "estimate", "se", "n_patients", "n_intervals",
                 "n_treatment_starts", "note"]
WEIGHT_QUANTILES = (1, 5, 25, 50, 75, 95, 99)


def rmst_column(tau: float) -> str:
    return f"rmst_{tau:g}y"


def summary_columns(landmark_ages, horizons) -> list[str]:
    columns = list(SUMMARY_COLUMNS)
    for age in landmark_ages:
        s = landmark_column(age)
        columns += [s, f"{s}_lo", f"{s}_hi"]
    for tau in horizons:
        r = rmst_column(tau)
        columns += [r, f"{r}_lo", f"{r}_hi"]
    return columns + ["analysis"]


def ipcw_tables(
    endpoint: str,
    intervals: pd.DataFrame | None,
    options: IpcwOptions,
    stratify_by: list[str],
    landmark_ages: list[float],
    horizons: list[float],
    confidence_level: float = 0.95,
    min_stratum_size: int = 1,
    birth_eras=None,
    min_at_risk: int = 1,
    unavailable: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The three tables of ``endpoint`` from its person-intervals (None, with the reason in
    ``unavailable``, when there is no natural-history follow-up to weight)."""
    columns = summary_columns(landmark_ages, horizons)
    if unavailable or intervals is None or intervals.empty:
        note = unavailable or ("no person-intervals given" if intervals is None
                               else "no patient at risk for this endpoint")
        return _empty(endpoint, note, columns)
    intervals = intervals.reset_index(drop=True)
    weights = ipcw_weights(intervals, options)
    note = "; ".join(weights.notes)
    patients = intervals.groupby("patient_id", sort=False)[PATIENT_COLUMNS[1:]].first().reset_index()
    summaries, curves = [], []
    for by in stratify_by:
        for label, group in strata(patients, by, birth_eras):
            key = {"endpoint": endpoint, "stratify_by": by, "stratum": label}
            counts = {"n": len(group), "events": int(group["event"].sum())}
            rows = intervals["patient_id"].isin(group["patient_id"]).to_numpy()
            summary, curve = _stratum(key, counts, group, intervals[rows], weights.weight[rows],
                                      landmark_ages, horizons, confidence_level, min_stratum_size, min_at_risk)
            summaries.append(summary)
            if curve is not None:
                curves.append(curve)
    summary = pd.DataFrame(summaries, columns=columns).assign(analysis=ANALYSIS)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return {"km_summary_ipcw": summary,
            "km_curves_ipcw": curve[CURVE_COLUMNS].assign(analysis=ANALYSIS),
            "ipcw_model": model_table(endpoint, intervals, weights, note)}


def _stratum(key, counts, group, rows, w, landmark_ages, horizons, confidence_level, min_stratum_size, min_at_risk):
    if len(group) < min_stratum_size:
        return {**key, **counts, "note": not_modelled_note(min_stratum_size)}, None
    estimable = estimable_range(group["entry_age"], group["exit_age"], min_at_risk)
    if not estimable.exists:
        return {**key, **counts, "note": estimable.never_note}, None
    start_age = estimable.from_age
    kept = rows["stop"].to_numpy(float) > start_age
    start = np.maximum(rows["start"].to_numpy(float)[kept], start_age)
    fit = kaplan_meier(start, rows["stop"].to_numpy(float)[kept], rows["status"].to_numpy()[kept], confidence_level,
                       weights=w[kept], cluster=rows["patient_id"].to_numpy()[kept], robust=True,
                       start_time=start_age)
    median, notes = _median_within(fit, estimable)
    inside = estimable.holds(landmark_ages)
    row = {**key, **counts, "from_age": start_age, "to_age": estimable.to_age,
           "median_years": median[0], "median_lo": median[1], "median_hi": median[2]}
    index = np.searchsorted(fit.time, np.asarray(landmark_ages, float), side="right") - 1
    for age, ok, i in zip(landmark_ages, inside, index):
        s = landmark_column(age)
        if ok:
            row[s] = float(fit.survival_at([age])[0])
            row[f"{s}_lo"], row[f"{s}_hi"] = (fit.lower[i], fit.upper[i]) if i >= 0 else (np.nan, np.nan)
    if not inside.all():
        outside = ", ".join(f"{a:g}" for a, i in zip(landmark_ages, inside) if not i)
        notes.append(estimable.outside_note(f"landmark age(s) {outside}"))
    beyond = []
    for tau in horizons:
        if start_age < tau <= estimable.to_age:
            r = rmst_from_fit(fit, float(tau), confidence_level=confidence_level)
            row.update({rmst_column(tau): r.rmst, f"{rmst_column(tau)}_lo": r.lower,
                        f"{rmst_column(tau)}_hi": r.upper})
        else:
            beyond.append(f"{tau:g}")
    if beyond:
        notes.append(estimable.outside_note(f"RMST horizon(s) {', '.join(beyond)}"))
    if not group["event"].any():
        notes.insert(0, NO_EVENTS)
    row["note"] = "; ".join(notes)
    shown = fit.time <= estimable.to_age
    entry = np.maximum(group["entry_age"].to_numpy(float), start_age)
    exit_ = group["exit_age"].to_numpy(float)
    alive = exit_ > start_age
    curve = pd.DataFrame({
        **key, "from_age": start_age, "to_age": estimable.to_age,
        "time_years": fit.time[shown], "survival": fit.survival[shown],
        "lo": fit.lower[shown], "hi": fit.upper[shown],
        "at_risk": number_at_risk(entry[alive], exit_[alive], fit.time[shown]),
    })
    return row, curve


def model_table(endpoint: str, intervals: pd.DataFrame, weights: Weights, note: str) -> pd.DataFrame:
    """The fitted coefficients of both models, the distribution of the weights and the
    person-interval counts."""
    rows = [{"endpoint": endpoint, "model": "data", "term": "person-intervals",
             "n_patients": intervals["patient_id"].nunique(), "n_intervals": len(intervals),
             "n_treatment_starts": int(intervals["treated"].sum()), "note": note}]
    for label, fit in (("denominator", weights.denominator), ("numerator", weights.numerator)):
        if fit is not None:
            rows += [{"endpoint": endpoint, "model": label, "term": term, "estimate": b, "se": s}
                     for term, b, s in zip(fit.columns, fit.coef, np.sqrt(np.diag(fit.vcov)))]
    raw = weights.raw
    stats = {f"p{q:02d}": float(np.percentile(raw, q)) for q in WEIGHT_QUANTILES}
    stats.update({"mean": float(raw.mean()), "lower_bound": weights.bounds[0],
                  "upper_bound": weights.bounds[1], "mean_truncated": float(weights.weight.mean()),
                  "share_truncated": float(np.mean((raw < weights.bounds[0]) | (raw > weights.bounds[1])))})
    rows += [{"endpoint": endpoint, "model": "weights", "term": term, "estimate": value}
             for term, value in stats.items()]
    table = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    return table.astype({c: "Int64" for c in ("n_patients", "n_intervals", "n_treatment_starts")})


def _empty(endpoint: str, note: str, columns: list[str]) -> dict[str, pd.DataFrame]:
    summary = pd.DataFrame([{"endpoint": endpoint, "stratify_by": "all", "stratum": "all", "n": 0,
                             "events": 0, "note": note}], columns=columns).assign(analysis=ANALYSIS)
    model = pd.DataFrame([{"endpoint": endpoint, "model": "data", "term": "person-intervals",
                           "n_patients": 0, "n_intervals": 0, "n_treatment_starts": 0, "note": note}],
                         columns=MODEL_COLUMNS)
    return {"km_summary_ipcw": summary,
            "km_curves_ipcw": pd.DataFrame(columns=CURVE_COLUMNS).assign(analysis=ANALYSIS),
            "ipcw_model": model.astype({c: "Int64" for c in ("n_patients", "n_intervals", "n_treatment_starts")})}
