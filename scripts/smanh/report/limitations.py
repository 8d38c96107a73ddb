"""Warnings and limitations written from the data, not boilerplate: how many patients were
treated (and so censored at treatment in natural-history mode), how many have an unknown
SMN2 copy number, which endpoints and scales the export does not record, how many were
excluded at each step of the cohort flow, deaths after last contact, imputed dates; then
where assumptions fail or estimates are fragile. Every count goes through the disclosure
rules (:func:`smanh.disclosure.show_count`): ``<T`` below the threshold, and a percentage
only beside a count that is shown."""

from __future__ import annotations

import pandas as pd

from smanh.disclosure import show_count
from smanh.report.display import format_p
from smanh.report.external_control import external_control_warnings


def quality_value(data_quality: pd.DataFrame, section: str, table: str, field: str, statistic: str = "patients") -> int:
    rows = data_quality[(data_quality["section"] == section) & (data_quality["table"] == table)
                        & (data_quality["field"].fillna("") == field) & (data_quality["statistic"] == statistic)]
    return int(float(rows["value"].iloc[0])) if len(rows) else 0


def _share(n, total, min_cell_count: int) -> str:
    """``n`` as shown, with its percentage of ``total`` only when the count itself is shown."""
    shown = show_count(n, min_cell_count)
    if not total or shown.startswith("<") or n == 0:
        return shown
    return f"{shown} ({100 * n / total:.0f}%)"


def _table1_all(table1: pd.DataFrame, characteristic: str, level: str):
    rows = table1[(table1["characteristic"] == characteristic) & (table1["level"].astype(str) == level)
                  & (table1["sma_type"].astype(str) == "all")]
    return (int(rows["n"].iloc[0]), int(rows["total"].iloc[0])) if len(rows) else (None, None)


def data_limitations(tables: dict[str, pd.DataFrame], summary: dict, min_cell_count: int, empty: dict) -> list[str]:
    """The limitations the data set: in words, with numbers under the disclosure rules."""
    T = min_cell_count
    config = summary["config"]
    found = []
    table1 = tables.get("table1")
    if table1 is not None and len(table1):
        treated, total = _table1_all(table1, "treated", "any")
        if treated:
            if config["analysis"]["censor_at_treatment"]:
                found.append(f"{_share(treated, total, T)} patients received a disease-modifying treatment: in "
                             "natural-history mode their follow-up ends at its start (censoring assumed unrelated "
                             "to prognosis given age and stratum; the sensitivity analysis follows them through "
                             "treatment).")
            else:
                found.append(f"{_share(treated, total, T)} patients received a disease-modifying treatment and are "
                             "followed through it: the estimates mix natural history and treatment.")
        unknown, total = _table1_all(table1, "smn2_copies", "unknown")
        if unknown:
            found.append(f"SMN2 copy number unknown for {_share(unknown, total, T)} patients: they form their own "
                         "stratum and are left out of the models adjusting for it.")
    names = [name.replace("_", " ") for name in empty["endpoints"]]
    if names:
        found.append(f"Not recorded in the export, so not estimated: {', '.join(names)} (endpoints).")
    if empty["scales"]:
        found.append(f"Not recorded in the export, so not estimated: {', '.join(empty['scales'])} (scales).")
    found += _exclusions(tables["cohort_flow"], T, set(empty["endpoints"]))
    data_quality = tables["data_quality"]
    deaths_late = quality_value(data_quality, "recorded", "patients", "death_after_last_contact")
    if deaths_late and not config["registry"].get("vital_status_date"):
        found.append(
            f"{show_count(deaths_late, T)} deaths are dated after the patient's last contact: death endpoints "
            "censor those patients at last contact (set registry.vital_status_date where deaths are ascertained "
            "completely, e.g. by linkage).")
    late = quality_value(data_quality, "after_last_contact", "all", "")
    if late:
        found.append(
            f"{show_count(late, T)} patients have records dated after their last contact: follow-up ends at last "
            "contact, so those records do not enter the survival analyses.")
    imputed = summary["registry"].get("imputed_dates") or []
    if imputed:
        parts = ", ".join(f"{i['table']}.{i['column']} {show_count(i['n'], T)}" for i in imputed)
        found.append(f"Partial dates were imputed (YYYY-MM → 15th, YYYY → 1 July): {parts}.")
    found.append("Registries enrol prevalent patients: estimates are conditional on survival to enrolment, which "
                 "delayed entry corrects for only if entry is independent of prognosis at the same age.")
    return found


