"""The IPCW sensitivity analysis in the report: per endpoint, the estimates of the whole
cohort (stratum ``all``) of the natural-history, IPCW-weighted and all-follow-up analyses side
by side, and a line on the distribution of the weights. The estimates pass through
:func:`smanh.disclosure.release.release` (none for fewer than T events); stratified IPCW
estimates are in ``km_summary_ipcw.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.disclosure import plain_text
from smanh.disclosure.release import hidden_weight_terms, release
from smanh.report.display import ci, format_number, suppress_count

NATURAL_HISTORY, IPCW, ALL_FOLLOW_UP = "natural history", "IPCW", "all follow-up"


def _all_row(table: pd.DataFrame | None, endpoint: str) -> pd.Series | None:
    if table is None or table.empty:
        return None
    rows = table[(table["endpoint"] == endpoint) & (table["stratify_by"] == "all")]
    return rows.iloc[0] if len(rows) else None


def _band_at(curves: pd.DataFrame | None, endpoint: str, age: float) -> tuple[float, float]:
    """The curve's confidence limits at ``age`` (step function) in the ``all`` stratum."""
    if curves is None or curves.empty:
        return np.nan, np.nan
    curve = curves[(curves["endpoint"] == endpoint) & (curves["stratify_by"] == "all")]
    times = curve["time_years"].to_numpy(float)
    i = np.searchsorted(times, age, side="right") - 1
    if i < 0:
        return np.nan, np.nan
    return float(curve["lo"].iloc[i]), float(curve["hi"].iloc[i])


def _value(row, column) -> float:
    if row is None or column not in row.index:
        return np.nan
    return float(pd.to_numeric(row[column], errors="coerce"))


def ipcw_comparison(tables: dict[str, pd.DataFrame | None], endpoint: str, analysis: dict,
                    min_cell_count: int) -> dict | None:
    """``{"table", "weights", "interval_months", "truncate"}`` for ``endpoint`` (a display
    table, the weights sentence, the settings as text), or None without IPCW tables."""
    ipcw_summary = tables.get("km_summary_ipcw")
    if ipcw_summary is None or not (ipcw_summary["endpoint"] == endpoint).any():
        return None
    summaries = {name: tables.get(name) for name in ("km_summary", "km_summary_sensitivity", "km_summary_ipcw")}
    released = release({k: v[v["endpoint"] == endpoint] for k, v in summaries.items() if v is not None},
                       min_cell_count)
    censor = analysis["censor_at_treatment"]
    sources = {  # analysis: (released summary, exact curves)
        NATURAL_HISTORY: ("km_summary", "km_curves") if censor else ("km_summary_sensitivity", "km_curves_sensitivity"),
        IPCW: ("km_summary_ipcw", None),
        ALL_FOLLOW_UP: ("km_summary_sensitivity", "km_curves_sensitivity") if censor else ("km_summary", "km_curves"),
    }
    rows = {label: _all_row(released.get(summary), endpoint) for label, (summary, _) in sources.items()}
    lines = [{"estimate": "patients (events)", **{
        label: "—" if row is None else f"{row['n']} ({row['events']})" for label, row in rows.items()}}]
    lines.append({"estimate": "median age (95% CI)", **{
        label: ci(_value(row, "median_years"), _value(row, "median_lo"), _value(row, "median_hi"))
        for label, row in rows.items()}})
    for age in analysis["landmark_ages"]:
        column = f"s_{age:g}y"
        cells = {}
        for label, (_, curves) in sources.items():
            row = rows[label]
            estimate = _value(row, column)
            if label == IPCW:
                lo, hi = _value(row, f"{column}_lo"), _value(row, f"{column}_hi")
            else:
                lo, hi = _band_at(tables.get(curves), endpoint, age) if np.isfinite(estimate) else (np.nan, np.nan)
            cells[label] = ci(estimate, lo, hi)
        lines.append({"estimate": f"S({age:g} y) (95% CI)", **cells})
    rmst = tables.get("rmst")
    main_label = NATURAL_HISTORY if censor else ALL_FOLLOW_UP
    main_exact = _all_row(summaries["km_summary"], endpoint)
    main_released = main_exact is not None and _value(main_exact, "events") >= min_cell_count
    for tau in analysis["rmst_horizons"]:
        cells = {label: "—" for label in sources}
        column = f"rmst_{tau:g}y"
        row = rows[IPCW]
        cells[IPCW] = ci(_value(row, column), _value(row, f"{column}_lo"), _value(row, f"{column}_hi"))
        if main_released and rmst is not None and not rmst.empty:
            main = rmst[(rmst["endpoint"] == endpoint) & (rmst["stratify_by"] == "all") & (rmst["tau"] == tau)]
            if len(main):
                cells[main_label] = ci(*(float(main[c].iloc[0]) for c in ("rmst", "lo", "hi")))
        lines.append({"estimate": f"RMST to {tau:g} y (95% CI)", **cells})
    table = pd.DataFrame(lines)
    table = table[(table[list(sources)] != "—").any(axis=1)]
    options = analysis["ipcw"]
    return {"table": table, "weights": weight_line(tables.get("ipcw_model"), endpoint, min_cell_count),
            "interval_months": f"{options['interval_months']:g}",
            "truncate": " and ".join(map(ordinal, options["truncate_percentiles"]))}


def ordinal(value: float) -> str:
    """``1st``, ``2nd``, ``99th``, ``12.5th``."""
    text = f"{value:g}"
    if not float(value).is_integer() or 10 <= int(value) % 100 <= 20:
        return f"{text}th"
    return text + {1: "st", 2: "nd", 3: "rd"}.get(int(value) % 10, "th")


def weight_line(model: pd.DataFrame | None, endpoint: str, min_cell_count: int) -> str:
    """One sentence on the weights and the data of the treatment models."""
    if model is None or model.empty:
        return ""
    rows = model[model["endpoint"] == endpoint]
    data = rows[rows["model"] == "data"]
    note = "" if data.empty or pd.isna(data["note"].iloc[0]) else plain_text(str(data["note"].iloc[0]), min_cell_count)
    hidden = hidden_weight_terms(rows, min_cell_count).get(endpoint, set())
    weights = rows[(rows["model"] == "weights") & ~rows["term"].isin(hidden)]
    stats = dict(zip(weights["term"], weights["estimate"]))
    counts = ""
    if len(data):
        d = data.iloc[0]
        counts = (f"{suppress_count(d['n_intervals'], min_cell_count)} person-intervals of "
                  f"{suppress_count(d['n_patients'], min_cell_count)} patients, "
                  f"{suppress_count(d['n_treatment_starts'], min_cell_count)} treatment starts. ")
    if not stats or "p50" not in stats:  # none, or not released (fewer than T patients)
        return counts + (note[0].upper() + note[1:] + "." if note else "")
    truncated = (f"{format_number(100 * stats['share_truncated'], 1)}% of intervals" if "share_truncated" in stats
                 else f"fewer than {min_cell_count} intervals")
    text = (f"Weights: median {format_number(stats['p50'])}, 1st–99th percentile {format_number(stats['p01'])}"
            f"–{format_number(stats['p99'])}, 5th–95th {format_number(stats['p05'])}–{format_number(stats['p95'])}, "
            f"mean {format_number(stats['mean'])}; truncated at {format_number(stats['lower_bound'])} and "
            f"{format_number(stats['upper_bound'])} ({truncated}), mean after truncation {format_number(stats['mean_truncated'])}. ")
    return counts + text + (note[0].upper() + note[1:] + "." if note else "")
