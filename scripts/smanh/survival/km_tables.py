"""Kaplan–Meier per endpoint and stratum, as the contract's tables (README, "Outputs").

``km_summary.csv``: endpoint, stratify_by, stratum, n, events, note, from_age, to_age,
median_years, median_lo, median_hi, s_<age>y ...; ``km_curves.csv``: endpoint, stratify_by,
stratum, from_age, to_age, time_years, survival, lo, hi, at_risk. Numbers are exact; a
median or bound not reached is NaN here and an empty field in the CSV.

Each modelled stratum's curve covers its estimable range only (:mod:`smanh.survival.estimable`):
from the first age with ``min_at_risk`` patients at risk, conditional on being event-free
there, to where the risk set first falls below ``min_at_risk``. Landmarks and quantiles
outside it are empty with a note; so is a median outside its own confidence interval (read
off a step of a curve too unstable to report).

Strata with fewer than ``min_stratum_size`` analysed patients are *reported* (a
``km_summary`` row with ``n`` and ``events``) but *not modelled*: their estimates are
empty, they have no curve rows and they are left out of the tests across strata.

Beside them: ``km_at_risk.csv`` (numbers at risk at configured ages) and
``km_tests.csv`` (a test of equal hazards across the strata of each stratification that
respects delayed entry: the Cox score test, see :func:`smanh.survival.cox.cox_score_test`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from smanh.cohort.strata import analysed, modelled_strata, strata
from smanh.errors import ModelError
from smanh.survival.cox import cox_score_test
from smanh.survival.estimable import EstimableRange, conditional_rows, estimable_range
from smanh.survival.km import KaplanMeierFit, kaplan_meier, number_at_risk

SUMMARY_COLUMNS = [
    "endpoint",
    "stratify_by",
    "stratum",
    "n",
    "events",
    "note",
    "from_age",
    "to_age",
    "median_years",
    "median_lo",
    "median_hi",
]
CURVE_COLUMNS = [
    "endpoint",
    "stratify_by",
    "stratum",
    "from_age",
    "to_age",
    "time_years",
    "survival",
    "lo",
    "hi",
    "at_risk",
]
AT_RISK_COLUMNS = ["endpoint", "stratify_by", "stratum", "age_years", "at_risk"]
TEST_COLUMNS = ["endpoint", "stratify_by", "test", "strata", "n", "events", "chisq", "df", "p", "note"]


def landmark_column(age: float) -> str:
    """``s_1y`` for 1, ``s_0.5y`` for 0.5."""
    return f"s_{age:g}y"


NO_EVENTS = "no events: survival stays 1, median not reached"


def not_modelled_note(min_stratum_size: int) -> str:
    return f"fewer than {min_stratum_size} patients (analysis.min_stratum_size): counted, not modelled"


def no_patients_at_risk(dataset: pd.DataFrame) -> dict[str, str]:
    """Endpoints of ``dataset`` without any patient at risk, with why (the exclusion
    reasons that emptied them): their tables keep one row that says so."""
    empty = {}
    for name, rows in dataset.groupby("endpoint", sort=False):
        if not (rows["excluded_reason"] == "").any():
            reasons = ", ".join(dict.fromkeys(rows["excluded_reason"]))
            empty[name] = f"no patient at risk for this endpoint (excluded: {reasons})" if reasons else (
                "no patient at risk for this endpoint")
    return empty


def fit_strata(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    confidence_level: float = 0.95,
    min_stratum_size: int = 1,
    birth_eras=None,
    min_at_risk: int = 1,
) -> Iterator[tuple[str, str, str, pd.DataFrame, KaplanMeierFit | None, EstimableRange | None]]:
    """(endpoint, stratify_by, stratum, rows, fit, range) for every endpoint ×
    stratification × stratum; ``fit`` is the curve over the stratum's estimable range
    (None for a stratum below ``min_stratum_size`` or without an estimable range)."""
    rows = analysed(dataset)
    for endpoint_name, endpoint_rows in rows.groupby("endpoint", sort=False):
        for by in stratify_by:
            for label, group in strata(endpoint_rows, by, birth_eras):
                fit = estimable = None
                if len(group) >= min_stratum_size:
                    estimable = estimable_range(group["entry_age"], group["exit_age"], min_at_risk)
                    if estimable.exists:
                        fit = kaplan_meier(
                            *conditional_rows(group["entry_age"], group["exit_age"], group["event"],
                                              estimable.from_age)[:3],
                            confidence_level,
                        )
                yield endpoint_name, by, label, group, fit, estimable


def km_tables(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    landmark_ages: list[float],
    confidence_level: float = 0.95,
    min_stratum_size: int = 1,
    birth_eras=None,
    min_at_risk: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(km_summary, km_curves)`` for every endpoint in ``dataset``."""
    summaries, curves = [], []
    for endpoint_name, by, label, group, fit, estimable in fit_strata(
        dataset, stratify_by, confidence_level, min_stratum_size, birth_eras, min_at_risk
    ):
        key = {"endpoint": endpoint_name, "stratify_by": by, "stratum": label}
        counts = {"n": len(group), "events": int(group["event"].sum())}
        if estimable is None:  # reported, not modelled
            summaries.append({**key, **counts, "note": not_modelled_note(min_stratum_size)})
            continue
        if fit is None:
            summaries.append({**key, **counts, "note": estimable.never_note})
            continue
        ages = {"from_age": estimable.from_age, "to_age": estimable.to_age}
        median, notes = _median_within(fit, estimable)
        inside = estimable.holds(landmark_ages)
        landmarks = np.where(inside, fit.survival_at(landmark_ages), np.nan)
        if not inside.all():
            outside = ", ".join(f"{a:g}" for a, i in zip(landmark_ages, inside) if not i)
            notes.append(estimable.outside_note(f"landmark age(s) {outside}"))
        if not group["event"].any():
            notes.insert(0, NO_EVENTS)
        summaries.append({
            **key, **counts, "note": "; ".join(notes), **ages,
            "median_years": median[0], "median_lo": median[1], "median_hi": median[2],
            **{landmark_column(a): s for a, s in zip(landmark_ages, landmarks)},
        })
        shown = fit.time <= estimable.to_age
        curves.append(pd.DataFrame({
            **key, **ages,
            "time_years": fit.time[shown],
            "survival": fit.survival[shown],
            "lo": fit.lower[shown],
            "hi": fit.upper[shown],
            "at_risk": fit.n_risk[shown],
        }))
    summaries += [
        {"endpoint": name, "stratify_by": "all", "stratum": "all", "n": 0, "events": 0, "note": note}
        for name, note in no_patients_at_risk(dataset).items()
    ]
    summary_columns = SUMMARY_COLUMNS + [landmark_column(a) for a in landmark_ages]
    summary = pd.DataFrame(summaries, columns=summary_columns)
    numbers = ["from_age", "to_age", "median_years", "median_lo", "median_hi"]
    summary[numbers] = summary[numbers].astype(float)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return summary, curve[CURVE_COLUMNS]