def _exclusions(cohort_flow: pd.DataFrame, min_cell_count: int, skip: set[str]) -> list[str]:
    """One line per exclusion reason with patients: how many, for which endpoints."""
    excluded = cohort_flow[(cohort_flow["step"] == "excluded") & (cohort_flow["n"] > 0)
                           & ~cohort_flow["endpoint"].isin(skip)]
    lines = []
    validation = cohort_flow[(cohort_flow["endpoint"] == "all") & (cohort_flow["step"] == "excluded")]
    if len(validation) and validation["n"].sum() > 0:
        lines.append(f"Excluded at validation: {show_count(int(validation['n'].sum()), min_cell_count)} patients.")
    endpoints = set(cohort_flow.loc[~cohort_flow["endpoint"].isin(["all", *skip]), "endpoint"])
    for reason, rows in excluded[excluded["endpoint"] != "all"].groupby("reason", sort=False):
        counts = {show_count(int(n), min_cell_count) for n in rows["n"]}
        which = ("every endpoint" if set(rows["endpoint"]) == endpoints and len(endpoints) > 1
                 else ", ".join(e.replace("_", " ") for e in rows["endpoint"]))
        shown = next(iter(counts)) if len(counts) == 1 else "from " + " to ".join(
            sorted(counts, key=lambda c: float(c.strip("<≈").replace(",", "")))[::len(counts) - 1])
        lines.append(f"Excluded ({reason}): {shown} patients ({which}).")
    return lines


def warnings(tables: dict[str, pd.DataFrame], summary: dict, min_cell_count: int, empty: dict) -> list[str]:
    """Where assumptions fail or estimates are fragile: in words, from the tables."""
    found = []
    km = tables["km_summary"]
    min_size = summary["config"]["analysis"]["min_stratum_size"]
    few = km[(km["n"] < min_size) & ~km["endpoint"].isin(list(empty["endpoints"]))]
    if len(few):
        found.append(
            f"{len(few)} endpoint × stratum combinations have fewer than {min_size} patients: "
            "their counts are reported, their curves are not estimated.")
    no_events = km[(km["events"] == 0) & ~km["endpoint"].isin(list(empty["endpoints"]))]
    if len(no_events):
        found.append(f"{len(no_events)} endpoint × stratum combinations have no events.")
    cox = tables.get("cox")
    if cox is not None and len(cox):
        violated = cox[cox["ph_violated"].astype(str).isin(["True", "1", "1.0"])]
        for (name, model), rows in violated.groupby(["endpoint", "model"], sort=False):
            found.append(
                f"Cox model {model} for {name.replace('_', ' ')}: proportional hazards rejected "
                f"(global test p {_p_phrase(rows['ph_global_p'].iloc[0])}); its hazard ratios are averages over age.")
        failed = cox[cox["hr"].isna() & cox["note"].notna() & ~cox["endpoint"].isin(list(empty["endpoints"]))]
        for r in failed.drop_duplicates(["endpoint", "model"]).itertuples():
            found.append(f"Cox model {r.model} for {r.endpoint.replace('_', ' ')}: {r.note}.")
    variance = tables.get("lmm_variance_components")
    if variance is not None and len(variance):
        for r in variance.itertuples():
            status = str(getattr(r, "status", ""))
            if status == "random_intercept_only" or str(getattr(r, "singular", "")) in ("True", "1", "1.0"):
                what = "random intercept only" if status == "random_intercept_only" else "singular fit"
                found.append(f"Mixed model of {r.scale} ({r.stratify_by} {r.stratum}): {what}.")
    found += external_control_warnings(tables, min_cell_count)
    return found


def _p_phrase(p) -> str:
    shown = format_p(p)
    return shown if shown.startswith("<") else f"= {shown}"
