"""Numbers as the report shows them: counts through small-cell suppression
(:mod:`smanh.disclosure`), estimates rounded, not-estimable values as a dash; Table 1 and the
published comparison laid out for reading."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pandas as pd

from smanh.disclosure import show_count, show_group

COUNT_COLUMNS = ("n", "events", "at_risk")


def suppress_count(value, min_cell_count: int) -> str:
    """A count as shown in the report: ``<min`` below the threshold."""
    return show_count(value, min_cell_count)


def format_number(value, digits: int = 2) -> str:
    """Estimates to ``digits`` decimals; not reached / not estimable as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def display_table(
    frame: pd.DataFrame, min_cell_count: int, digits: int = 2, groups: list[str] | None = None
) -> pd.DataFrame:
    """The table with counts suppressed and estimates rounded, all as text.

    ``groups``: columns whose rows' counts add up to a total shown too (strata of one
    stratification, steps of one endpoint); within each, complementary suppression.
    """
    shown = frame.copy().astype(object)
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            shown[column] = _counts_shown(frame, column, min_cell_count, groups)
        elif pd.api.types.is_float_dtype(frame[column]):
            shown[column] = [format_number(v, digits) for v in frame[column]]
    return shown


def _counts_shown(frame: pd.DataFrame, column: str, min_cell_count: int, groups) -> list[str]:
    if not groups:
        return [show_count(v, min_cell_count) for v in frame[column]]
    shown = pd.Series("", index=frame.index, dtype=object)
    for _, rows in frame.groupby(groups, sort=False):
        shown[rows.index] = show_group(list(rows[column]), min_cell_count)
    return list(shown)


def ci(estimate, lo, hi, digits: int = 2) -> str:
    if estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return "—"
    return f"{format_number(estimate, digits)} ({format_number(lo, digits)} to {format_number(hi, digits)})"


def embed_figure(path: str | Path) -> str:
    """A figure's SVG as a data URI for an ``<img>``: vector in the report and its PDF, and
    in a document of its own (inline, the figures' element ids could clash)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/svg+xml;base64,{data}"


TABLE1_LABELS = {
    "patients": "Patients", "sex": "Sex", "smn2_copies": "SMN2 copies",
    "age_at_onset": "Age at onset, years", "age_at_diagnosis": "Age at diagnosis, years",
    "age_at_enrolment": "Age at enrolment, years", "follow_up_years": "Follow-up, years",
    "person_years": "Person-years of follow-up", "treated": "Treated (disease-modifying)",
    "age_at_first_treatment": "Age at first treatment, years", "died": "Died",
}


def table1_display(table1: pd.DataFrame, min_cell_count: int) -> pd.DataFrame:
    """Table 1 as shown: n (%) or median [Q1–Q3] (n known) per SMA type group column;
    levels of one characteristic add up to the column's patients, so small cells get
    complementary suppression."""
    groups = list(dict.fromkeys(table1["sma_type"]))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for (characteristic, group), rows in table1.groupby(["characteristic", "sma_type"], sort=False):
        counted = rows["level"] != "median_iqr"
        shown = show_group(list(rows["n"]), min_cell_count) if counted.all() and characteristic in (
            "sex", "smn2_copies") else [show_count(n, min_cell_count) for n in rows["n"]]
        for r, n_shown in zip(rows.itertuples(), shown):
            cells.setdefault((characteristic, r.level), {})[group] = _table1_cell(r, n_shown)
    rows = []
    for (characteristic, level), values in cells.items():
        label = TABLE1_LABELS.get(characteristic, characteristic)
        if level not in ("all", "median_iqr", "sum", "yes"):
            label = f"{label}: {level.replace('_', ' ')}"
        rows.append({"characteristic": label, **{f"type {g}" if g != "all" else "all": values.get(g, "") for g in groups}})
    return pd.DataFrame(rows)


def _table1_cell(r, n_shown: str) -> str:
    if r.level == "median_iqr":
        if pd.isna(r.median):
            return "—"
        return f"{r.median:.2f} [{r.q1:.2f}–{r.q3:.2f}]"
    if r.characteristic == "person_years":
        return f"{r.median:,.1f}"
    if r.characteristic == "patients" or n_shown.startswith(("<", "≈")):
        return n_shown
    return f"{n_shown} ({r.percent:.1f}%)"


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """Published point beside our estimate with its CI."""
    return pd.DataFrame({
        "source": comparison["source"],
        "quantity": [_quantity(r) for r in comparison.itertuples()],
        "SMA type": comparison["sma_type"],
        "published": [format_number(v, 2) for v in comparison["published"]],
        "this registry (95% CI)": [
            "—" if pd.isna(e) else (ci(e, lo, hi) if not pd.isna(lo) else format_number(e, 2))
            for e, lo, hi in zip(comparison["estimate"], comparison["lo"], comparison["hi"])
        ],
        "note": comparison["note"].fillna(""),
    })


def _quantity(r) -> str:
    what = r.endpoint_or_scale.replace("_", " ")
    if r.measure == "survival":
        return f"free of {what} {r.time_years:.2f} y after {r.time_origin}"
    if r.measure == "slope":
        return f"{what} slope, {r.unit}"
    return f"{what} 12-month change, {'mean' if r.measure.endswith('mean') else 'SD'}"