def _median_within(fit: KaplanMeierFit, estimable: EstimableRange) -> tuple[tuple[float, float, float], list[str]]:
    """The median and its confidence limits, each empty where it lies beyond ``to_age``
    (not reached within the estimable range); all three empty, with a note, when the
    median lies outside its own interval: it was read off a step too unstable to report."""
    median, lo, hi = (v if v <= estimable.to_age else float("nan") for v in fit.median())
    if np.isfinite(median) and ((np.isfinite(lo) and median < lo) or (np.isfinite(hi) and median > hi)):
        return (float("nan"),) * 3, ["median outside its own confidence interval: not reported"]
    return (median, lo, hi), []


def at_risk_table(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    ages: list[float],
    birth_eras=None,
) -> pd.DataFrame:
    """Number at risk (``entry < age <= exit``) at each age, every stratum."""
    rows = []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        for by in stratify_by:
            for label, group in strata(endpoint_rows, by, birth_eras):
                counts = number_at_risk(group["entry_age"], group["exit_age"], ages)
                rows += [
                    (endpoint_name, by, label, float(a), int(c)) for a, c in zip(ages, counts)
                ]
    return pd.DataFrame(rows, columns=AT_RISK_COLUMNS)


def stratum_tests(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    min_stratum_size: int = 1,
    birth_eras=None,
) -> pd.DataFrame:
    """Cox score test of equal hazards across the modelled strata of each stratification
    (delayed entry respected). Stratifications with fewer than two modelled strata get
    a row with a note and no statistic."""
    rows = []
    for endpoint_name, endpoint_rows in analysed(dataset).groupby("endpoint", sort=False):
        for by in stratify_by:
            if by == "all":
                continue
            groups = list(modelled_strata(endpoint_rows, by, min_stratum_size, birth_eras))
            used = pd.concat([g for _, g in groups]) if groups else endpoint_rows.iloc[:0]
            labels = np.concatenate([[label] * len(g) for label, g in groups]) if groups else []
            row = {"endpoint": endpoint_name, "stratify_by": by, "test": "cox_score",
                   "strata": len(groups), "n": len(used), "events": int(used["event"].sum()),
                   "chisq": np.nan, "df": np.nan, "p": np.nan, "note": ""}
            try:
                result = cox_score_test(used["entry_age"], used["exit_age"], used["event"], labels)
                row.update(chisq=result["chisq"], df=result["df"], p=result["p"])
            except ModelError as err:
                row["note"] = str(err)
            rows.append(row)
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
