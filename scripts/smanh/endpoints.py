"""Survival endpoints and the analysis dataset (``registry-format.md`` §2).

For each patient and endpoint: ``entry_age`` = age at enrolment (delayed entry),
``exit_age`` = age at the earliest of the endpoint event and the censoring dates
(last contact and, in natural-history mode, the first disease-modifying treatment),
``event`` = 1 if the endpoint event ends follow-up. An event on the same day as the
earliest censoring date counts as an event. A patient whose exit is not after entry
has no at-risk time and is excluded from that endpoint with the reason that set the
exit, so every patient stays accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smanh.errors import ConfigError
from smanh.registry import RegistryExport
from smanh.strata import sma_type_group, smn2_group

DAYS_PER_YEAR = 365.25
DEATH = "death"  # taken from patients.death_date, not from the events table


@dataclass(frozen=True)
class Endpoint:
    """An endpoint: the first of ``events`` ends follow-up; ``population`` restricts
    the analysis to patients with that event (e.g. those who ever walked)."""

    name: str
    events: tuple[str, ...]
    population: str | None = None
    description: str = ""


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            "death_or_permanent_ventilation",
            (DEATH, "permanent_ventilation"),
            description="the earlier of death and the first permanent ventilation",
        ),
        Endpoint("death", (DEATH,), description="death from any cause"),
        Endpoint(
            "permanent_ventilation",
            ("permanent_ventilation",),
            description="first permanent ventilation (death censors)",
        ),
        Endpoint(
            "loss_of_independent_sitting",
            ("loss_of_independent_sitting",),
            population="sits_independently",
            description="loss of independent sitting, among patients who sat",
        ),
        Endpoint(
            "loss_of_independent_walking",
            ("loss_of_independent_walking",),
            population="walks_independently",
            description="loss of independent walking, among patients who walked",
        ),
        Endpoint("feeding_tube", ("feeding_tube",), description="first feeding tube"),
        Endpoint(
            "scoliosis_surgery", ("scoliosis_surgery",), description="first scoliosis surgery"
        ),
    )
}

# Reasons a patient has no at-risk time for an endpoint, in the order reported.
NOT_IN_POPULATION = "not in the endpoint's population"
EVENT_BEFORE_ENROLMENT = "event on or before enrolment"
TREATED_BEFORE_ENROLMENT = "treated on or before enrolment"
NO_FOLLOW_UP = "no follow-up after enrolment"
EXCLUSION_REASONS = (
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
    "entry_age",
    "exit_age",
    "event",
    "exit_reason",
    "excluded_reason",
]


def endpoint(name: str) -> Endpoint:
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise ConfigError(
            f"analysis.endpoints: unknown endpoint '{name}' (one of: {', '.join(ENDPOINTS)})"
        ) from None


def age_years(date: pd.Series, birth: pd.Series) -> pd.Series:
    """Age in years = days since birth / 365.25."""
    return (date - birth).dt.days / DAYS_PER_YEAR


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
    export: RegistryExport, endpoint_names: list[str], censor_at_treatment: bool = True
) -> pd.DataFrame:
    """One row per patient and endpoint with entry, exit, event and exclusion reason."""
    patients = export.patients.set_index("patient_id")
    events = first_event_dates(export)
    treatment = first_treatment_dates(export).reindex(patients.index)
    frames = [
        _one_endpoint(endpoint(name), patients, events, treatment, censor_at_treatment)
        for name in endpoint_names
    ]
    return pd.concat(frames, ignore_index=True)[ANALYSIS_COLUMNS]


def _one_endpoint(
    spec: Endpoint,
    patients: pd.DataFrame,
    events: pd.DataFrame,
    treatment: pd.Series,
    censor_at_treatment: bool,
) -> pd.DataFrame:
    def event_column(kind: str) -> pd.Series:
        if kind in events.columns:
            return events[kind]
        return pd.Series(pd.NaT, index=patients.index, dtype="datetime64[ns]")

    event_date = pd.concat([event_column(k) for k in spec.events], axis=1).min(axis=1)
    last_contact = patients["last_contact_date"]
    treated = treatment if censor_at_treatment else pd.Series(pd.NaT, index=patients.index)
    treated = treated.astype("datetime64[ns]")
    censor_date = pd.concat([last_contact, treated], axis=1).min(axis=1)
    has_event = event_date.notna() & (event_date <= censor_date)
    exit_date = event_date.where(has_event, censor_date)
    exit_reason = np.select(
        [has_event, treated.notna() & (treated < last_contact)],
        ["event", "treatment"],
        "last_contact",
    )
    exit_reason = pd.Series(exit_reason, index=patients.index)
    birth = patients["birth_date"]
    entry_age = age_years(patients["enrolment_date"], birth)
    exit_age = age_years(exit_date, birth)

    excluded = pd.Series("", index=patients.index, dtype=object)
    no_time = exit_age <= entry_age
    excluded[no_time & (exit_reason == "event")] = EVENT_BEFORE_ENROLMENT
    excluded[no_time & (exit_reason == "treatment")] = TREATED_BEFORE_ENROLMENT
    excluded[no_time & (exit_reason == "last_contact")] = NO_FOLLOW_UP
    if spec.population is not None:
        excluded[event_column(spec.population).isna()] = NOT_IN_POPULATION

    return pd.DataFrame(
        {
            "patient_id": patients.index,
            "endpoint": spec.name,
            "sma_type_group": sma_type_group(patients["sma_type"]).to_numpy(),
            "smn2_group": smn2_group(patients["smn2_copies"]).to_numpy(),
            "sex": patients["sex"].replace("", "unknown").fillna("unknown").to_numpy(),
            "entry_age": entry_age.to_numpy(),
            "exit_age": exit_age.to_numpy(),
            "event": has_event.astype(int).to_numpy(),
            "exit_reason": exit_reason.to_numpy(),
            "excluded_reason": excluded.to_numpy(),
        }
    )


def cohort_flow(n_in_export: int, dataset: pd.DataFrame) -> pd.DataFrame:
    """Every patient of the export accounted for, overall and per endpoint.

    Per endpoint: patients in = analysed + excluded (summed over reasons).
    """
    rows = [("all", "export", "patients in export", n_in_export)]
    for name, group in dataset.groupby("endpoint", sort=False):
        counts = group["excluded_reason"].value_counts()
        rows += [(name, "excluded", r, int(counts.get(r, 0))) for r in EXCLUSION_REASONS]
        rows.append((name, "analysed", "at risk after enrolment", int((group["excluded_reason"] == "").sum())))
    return pd.DataFrame(rows, columns=["endpoint", "step", "reason", "n"])
