"""The registry beside the published natural history (``data/reference/``).

``comparison_table`` pairs each published reference point with the registry's own
estimate of the same quantity — read off ``km_curves.csv``, ``lmm_slopes.csv`` and
``change_12m.csv`` — so the report's comparison is traceable to ``results/tables/``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REFERENCE_FILE = "published_natural_history.csv"
COMPARISON_COLUMNS = [
    "key", "source", "measure", "endpoint_or_scale", "sma_type", "time_origin", "time_years",
    "published", "unit", "estimate", "lo", "hi", "note",
]


def comparison_table(
    reference: pd.DataFrame,
    km_curves: pd.DataFrame,
    lmm_slopes: pd.DataFrame | None = None,
    change_12m: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per published point (and per type for pooled ones) with our estimate."""
    # The curves by endpoint and SMA type, split once (at registry scale km_curves has
    # hundreds of thousands of rows: filtering it anew for every point took a second).
    by_type = km_curves[km_curves["stratify_by"] == "sma_type"]
    curves = {key: curve for key, curve in by_type.groupby(["endpoint", "stratum"], sort=False)}
    rows = []
    for point in reference.itertuples(index=False):
        base = {
            "key": point.key, "source": point.source, "measure": point.measure,
            "endpoint_or_scale": point.endpoint_or_scale, "sma_type": point.sma_type,
            "time_origin": point.time_origin, "time_years": point.time_years,
            "published": point.value, "unit": point.unit,
        }
        if point.measure == "survival":
            rows.append({**base, **_survival_estimate(point, curves)})
        elif point.measure == "slope":
            rows.append({**base, **_slope_estimate(point, lmm_slopes)})
        else:
            for group in str(point.sma_type).split("/"):
                rows.append({**base, "sma_type": group, **_change_estimate(point, group, change_12m)})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _not_estimated(note: str) -> dict:
    return {"estimate": np.nan, "lo": np.nan, "hi": np.nan, "note": note}


def _survival_estimate(point, curves: dict[tuple[str, str], pd.DataFrame]) -> dict:
    if point.time_origin != "birth" or point.sma_type not in {"0", "1", "2", "3", "4"}:
        return _not_estimated(
            f"not estimated: the registry's survival strata are SMA type groups on the age scale "
            f"(published: type {point.sma_type}, time since {point.time_origin})"
        )
    curve = curves.get((point.endpoint_or_scale, point.sma_type))
    if curve is None or curve.empty:
        return _not_estimated("not estimated: endpoint or stratum not analysed")
    times = curve["time_years"].to_numpy()
    start, end = float(curve["from_age"].iloc[0]), float(curve["to_age"].iloc[0])
    if not start <= point.time_years <= end:
        return _not_estimated(f"not estimated: outside the registry's estimable range {start:.2f}–{end:.2f} years")
    index = np.searchsorted(times, point.time_years, side="right") - 1
    if index < 0:  # before the curve's first step: still S = 1 given event-free at its start
        estimate = {"estimate": 1.0, "lo": np.nan, "hi": np.nan}
    else:
        row = curve.iloc[index]
        estimate = {"estimate": row["survival"], "lo": row["lo"], "hi": row["hi"]}
    # published points are from birth; the registry's curve is given event-free at its start
    note = f"registry: given event-free at {start:.2f} years" if start > 0 else ""
    return {**estimate, "note": note}


def _slope_estimate(point, lmm_slopes: pd.DataFrame | None) -> dict:
    """The registry's natural-history rate (the longitudinal slope when both time scales
    are fitted)."""
    if lmm_slopes is not None and "natural_history_rate" in lmm_slopes:
        rate = lmm_slopes["natural_history_rate"].astype(str).str.lower().isin(["true", "1", "1.0"])
        lmm_slopes = lmm_slopes[rate]
    rows = _rows(lmm_slopes, "scale", point.endpoint_or_scale, point.sma_type)
    if rows is None or pd.isna(rows["slope_per_year"]):
        return _not_estimated("not estimated: scale or stratum not modelled")
    note = ("registry: slope per year of follow-up (baseline age + years since baseline)"
            if rows.get("time_scale") == "baseline_age_and_time" else "")
    return {"estimate": rows["slope_per_year"], "lo": rows["lo"], "hi": rows["hi"], "note": note}


def _change_estimate(point, group: str, change_12m: pd.DataFrame | None) -> dict:
    rows = _rows(change_12m, "scale", point.endpoint_or_scale, group)
    if rows is None:
        return _not_estimated("not estimated: scale or stratum without 12-month pairs")
    note = "published: types 2 and 3 pooled" if "/" in str(point.sma_type) else ""
    if point.measure == "change_12m_sd":
        return {"estimate": rows["sd"], "lo": np.nan, "hi": np.nan, "note": note}
    return {"estimate": rows["mean"], "lo": rows["mean_lo"], "hi": rows["mean_hi"], "note": note}


def _rows(table: pd.DataFrame | None, column: str, value: str, group: str):
    if table is None or table.empty:
        return None
    match = table[(table[column] == value) & (table["stratify_by"] == "sma_type")
                  & (table["stratum"].astype(str) == group)]
    return None if match.empty else match.iloc[0]
