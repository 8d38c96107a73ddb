"""Kaplan–Meier per endpoint and stratum, as the contract's tables (§3).

``km_summary.csv``: endpoint, stratify_by, stratum, n, events, median_years,
median_lo, median_hi, s_<age>y ...; ``km_curves.csv``: endpoint, stratify_by, stratum,
time_years, survival, lo, hi, at_risk. Numbers are exact; a median or bound not
reached is NaN here and an empty field in the CSV.

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
from smanh.survival.km import KaplanMeierFit, kaplan_meier, number_at_risk

SUMMARY_COLUMNS = [
    "endpoint",
    "stratify_by",
    "stratum",
    "n",
    "events",
    "note",
    "median_years",
    "median_lo",
    "median_hi",
]
CURVE_COLUMNS = [
    "endpoint",
    "stratify_by",
    "stratum",
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
    conf_level: float = 0.95,
    min_stratum_size: int = 1,
    birth_eras=None,
) -> Iterator[tuple[str, str, str, pd.DataFrame, KaplanMeierFit | None]]:
    """(endpoint, stratify_by, stratum, rows, fit) for every endpoint × stratification ×
    stratum; ``fit`` is None for a stratum below ``min_stratum_size``."""
    rows = analysed(dataset)
    for endpoint_name, endpoint_rows in rows.groupby("endpoint", sort=False):
        for by in stratify_by:
            for label, group in strata(endpoint_rows, by, birth_eras):
                fit = None
                if len(group) >= min_stratum_size:
                    fit = kaplan_meier(
                        group["entry_age"], group["exit_age"], group["event"], conf_level
                    )
                yield endpoint_name, by, label, group, fit


def km_tables(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    landmark_ages: list[float],
    conf_level: float = 0.95,
    min_stratum_size: int = 1,
    birth_eras=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(km_summary, km_curves)`` for every endpoint in ``dataset``."""
    summaries, curves = [], []
    for endpoint_name, by, label, group, fit in fit_strata(
        dataset, stratify_by, conf_level, min_stratum_size, birth_eras
    ):
        key = {"endpoint": endpoint_name, "stratify_by": by, "stratum": label}
        if fit is None:  # reported, not modelled
            summaries.append({**key, "n": len(group), "events": int(group["event"].sum()),
                              "note": not_modelled_note(min_stratum_size)})
            continue
        median, lo, hi = fit.median()
        landmarks = fit.survival_at(landmark_ages)
        summaries.append(
            {
                **key,
                "n": fit.n_subjects,
                "events": fit.events,
                "note": "" if fit.events else NO_EVENTS,
                "median_years": median,
                "median_lo": lo,
                "median_hi": hi,
                **{landmark_column(a): s for a, s in zip(landmark_ages, landmarks)},
            }
        )
        curves.append(
            pd.DataFrame(
                {
                    **key,
                    "time_years": fit.time,
                    "survival": fit.survival,
                    "lo": fit.lower,
                    "hi": fit.upper,
                    "at_risk": fit.n_risk,
                }
            )
        )
    summaries += [
        {"endpoint": name, "stratify_by": "all", "stratum": "all", "n": 0, "events": 0, "note": note}
        for name, note in no_patients_at_risk(dataset).items()
    ]
    summary_columns = SUMMARY_COLUMNS + [landmark_column(a) for a in landmark_ages]
    summary = pd.DataFrame(summaries, columns=summary_columns)
    summary[["median_years", "median_lo", "median_hi"]] = summary[
        ["median_years", "median_lo", "median_hi"]
    ].astype(float)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return summary, curve[CURVE_COLUMNS]


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
