"""The report's first page: what the data are (cut-off, calendar period, sites, patients)
and the key estimates a reviewer looks for first — per endpoint and SMA type the median age
at the event, per scale and SMA type the natural-history slope — each with its confidence
interval, and only where the released table gives it without a note (no estimate a note
qualifies, none of a stratum with fewer than T events: those are not released)."""

from __future__ import annotations

import math

import pandas as pd

from smanh.disclosure import show_count
from smanh.report.display import ci, level_label

# A note that only says which landmark ages fall outside the estimable range qualifies the
# landmark estimates (blank there), not the median.
LANDMARK_NOTE = "landmark age(s)"
# SMA type strata a first page shows (the analysis' type groups; unknown and rare types stay
# in the section tables).
KEY_TYPES = ("1", "2", "3")


def registry_facts(patients: pd.DataFrame | None) -> dict:
    """Calendar facts of the export for ``summary.json``: the month of the first enrolment
    (a month, never a patient's date) and the number of sites (with how many patients have
    one). Nothing when the patients are not given."""
    if patients is None or patients.empty:
        return {"first_enrolment": None, "sites": 0, "patients_with_site": 0}
    enrolment = pd.to_datetime(patients["enrolment_date"], errors="coerce").dropna()
    site = patients["site"].dropna().astype(str) if "site" in patients else pd.Series(dtype=str)
    site = site[site.str.strip() != ""]
    return {
        "first_enrolment": enrolment.min().strftime("%Y-%m") if len(enrolment) else None,
        "sites": int(site.nunique()),
        "patients_with_site": int(len(site)),
    }


def facts(summary: dict, cohort_flow: pd.DataFrame, min_cell_count: int) -> dict:
    """The first page's lines: cut-off, calendar period, sites (the number of sites under the
    count rules), patients in the export and passing validation."""
    registry = summary["registry"]
    known = summary.get("registry_facts") or {}
    flow = {r.step: r.n for r in cohort_flow[cohort_flow["endpoint"] == "all"].itertuples()}
    sites = known.get("sites") or 0
    return {
        "data_cutoff": registry.get("data_cutoff"),
        "first_enrolment": known.get("first_enrolment"),
        "sites": show_count(sites, min_cell_count) if sites else "not recorded",
        "patients_in_export": show_count(flow.get("export", registry.get("patients_in_export")), min_cell_count),
        "patients_validated": show_count(flow.get("validated"), min_cell_count),
        "individual_level_figures": bool(summary["config"]["report"].get("individual_level_figures")),
    }


def _flag_free(row, min_cell_count: int) -> bool:
    note = "" if pd.isna(row.note) else str(row.note)
    events = pd.to_numeric(str(row.events).replace(",", ""), errors="coerce")
    return (not note or note.startswith(LANDMARK_NOTE)) and not pd.isna(events) and events >= min_cell_count


def _finite(*values) -> bool:
    return all(v is not None and not (isinstance(v, float) and math.isnan(v)) and not pd.isna(v) for v in values)


def key_medians(km_summary: pd.DataFrame, min_cell_count: int, empty: dict) -> pd.DataFrame:
    """Per endpoint one row: the median age at the event (CI) overall and per SMA type 1-3,
    from the released ``km_summary``; a dash where the median or its interval is not
    estimable, or the estimate carries a note."""
    rows = []
    for name, part in km_summary.groupby("endpoint", sort=False):
        if name in empty:
            continue
        cells = {}
        for label, by, stratum in [("all", "all", "all"), *[(f"type {t}", "sma_type", t) for t in KEY_TYPES]]:
            match = part[(part["stratify_by"] == by) & (part["stratum"].map(level_label) == stratum)]
            cell = "—"
            if len(match):
                r = next(match.itertuples())
                if _flag_free(r, min_cell_count) and _finite(r.median_years, r.median_lo, r.median_hi):
                    cell = ci(r.median_years, r.median_lo, r.median_hi, 1)
            cells[label] = cell
        if any(v != "—" for v in cells.values()):
            rows.append({"endpoint": name.replace("_", " "), **cells})
    return pd.DataFrame(rows)


def key_slopes(lmm_slopes: pd.DataFrame | None, empty_scales: dict) -> pd.DataFrame:
    """Per scale one row: the natural-history slope per year (CI) per SMA type stratum,
    where the model's estimate carries no note (no singular fit, no random-intercept-only
    fallback, not too few patients)."""
    if lmm_slopes is None or lmm_slopes.empty:
        return pd.DataFrame()
    slopes = lmm_slopes[lmm_slopes["stratify_by"].isin(["all", "sma_type"])]
    strata = sorted((s for s in dict.fromkeys(slopes["stratum"].map(level_label)) if s not in ("unknown", "")),
                    key=lambda s: (s != "all", s))
    rows = []
    for scale, part in slopes.groupby("scale", sort=False):
        if scale in empty_scales:
            continue
        cells = {}
        for stratum in strata:
            match = part[part["stratum"].map(level_label) == stratum]
            cell = ""
            if len(match):
                r = next(match.itertuples())
                free = pd.isna(r.note) or not str(r.note)
                cell = ci(r.slope_per_year, r.lo, r.hi) if free and _finite(r.slope_per_year, r.lo, r.hi) else "—"
            cells["all" if stratum == "all" else f"type {stratum}"] = cell
        if any(v not in ("", "—") for v in cells.values()):
            rows.append({"scale": scale, **cells})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    keep = [c for c in frame.columns if c == "scale" or (frame[c] != "").any()]
    return frame[keep].fillna("")
