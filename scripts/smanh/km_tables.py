"""Kaplan–Meier per endpoint and stratum, as the contract's tables (§3).

``km_summary.csv``: endpoint, stratify_by, stratum, n, events, median_years,
median_lo, median_hi, s_<age>y ...; ``km_curves.csv``: endpoint, stratify_by, stratum,
time_years, survival, lo, hi, at_risk. Numbers are exact; a median or bound not
reached is NaN here and an empty field in the CSV.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from smanh.km import KaplanMeierFit, kaplan_meier
from smanh.strata import stratum_order

STRATUM_COLUMN = {"all": None, "sma_type": "sma_type_group", "smn2_copies": "smn2_group"}
SUMMARY_COLUMNS = [
    "endpoint",
    "stratify_by",
    "stratum",
    "n",
    "events",
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


def landmark_column(age: float) -> str:
    """``s_1y`` for 1, ``s_0.5y`` for 0.5."""
    return f"s_{age:g}y"


def analysed(dataset: pd.DataFrame) -> pd.DataFrame:
    """Rows of patients with at-risk time for their endpoint."""
    return dataset[dataset["excluded_reason"] == ""]


def strata(dataset: pd.DataFrame, stratify_by: str) -> Iterator[tuple[str, pd.DataFrame]]:
    """(stratum, rows) in display order; strata without patients are skipped."""
    column = STRATUM_COLUMN[stratify_by]
    if column is None:
        yield "all", dataset
        return
    present = set(dataset[column])
    for label in stratum_order(stratify_by):
        if label in present:
            yield label, dataset[dataset[column] == label]


def fit_strata(
    dataset: pd.DataFrame, stratify_by: list[str], conf_level: float = 0.95
) -> Iterator[tuple[str, str, str, KaplanMeierFit]]:
    """(endpoint, stratify_by, stratum, fit) for every endpoint × stratification × stratum."""
    rows = analysed(dataset)
    for endpoint_name, endpoint_rows in rows.groupby("endpoint", sort=False):
        for by in stratify_by:
            for label, group in strata(endpoint_rows, by):
                fit = kaplan_meier(
                    group["entry_age"], group["exit_age"], group["event"], conf_level
                )
                yield endpoint_name, by, label, fit


def km_tables(
    dataset: pd.DataFrame,
    stratify_by: list[str],
    landmark_ages: list[float],
    conf_level: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(km_summary, km_curves)`` for every endpoint in ``dataset``."""
    summaries, curves = [], []
    for endpoint_name, by, label, fit in fit_strata(dataset, stratify_by, conf_level):
        key = {"endpoint": endpoint_name, "stratify_by": by, "stratum": label}
        median, lo, hi = fit.median()
        landmarks = fit.survival_at(landmark_ages)
        summaries.append(
            {
                **key,
                "n": fit.n_subjects,
                "events": fit.events,
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
    summary_columns = SUMMARY_COLUMNS + [landmark_column(a) for a in landmark_ages]
    summary = pd.DataFrame(summaries, columns=summary_columns)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    return summary, curve[CURVE_COLUMNS]
