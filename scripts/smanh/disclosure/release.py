"""What leaves the secure environment: one disclosure pass over every released table.

``results/tables/`` holds exact counts and stays inside; :func:`release` turns those tables
into the ones the report shows and ``results/share/`` holds. Every count becomes text:

* ``0`` — a structural zero discloses nobody and keeps the margins checkable;
* ``<T`` — a count from 1 to T − 1 (``report.min_cell_count``, primary suppression);
* ``≈N`` — rounded to ten, where an exact count would let a reader recover a small one by
  subtraction: the smallest other cell of a group whose total is released with one cell
  hidden (complementary suppression, :func:`smanh.disclosure.hidden_cells`), and a count
  that differs by 1 to T − 1 from another released count of the same patients it is a part
  of (the n of a test or model beside the n of its endpoint; known beside rows of a field);
* the exact count otherwise.

The relations are solved across tables: the strata of a stratification add up to the
endpoint's ``all`` row, the reasons of a cohort-flow step to its total, Table 1's levels to
their column and its type columns to ``all``, the three 12-month change categories to their
pairs. Estimates that would give a hidden count away go with it: the shares and percentages
of a hidden count, survival estimates and curves of a stratum with fewer than T events,
Table 1 medians of fewer than T patients. Curves are released on a grid of ages
(:data:`CURVE_STEP_YEARS`), never at individual event ages, and only while T are at risk.
Notes carry no counts (they say "fewer than T").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smanh.disclosure import plain_text
from smanh.ingest.data_quality import COUNT_STATISTICS

# Curves are released as step functions read at every month of age: the exact ages of
# individual events stay inside.
CURVE_STEP_YEARS = 1 / 12
# Tables released as they are (no count in them).
WITHOUT_COUNTS = ("lmm_fixed_effects", "lmm_trajectories", "parametric_curves", "published_comparison")
SMALL_EVENTS_NOTE = "fewer than {T} events: estimates not released"
CURVE_TABLES = ("km_curves", "km_curves_sensitivity", "km_curves_ipcw")
SUMMARY_TABLES = {"km_summary": "km_curves", "km_summary_sensitivity": "km_curves_sensitivity",
                  "km_summary_ipcw": "km_curves_ipcw"}


class Counts:
    """One count column: its values and, per cell, exact / hidden (``<T``) / rounded (``≈``)."""

    EXACT, HIDDEN, ROUNDED = 0, 1, 2

    def __init__(self, values: pd.Series, threshold: int):
        self.values = pd.to_numeric(values, errors="coerce").to_numpy(float)
        self.threshold = threshold
        known = ~np.isnan(self.values)
        self.state = np.where(known & (self.values > 0) & (self.values < threshold), self.HIDDEN, self.EXACT)

    @property
    def exact(self) -> np.ndarray:
        return (self.state == self.EXACT) & ~np.isnan(self.values)

    def complement(self, rows: np.ndarray) -> None:
        """Complementary suppression in a group of ``rows`` whose total is released: a lone
        non-exact cell could be recovered by subtraction, so the smallest other non-zero
        cell is rounded too (a zero protects nothing and stays shown)."""
        values, state = self.values[rows], self.state[rows]
        protected = (state != self.EXACT) & (values > 0)
        if protected.sum() != 1:
            return
        others = np.flatnonzero((state == self.EXACT) & (values > 0))
        if others.size:
            self.state[rows[others[np.argmin(values[others])]]] = self.ROUNDED

    def round_where(self, mask: np.ndarray) -> None:
        self.state[mask & self.exact & (self.values > 0)] = self.ROUNDED

    def text(self) -> list[str]:
        out = []
        for value, state in zip(self.values, self.state):
            if np.isnan(value):
                out.append("")
            elif state == self.HIDDEN:
                out.append(f"<{self.threshold}")
            elif state == self.ROUNDED:
                out.append(f"≈{(int(value) + 5) // 10 * 10:,}")
            else:
                out.append(f"{int(value):,}")
        return out


def near(values: np.ndarray, references: np.ndarray, threshold: int) -> np.ndarray:
    """Which ``values`` differ by 1 to ``threshold - 1`` from one of ``references``."""
    references = references[~np.isnan(references)]
    if not references.size:
        return np.zeros(len(values), dtype=bool)
    gaps = np.abs(values[:, None] - references[None, :])
    return ((gaps > 0) & (gaps < threshold)).any(axis=1)


def plain_notes(notes: pd.Series, threshold: int) -> pd.Series:
    """Notes with every count from 1 to ``threshold - 1`` written as "fewer than T"."""
    return notes.map(lambda note: plain_text(note, threshold))


def release(tables: dict[str, pd.DataFrame], threshold: int) -> dict[str, pd.DataFrame]:
    """The released version of every table in ``tables`` (see the module docstring)."""
    out = {name: _release_one(name, table, threshold, tables) for name, table in tables.items() if table is not None}
    for table in out.values():
        if "note" in table:
            table["note"] = plain_notes(table["note"], threshold)
    return out


def _release_one(name: str, table: pd.DataFrame, threshold: int, tables: dict) -> pd.DataFrame:
    handler = _HANDLERS.get(name)
    if name.startswith("km_summary"):
        handler = _survival_summary
    elif name in CURVE_TABLES:
        handler = _curves
    if handler is None:
        return table.copy() if name in WITHOUT_COUNTS else _primary_only(table, threshold)
    return handler(table, threshold, tables=tables, summary=tables.get("km_summary"), name=name)


def _primary_only(table: pd.DataFrame, threshold: int) -> pd.DataFrame:
    shown = table.copy().astype(object)
    for column in count_columns(table):
        shown[column] = Counts(table[column], threshold).text()
    return shown


def count_columns(table: pd.DataFrame) -> list[str]:
    """Columns holding counts of patients, events or records."""
    return [c for c in table.columns
            if c in ("n", "events", "at_risk", "total") or (c.startswith("n_") and c != "n_iterations")]


def _groups(table: pd.DataFrame, keys: list[str]) -> list[np.ndarray]:
    if table.empty:
        return []
    return [np.asarray(rows) for rows in table.groupby(keys, sort=False).indices.values()]


# --------------------------------------------------------------------------- survival
def _endpoint_strata_counts(table: pd.DataFrame, threshold: int) -> dict[str, Counts]:
    """``n`` and ``events`` of a table of endpoint x stratification x stratum rows, with the
    strata of each stratification complementing each other against the ``all`` row."""
    counts = {c: Counts(table[c], threshold) for c in ("n", "events") if c in table}
    by = table["stratify_by"].to_numpy()
    for rows in _groups(table, ["endpoint", "stratify_by"]):
        if by[rows[0]] == "all":
            continue
        for c in counts.values():
            c.complement(rows)
    return counts


def _survival_summary(table, threshold, **_):
    counts = _endpoint_strata_counts(table, threshold)
    shown = table.copy().astype(object)
    few = (counts["events"].values > 0) & (counts["events"].values < threshold)
    estimates = [c for c in table.columns if c.startswith(("median", "s_", "rmst_")) and c != "stratify_by"]
    shown.loc[few, estimates] = np.nan
    note = SMALL_EVENTS_NOTE.format(T=threshold)
    shown.loc[few, "note"] = [note if not n or pd.isna(n) else f"{note}; {n}" for n in table.loc[few, "note"]]
    for name, c in counts.items():
        shown[name] = c.text()
    return shown


def _events_by_stratum(summary: pd.DataFrame | None) -> dict[tuple, float]:
    if summary is None or summary.empty:
        return {}
    return {(r.endpoint, r.stratify_by, str(r.stratum)): r.events for r in summary.itertuples()}


def _curves(table, threshold, tables, name, **_):
    """Step functions read at every month of age within their range, for strata with at
    least ``threshold`` events, while at least ``threshold`` are at risk."""
    summary_name = {v: k for k, v in SUMMARY_TABLES.items()}.get(name, "km_summary")
    return resample_curves(table, threshold, _events_by_stratum(tables.get(summary_name)),
                           value_columns=["survival", "lo", "hi"])


def resample_curves(table: pd.DataFrame, threshold: int, events: dict, value_columns: list[str],
                    keys=("endpoint", "stratify_by", "stratum")) -> pd.DataFrame:
    frames = []
    for key, curve in table.groupby(list(keys), sort=False):
        if events.get(tuple(map(str, key))[:3], threshold) < threshold:  # (endpoint, stratification, stratum)
            continue
        start, end = float(curve["from_age"].iloc[0]), float(curve["to_age"].iloc[0])
        grid = np.arange(np.ceil(start / CURVE_STEP_YEARS), np.floor(end / CURVE_STEP_YEARS) + 1) * CURVE_STEP_YEARS
        grid = grid[(grid >= start) & (grid <= end)]
        times = curve["time_years"].to_numpy(float)
        index = np.searchsorted(times, grid, side="right") - 1
        at = {}
        for column in value_columns:
            values = curve[column].to_numpy(float)
            start_value = 0.0 if column in ("cif", "one_minus_km", "se") else 1.0
            at[column] = np.where(index >= 0, values[np.maximum(index, 0)], start_value)
        # at risk just after each grid age: those whose next exit is after it
        after = np.searchsorted(times, grid, side="right")
        risk = curve["at_risk"].to_numpy(float)
        at_risk = np.where(after < len(times), risk[np.minimum(after, len(times) - 1)], np.nan)
        keep = ~(at_risk < threshold)
        frame = pd.DataFrame({c: curve[c].iloc[0] for c in curve.columns if c not in value_columns
                              and c not in ("time_years", "at_risk")}, index=range(int(keep.sum())))
        frame["age_years"] = np.round(grid[keep], 6)
        for column in value_columns:
            frame[column] = at[column][keep]
        frame["at_risk"] = Counts(pd.Series(at_risk[keep]), threshold).text()
        frames.append(frame)
    if not frames:
        columns = [c for c in table.columns if c != "time_years"] + ["age_years"]
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def _cuminc(table, threshold, tables, **_):
    events = _events_by_stratum(tables.get("km_summary"))
    frames = []
    for state, rows in table.groupby("state", sort=False):
        frames.append(resample_curves(rows, threshold, events, ["cif", "se", "lo", "hi", "one_minus_km"],
                                      keys=("endpoint", "stratify_by", "stratum", "state")))
    return pd.concat(frames, ignore_index=True) if frames else resample_curves(table, threshold, events, [])


def _external_curves(table, threshold, **_):
    """External-control curves per arm, read on the monthly grid from age 0 (delayed entry)
    to the last age with at least ``threshold`` at risk; the weighted number at risk (a
    count for the unweighted methods) is not released."""
    keys = ["endpoint", "model", "method", "arm"]
    table = table.drop(columns=["weighted_at_risk"], errors="ignore").copy()
    risk = pd.to_numeric(table["at_risk"], errors="coerce")
    last = table[risk >= threshold].groupby(keys, sort=False)["time_years"].max()
    table = table.join(last.rename("to_age"), on=keys)
    table["from_age"] = 0.0
    table = table[table["to_age"].notna()]
    released = resample_curves(table, threshold, {}, ["survival", "lo", "hi"], keys=tuple(keys))
    return released.drop(columns=["from_age", "to_age"], errors="ignore")


def _external_flow(table, threshold, **_):
    counts = Counts(table["n"], threshold)
    step = table["step"].to_numpy()
    for rows in _groups(table, ["arm"]):
        counts.complement(rows[step[rows] != "patients"])
    shown = table.copy().astype(object)
    shown["n"] = counts.text()
    return shown


def _at_risk(table, threshold, **_):
    counts = Counts(table["at_risk"], threshold)
    by = table["stratify_by"].to_numpy()
    for rows in _groups(table, ["endpoint", "stratify_by", "age_years"]):
        if by[rows[0]] != "all":
            counts.complement(rows)
    shown = table.copy().astype(object)
    shown["at_risk"] = counts.text()
    return shown


def _derived_survival_counts(table, threshold, summary, **_):
    """Counts of models and tests (a subset of an endpoint's patients): rounded where they
    differ by fewer than ``threshold`` from a count of the endpoint's strata."""
    shown = table.copy().astype(object)
    for column in ("n", "events"):
        if column not in table:
            continue
        counts = Counts(table[column], threshold)
        if summary is not None and len(summary):
            for endpoint in pd.unique(table["endpoint"]):
                mine = (table["endpoint"] == endpoint).to_numpy()
                references = pd.to_numeric(summary.loc[summary["endpoint"] == endpoint, column], errors="coerce")
                counts.round_where(mine & near(counts.values, references.to_numpy(float), threshold))
        shown[column] = counts.text()
    if "events" in table and "note" in table:
        few = pd.to_numeric(table["events"], errors="coerce").between(1, threshold - 1).to_numpy()
        estimates = [c for c in ("median_years", "rmst", "loglik", "aic", "bic", "delta_aic", "mu", "log_sigma", "Q")
                     if c in table]
        shown.loc[few, estimates] = np.nan
    return shown


def _ipcw_model(table, threshold, **_):
    """Counts of the person-interval data as counts; the coefficients of an endpoint whose
    models rest on 1 to T - 1 treatment starts are not released (the weight distribution,
    quantiles over thousands of intervals, is)."""
    shown = _primary_only(table, threshold)
    starts = pd.to_numeric(table["n_treatment_starts"], errors="coerce")
    for endpoint in table.loc[starts.between(1, threshold - 1), "endpoint"].unique():
        models = (table["endpoint"] == endpoint).to_numpy() & table["model"].isin(["numerator", "denominator"]).to_numpy()
        shown.loc[models, ["estimate", "se"]] = np.nan
    for endpoint, terms in hidden_weight_terms(table, threshold).items():
        rows = ((table["endpoint"] == endpoint) & (table["model"] == "weights") & table["term"].isin(terms)).to_numpy()
        shown.loc[rows, "estimate"] = np.nan
    shown["note"] = plain_notes(table["note"], threshold)
    return shown


def hidden_weight_terms(table: pd.DataFrame, threshold: int) -> dict[str, set[str]]:
    """Per endpoint, the weight statistics not released: all of them when the intervals are
    of 1 to T - 1 patients; the share truncated when it times the intervals is 1 to T - 1
    (it would give the number of truncated intervals)."""
    hidden: dict[str, set[str]] = {}
    for endpoint, rows in table.groupby("endpoint", sort=False):
        data = rows[rows["model"] == "data"]
        weights = rows[rows["model"] == "weights"]
        if data.empty or weights.empty:
            continue
        patients = pd.to_numeric(data["n_patients"], errors="coerce").iloc[0]
        intervals = pd.to_numeric(data["n_intervals"], errors="coerce").iloc[0]
        share = pd.to_numeric(weights.loc[weights["term"] == "share_truncated", "estimate"], errors="coerce")
        if 0 < patients < threshold:
            hidden[endpoint] = set(weights["term"])
        elif len(share) and 0 < round(share.iloc[0] * intervals) < threshold:
            hidden[endpoint] = {"share_truncated"}
    return hidden


# --------------------------------------------------------------------------- cohort
def _cohort_flow(table, threshold, **_):
    counts = Counts(table["n"], threshold)
    step = table["step"].to_numpy()
    for rows in _groups(table, ["endpoint"]):
        parts = rows[np.isin(step[rows], ["excluded", "analysed"])]
        counts.complement(parts)
    shown = table.copy().astype(object)
    shown["n"] = counts.text()
    return shown


def _table1(table, threshold, **_):
    counts = Counts(table["n"], threshold)
    characteristic, level = table["characteristic"].to_numpy(), table["level"].to_numpy()
    counted = ~np.isin(level, ["median_iqr", "sum"])
    for _ in range(3):  # the two directions until no new cell is hidden
        before = counts.state.copy()
        for rows in _groups(table, ["characteristic", "sma_type"]):
            rows = rows[counted[rows]]
            if len(rows) and characteristic[rows[0]] in ("sex", "smn2_copies"):
                counts.complement(rows)
        for rows in _groups(table, ["characteristic", "level"]):
            rows = rows[counted[rows] & (table["sma_type"].to_numpy()[rows] != "all")]
            if len(rows):
                counts.complement(rows)
        if (counts.state == before).all():
            break
    shown = table.copy().astype(object)
    hidden = counts.state != Counts.EXACT
    shown.loc[hidden, "percent"] = np.nan
    few = ~counted & (counts.values < threshold)  # medians of fewer than T patients
    shown.loc[few, ["median", "q1", "q3"]] = np.nan
    shown["n"] = counts.text()
    total = Counts(table["total"], threshold)
    shown["total"] = total.text()
    return shown


# --------------------------------------------------------------------------- progression
def _change(table, threshold, **_):
    shown = table.copy().astype(object)
    kinds = ("declined", "stable", "improved")
    counts = {k: Counts(table[f"n_{k}"], threshold) for k in kinds}
    # the three categories of a row add up to its pairs: one column of three rows' cells
    for row in range(len(table)):
        cells = Counts(pd.Series([counts[k].values[row] for k in kinds]), threshold)
        cells.state = np.array([counts[k].state[row] for k in kinds])
        cells.complement(np.arange(3))
        for k, state in zip(kinds, cells.state):
            counts[k].state[row] = state
    for k in kinds:
        hidden = counts[k].state != Counts.EXACT
        shown.loc[hidden, [f"share_{k}", f"{k}_lo", f"{k}_hi"]] = np.nan
        shown[f"n_{k}"] = counts[k].text()
    # every stratification of a scale (SMA type, baseline-age band...) partitions the same
    # pairs: one hidden stratum would be their total minus the others' exact counts
    for column in ("n_pairs", "n_patients"):
        cells = Counts(table[column], threshold)
        for rows in _groups(table, ["scale", "stratify_by"]):
            cells.complement(rows)
        shown[column] = cells.text()
    return shown


def _floor_ceiling(table, threshold, **_):
    shown = _primary_only(table, threshold)
    for bound in ("floor", "ceiling"):
        small = pd.to_numeric(table[f"n_at_{bound}"], errors="coerce").between(1, threshold - 1).to_numpy()
        shown.loc[small, f"share_at_{bound}"] = np.nan
    return shown


# --------------------------------------------------------------------------- data quality
def _data_quality(table, threshold, **_):
    shown = table.copy().astype(object)
    is_count = table["statistic"].isin(COUNT_STATISTICS).to_numpy()
    counts = Counts(table["value"].where(is_count), threshold)
    # known vs rows of one field: the unknown cells are their difference
    for rows in _groups(table[table["section"] == "completeness"], ["table", "field"]):
        index = table.index[table["section"] == "completeness"][rows]
        by_stat = dict(zip(table.loc[index, "statistic"], index))
        total, known = table.loc[by_stat["rows"], "value"], table.loc[by_stat["known"], "value"]
        if 0 < float(total) - float(known) < threshold:
            position = table.index.get_loc(by_stat["known"])
            counts.round_where(np.arange(len(table)) == position)
            shown.loc[by_stat["percent_known"], "value"] = np.nan
    text = counts.text()
    shown["value"] = [t if c else v for t, c, v in zip(text, is_count, table["value"])]
    # Fewer than T patients behind a group: its other numbers (follow-up quantiles and sum,
    # assessments or records and their quantiles) describe those few patients, so not released.
    few = (table["statistic"] == "patients").to_numpy() & (counts.state == Counts.HIDDEN)
    for key in table.loc[few, ["section", "table", "field"]].itertuples(index=False):
        group = ((table["section"] == key.section) & (table["table"] == key.table)
                 & (table["field"] == key.field) & (table["statistic"] != "patients"))
        shown.loc[group, "value"] = np.nan
    return shown


_HANDLERS = {
    "km_at_risk": _at_risk,
    "km_tests": _derived_survival_counts,
    "cox": _derived_survival_counts,
    "rmst": _derived_survival_counts,
    "parametric": _derived_survival_counts,
    "cuminc": _cuminc,
    "ipcw_model": _ipcw_model,
    "cohort_flow": _cohort_flow,
    "table1": _table1,
    "change_12m": _change,
    "scale_floor_ceiling": _floor_ceiling,
    "data_quality": _data_quality,
    "external_control_curves": _external_curves,
    "external_control_flow": _external_flow,
}
