"""The analysis dataset: follow-up of every patient for every endpoint (README, "Analysis
definitions"; endpoints: :mod:`smanh.config.endpoints`).

For each patient and endpoint: ``entry_age`` = age at enrolment (delayed entry),
``exit_age`` = age at the earliest of the endpoint event and the censoring dates
(last contact and, in natural-history mode, the first disease-modifying treatment),
``event`` = 1 if the endpoint event ends follow-up. An event on the same day as the
earliest censoring date counts as an event. A patient whose exit is not after entry
has no at-risk time and is excluded from that endpoint with the reason that set the
exit, so every patient stays accounted for.

An endpoint's ``time_origin`` (default ``birth``; also ``onset`` or ``diagnosis``) sets
the zero of its time scale: ages are then years since that date, entry is clipped at 0
(a patient enrolled before onset is at risk from onset) and a patient without that date
is excluded with its own reason. ``competing`` events end follow-up without being the
event (``event_type`` 2): Kaplan–Meier treats them as censoring, the Aalen–Johansen
cumulative incidence as a competing risk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smanh.cohort.strata import sma_type_group, smn2_group
from smanh.config.endpoints import DEATH, TIME_ORIGINS, Endpoint, endpoint
from smanh.config.units import DAYS_PER_YEAR
from smanh.ingest.export import RegistryExport
from smanh.jobs.files import write_parquet

# Reasons a patient has no at-risk time for an endpoint, in the order reported.
NOT_IN_POPULATION = "not in the endpoint's population"
EVENT_BEFORE_ENROLMENT = "event on or before enrolment"
TREATED_BEFORE_ENROLMENT = "treated on or before enrolment"
NO_FOLLOW_UP = "no follow-up after enrolment"
NO_ONSET_DATE = "no onset date (time origin)"
NO_DIAGNOSIS_DATE = "no diagnosis date (time origin)"
EXCLUSION_REASONS = (
    NO_ONSET_DATE,
    NO_DIAGNOSIS_DATE,
    NOT_IN_POPULATION,
    EVENT_BEFORE_ENROLMENT,
    TREATED_BEFORE_ENROLMENT,
    NO_FOLLOW_UP,
)

ANALYSIS_COLUMNS = [
    "patient_id",
    "endpoint",
    "sma_type_group",
    "smn2_group",
    "sex",
    "site",
    "birth_year",
    "entry_age",
    "exit_age",
    "event",
    "event_type",
    "exit_reason",
    "excluded_reason",
]


def age_years(date: pd.Series, birth: pd.Series) -> pd.Series:
    """Age in years = whole days since birth / 365.25 (NaN where either date is missing);
    the two Series matched by index, as pandas' ``date - birth`` matches them."""
    date, birth = date.align(birth)
    return pd.Series(_years_between(_datetimes(birth), _datetimes(date)), index=date.index)


def first_treatment_dates(export: RegistryExport) -> pd.Series:
    """Start of the first disease-modifying treatment per patient."""
    return export.treatments.groupby("patient_id")["start_date"].min()


def first_event_dates(export: RegistryExport) -> pd.DataFrame:
    """Date of the first recorded event of each kind: one row per patient, one column per
    event kind present, plus ``death``."""
    first = (
        export.events.groupby(["patient_id", "event"])["date"].min().unstack("event")
        if len(export.events)
        else pd.DataFrame()
    )
    first = first.reindex(export.patients["patient_id"])
    first[DEATH] = export.patients.set_index("patient_id")["death_date"]
    return first


def analysis_dataset(
    export: RegistryExport, endpoint_names: list, censor_at_treatment: bool = True
) -> pd.DataFrame:
    """One row per patient and endpoint with entry, exit, event and exclusion reason.

    ``endpoint_names`` are names of built-in endpoints or config mappings (see
    :func:`endpoint`). ``event_type`` is 0 censored, 1 the endpoint event, 2 a competing
    event; ``event`` = (``event_type`` == 1).
    """
    patients = export.patients.set_index("patient_id")
    # Dates as numpy datetime64 arrays (NaT where missing): comparisons with NaT are false
    # and np.fmin skips it, as pandas' min(axis=1) does, at a fraction of pandas' cost.
    events = {kind: _datetimes(column) for kind, column in first_event_dates(export).items()}
    dates = {name: _datetimes(patients[name])
             for name in ("last_contact_date", "enrolment_date", *TIME_ORIGINS.values())}
    treatment = _datetimes(first_treatment_dates(export).reindex(patients.index))
    # The patient's own columns, the same in every endpoint's rows: worked out once.
    descriptors = {
        "sma_type_group": sma_type_group(patients["sma_type"]).to_numpy(),
        "smn2_group": smn2_group(patients["smn2_copies"]).to_numpy(),
        "sex": patients["sex"].replace("", "unknown").fillna("unknown").to_numpy(),
        "site": _text_or_unknown(patients, "site"),
        "birth_year": patients["birth_date"].dt.year.to_numpy(),
    }
    specs = [endpoint(name) for name in endpoint_names]
    parts = [_one_endpoint(spec, dates, events, treatment, censor_at_treatment) for spec in specs]
    columns = {
        "patient_id": np.tile(patients.index.to_numpy(), len(specs)),
        "endpoint": np.repeat(np.array([spec.name for spec in specs], dtype=object), len(patients)),
        **{name: np.tile(values, len(specs)) for name, values in descriptors.items()},
        **{name: np.concatenate([part[name] for part in parts]) for name in _ENDPOINT_COLUMNS},
    }
    return pd.DataFrame({name: columns[name] for name in ANALYSIS_COLUMNS})


_ENDPOINT_COLUMNS = ("entry_age", "exit_age", "event", "event_type", "exit_reason", "excluded_reason")


def _one_endpoint(
    spec: Endpoint,
    dates: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    treatment: np.ndarray,
    censor_at_treatment: bool,
) -> dict[str, np.ndarray]:
    """The endpoint's own columns (:data:`_ENDPOINT_COLUMNS`), one value per patient."""
    never = np.full(len(treatment), np.datetime64("NaT"), dtype="datetime64[ns]")

    def first_of(kinds) -> np.ndarray:
        return np.fmin.reduce([events.get(kind, never) for kind in kinds]) if kinds else never

    event_date = first_of(spec.events)
    last_contact = dates["last_contact_date"]
    treated = treatment if censor_at_treatment else never
    censor_date = np.fmin(last_contact, treated)
    has_event = ~np.isnat(event_date) & (event_date <= censor_date)
    exit_date = np.where(has_event, event_date, censor_date)
    competing_date = first_of(spec.competing)
    # a competing event strictly before the event (a tie counts as the event) ends follow-up
    has_competing = ~np.isnat(competing_date) & (competing_date <= exit_date) & (
        ~has_event | (competing_date < event_date)
    )
    has_event = has_event & ~has_competing
    exit_date = np.where(has_competing, competing_date, exit_date)
    exit_reason = np.select(
        [has_event, has_competing, ~np.isnat(treated) & (treated < last_contact)],
        ["event", "competing_event", "treatment"],
        "last_contact",
    )
    origin = dates[TIME_ORIGINS[spec.time_origin]]
    entry_age = _years_between(origin, dates["enrolment_date"])
    if spec.time_origin != "birth":  # enrolled before onset/diagnosis: at risk from it
        entry_age = np.maximum(entry_age, 0.0)  # NaN stays NaN, as in clip
    exit_age = _years_between(origin, exit_date)

    excluded = np.full(len(treatment), "", dtype=object)
    no_time = exit_age <= entry_age
    excluded[no_time & np.isin(exit_reason, ["event", "competing_event"])] = EVENT_BEFORE_ENROLMENT
    excluded[no_time & (exit_reason == "treatment")] = TREATED_BEFORE_ENROLMENT
    excluded[no_time & (exit_reason == "last_contact")] = NO_FOLLOW_UP
    if spec.population is not None:
        excluded[np.isnat(events.get(spec.population, never))] = NOT_IN_POPULATION
    if spec.time_origin == "onset":
        excluded[np.isnat(origin)] = NO_ONSET_DATE
    elif spec.time_origin == "diagnosis":
        excluded[np.isnat(origin)] = NO_DIAGNOSIS_DATE
    return {
        "entry_age": entry_age,
        "exit_age": exit_age,
        "event": has_event.astype(int),
        "event_type": np.where(has_event, 1, np.where(has_competing, 2, 0)),
        "exit_reason": exit_reason.astype(object),
        "excluded_reason": excluded,
    }


def _datetimes(column: pd.Series) -> np.ndarray:
    return column.astype("datetime64[ns]").to_numpy()


_NS_PER_DAY = 86_400 * 10**9


def _years_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whole days (floored, as pandas' ``Timedelta.days``) from ``start`` to ``end``, in
    years of 365.25 days; NaN where either is NaT."""
    nanoseconds = (end - start).view("int64")
    days = np.floor_divide(nanoseconds, _NS_PER_DAY).astype(float)
    days[np.isnat(start) | np.isnat(end)] = np.nan
    return days / DAYS_PER_YEAR


def _text_or_unknown(patients: pd.DataFrame, column: str) -> np.ndarray:
    if column not in patients.columns:
        return np.full(len(patients), "unknown", dtype=object)
    values = patients[column].astype("string").str.strip()
    return values.where(values.notna() & (values != ""), "unknown").astype(object).to_numpy()


# The analysis dataset's columns the survival tables read: not the patient identifiers or
# exit reasons (those are the cohort flow's), the costliest columns to read and to copy.
ANALYSED_COLUMNS = [c for c in ANALYSIS_COLUMNS if c not in ("patient_id", "exit_reason")]


def write_analysis_dataset(dataset: pd.DataFrame, path: str | Path) -> None:
    """The dataset as Parquet, a row group per endpoint: each survival job reads only its own."""
    write_parquet(dataset, path, row_groups_by="endpoint")


def read_endpoint_rows(path: str | Path, endpoint: str) -> pd.DataFrame:
    """One endpoint's rows of a dataset written by :func:`write_analysis_dataset`, with the
    columns the survival tables read (:data:`ANALYSED_COLUMNS`)."""
    table = pd.read_parquet(path, filters=[("endpoint", "==", endpoint)], columns=ANALYSED_COLUMNS)
    return table[table["endpoint"] == endpoint].reset_index(drop=True)
