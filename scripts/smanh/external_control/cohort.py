"""Eligibility at time zero, entry and follow-up of both arms of an externally controlled
trial (README, "External natural-history control").

Ages are whole days since birth (as the analysis dataset counts them), in years of
365.25 days. **Trial patients** enter at time zero = the day of their first treatment row
(the dosing) and are followed to the endpoint event or last contact. A **registry
patient** enters at the first day on which, under natural-history follow-up, every
criterion holds: enrolled (on or after the enrolment day), untreated (before the first
treatment), alive and free of death and permanent ventilation, before last contact, at an
age in the window at time zero, and, when a baseline score range is configured, with a
baseline score in it (the latest assessment of the scale at most the baseline window
before that day). Registry patients are then followed to the endpoint event, last contact
or the first treatment, whichever is first (natural-history follow-up). Both arms stay on
the age scale with delayed entry at time zero, so nobody contributes time before it.

The same criteria are applied to the trial arm at dosing; trial patients who fail one are
counted and left out, as registry patients are. No patient identifier leaves this module:
the cohort's rows are numbered, trial patients first, each arm in its export's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smanh.cohort.dataset import first_event_dates, first_treatment_dates
from smanh.cohort.strata import sma_type_group
from smanh.config.endpoints import DEATH, Endpoint
from smanh.config.external_control import ExternalControlOptions
from smanh.config.units import DAYS_PER_YEAR
from smanh.ingest.export import RegistryExport

TRIAL, REGISTRY = "trial", "registry"
FLOW_COLUMNS = ["arm", "step", "reason", "n"]
_NS_PER_DAY = 86_400 * 10**9


@dataclass
class ExternalCohort:
    """Both arms' eligible patients, one row each (trial first), and how they were found.

    Attributes
    ----------
    baseline : ``arm`` (1 trial, 0 registry), ``age_at_entry`` (years, time zero),
        ``smn2_copies`` (NaN unknown), ``sex`` (``F``, ``M``, ``unknown``),
        ``age_at_onset`` (years, NaN unknown), ``baseline_score`` (NaN: none in the window
        or no baseline scale configured).
    follow_up : per endpoint, ``entry``, ``exit`` (years of age), ``event`` (0/1) and
        ``analysed`` (False where the event came on or before time zero), aligned with
        ``baseline``.
    motor : ``baseline``, ``outcome`` and ``change`` of the configured motor scale (NaN
        where not assessed), aligned with ``baseline``; None without a motor scale.
    flow : ``arm, step, reason, n``: patients, those excluded per criterion in order, and
        the eligible.
    unrecorded : per arm (``trial``, ``registry``), the configured scales (baseline score,
        motor) of which its export has no assessment at all: the notes then say so.
    messages : warnings for the job's log (a configured scale an arm's export never records).
    """

    baseline: pd.DataFrame
    follow_up: dict[str, pd.DataFrame]
    motor: pd.DataFrame | None
    flow: pd.DataFrame
    unrecorded: dict[str, tuple[str, ...]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def arm(self) -> np.ndarray:
        return self.baseline["arm"].to_numpy(int)


def external_cohort(registry: RegistryExport, trial: RegistryExport,
                    options: ExternalControlOptions) -> ExternalCohort:
    """Eligible patients of both arms with their time zero, covariates at time zero,
    follow-up per endpoint and motor outcome."""
    trial_days = _patient_days(trial)
    registry_days = _patient_days(registry)
    trial_zero, trial_flow = _trial_time_zero(trial, trial_days, options)
    registry_zero, registry_flow = _registry_time_zero(registry, registry_days, options)
    arms = []
    for arm, export, days, zero in ((1, trial, trial_days, trial_zero),
                                    (0, registry, registry_days, registry_zero)):
        eligible = np.isfinite(zero)
        arms.append(_arm_rows(arm, export, days, zero, eligible, options))
    baseline = pd.concat([a[0] for a in arms], ignore_index=True)
    follow_up = {name: pd.concat([a[1][name] for a in arms], ignore_index=True)
                 for name in options.endpoint_names}
    motor = (pd.concat([a[2] for a in arms], ignore_index=True)
             if options.motor_scale else None)
    flow = pd.DataFrame(trial_flow + registry_flow, columns=FLOW_COLUMNS)
    unrecorded, messages = _unrecorded_scales({TRIAL: trial, REGISTRY: registry}, options)
    return ExternalCohort(baseline, follow_up, motor, flow, unrecorded, messages)


def _unrecorded_scales(exports: dict[str, RegistryExport], options: ExternalControlOptions):
    """Per arm, the configured scales its export has no assessment of, and a warning each."""
    keys: dict[str, list[str]] = {}
    if options.baseline_scale:
        keys.setdefault(options.baseline_scale, []).append("eligibility.baseline_score.scale")
    if options.motor_scale:
        keys.setdefault(options.motor_scale, []).append("motor.scale")
    unrecorded, messages = {}, []
    for label, export in exports.items():
        recorded = set(export.assessments["scale"]) if len(export.assessments) else set()
        unrecorded[label] = tuple(scale for scale in keys if scale not in recorded)
        messages += [f"the {label} export records no {scale} assessment (the scale of external_control."
                     f"{' and '.join(keys[scale])}): no {label} patient has a {scale} score to analyse"
                     for scale in unrecorded[label]]
    return unrecorded, messages


# --------------------------------------------------------------------------- per patient
def _patient_days(export: RegistryExport) -> pd.DataFrame:
    """Per patient (export order): the days since birth of enrolment, last contact, first
    treatment and first death or permanent ventilation (inf: never), the SMA type group,
    SMN2 copies, sex and age at onset."""
    patients = export.patients.reset_index(drop=True)
    ids = patients["patient_id"]
    birth = patients["birth_date"]
    first = first_event_dates(export).reindex(ids)
    dpv = first[DEATH]
    if "permanent_ventilation" in first:
        dpv = dpv.where(dpv.le(first["permanent_ventilation"]) | first["permanent_ventilation"].isna(),
                        first["permanent_ventilation"])
    treated = first_treatment_dates(export).reindex(ids)
    copies = (pd.to_numeric(patients["smn2_copies"], errors="coerce").astype(float)
              if "smn2_copies" in patients else pd.Series(np.nan, index=patients.index))
    sex = (patients["sex"].fillna("").astype(str) if "sex" in patients
           else pd.Series("", index=patients.index))
    onset = (days_since(birth, patients["onset_date"]) / DAYS_PER_YEAR if "onset_date" in patients
             else np.full(len(patients), np.nan))
    return pd.DataFrame({
        "enrol": days_since(birth, patients["enrolment_date"]),
        "last_contact": days_since(birth, patients["last_contact_date"]),
        "treated": _never_as_inf(days_since(birth, treated)),
        "dpv": _never_as_inf(days_since(birth, dpv)),
        "type_group": sma_type_group(patients["sma_type"]).to_numpy(),
        "smn2_copies": copies.to_numpy(),
        "sex": np.where(sex.isin(["F", "M"]), sex, "unknown"),
        "age_at_onset": onset,
    })


def days_since(birth: pd.Series, date: pd.Series) -> np.ndarray:
    """Whole days (floored) from birth to ``date``, row by row; NaN where either is missing."""
    start = birth.to_numpy().astype("datetime64[ns]")
    end = pd.Series(date.to_numpy()).to_numpy().astype("datetime64[ns]")
    days = np.floor_divide((end - start).view("int64"), _NS_PER_DAY).astype(float)
    days[np.isnat(start) | np.isnat(end)] = np.nan
    return days


def _never_as_inf(days: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(days), np.inf, days)


def _age_window_days(options: ExternalControlOptions) -> tuple[float, float]:
    """First and last whole day whose age (day / 365.25) lies in the window."""
    low, high = options.age_window
    first = np.ceil(low * DAYS_PER_YEAR)
    first -= 1 if (first - 1) / DAYS_PER_YEAR >= low else 0
    last = np.floor(high * DAYS_PER_YEAR)
    last += 1 if (last + 1) / DAYS_PER_YEAR <= high else 0
    return float(first), float(last)


# --------------------------------------------------------------------------- time zero
class _Flow:
    """Patients left after each criterion, applied in order; the removed counted."""

    def __init__(self, arm: str, n: int):
        self.arm, self.left = arm, np.ones(n, dtype=bool)
        self.rows: list[tuple] = [(arm, "patients", "", n)]

    def apply(self, keep: np.ndarray, reason: str) -> None:
        removed = self.left & ~keep
        self.rows.append((self.arm, "excluded", reason, int(removed.sum())))
        self.left &= keep

    def done(self) -> list[tuple]:
        return self.rows + [(self.arm, "eligible", "", int(self.left.sum()))]


def _static_criteria(flow: _Flow, days: pd.DataFrame, options: ExternalControlOptions) -> None:
    if options.sma_types is not None:
        flow.apply(days["type_group"].isin(options.sma_types).to_numpy(),
                   f"SMA type not {' or '.join(options.sma_types)}")
    if options.smn2_copies is not None:
        flow.apply(np.isin(days["smn2_copies"].to_numpy(), options.smn2_copies),
                   f"SMN2 copies not {' or '.join(map(str, options.smn2_copies))}")
    if options.onset_window is not None:
        onset = days["age_at_onset"].to_numpy()
        low, high = options.onset_window
        flow.apply(~np.isnan(onset), "age at onset unknown")
        with np.errstate(invalid="ignore"):
            flow.apply((onset >= low) & (onset <= high), f"age at onset outside {low:g} to {high:g} years")


def _range_text(options: ExternalControlOptions) -> str:
    low, high = options.baseline_range
    return f"{options.baseline_scale} {low:g} to {high:g}"


def _trial_time_zero(export, days, options) -> tuple[np.ndarray, list[tuple]]:
    """Time zero (day of dosing) of each trial patient, NaN where not eligible."""
    flow = _Flow(TRIAL, len(days))
    zero = days["treated"].to_numpy().copy()
    flow.apply(np.isfinite(zero), "not dosed (no treatments row)")
    _static_criteria(flow, days, options)
    first, last = _age_window_days(options)
    low, high = options.age_window
    flow.apply((zero >= first) & (zero <= last), f"dosed outside ages {low:g} to {high:g} years")
    flow.apply(days["dpv"].to_numpy() > zero, "died or permanently ventilated on or before dosing")
    flow.apply(days["last_contact"].to_numpy() > zero, "no follow-up after dosing")
    if options.baseline_range is not None:
        score = baseline_scores(export, days, np.where(flow.left, zero, np.nan), options.baseline_scale,
                                options.baseline_window_years, natural_history=False)
        low_s, high_s = options.baseline_range
        flow.apply((score >= low_s) & (score <= high_s),
                   f"no {_range_text(options)} score in the {options.baseline_window_years * 12:g} "
                   "months before dosing")
    return np.where(flow.left, zero, np.nan), flow.done()


def _registry_time_zero(export, days, options) -> tuple[np.ndarray, list[tuple]]:
    """The first eligible day of each registry patient (NaN: none), with the flow."""
    flow = _Flow(REGISTRY, len(days))
    _static_criteria(flow, days, options)
    first, last = _age_window_days(options)
    start = np.maximum(days["enrol"].to_numpy(), first)  # earliest candidate day
    high = options.age_window[1]
    flow.apply(start <= last, f"enrolled after age {high:g} years")
    flow.apply(days["treated"].to_numpy() > start, "treated before an eligible age")
    flow.apply(days["dpv"].to_numpy() > start, "died or permanently ventilated before an eligible age")
    flow.apply(days["last_contact"].to_numpy() > start, "no follow-up after an eligible age")
    # eligible days: start <= day < stop
    stop = np.minimum.reduce([np.full(len(days), last + 1), days["treated"].to_numpy(),
                              days["dpv"].to_numpy(), days["last_contact"].to_numpy()])
    zero = np.where(flow.left, start, np.nan)
    if options.baseline_range is not None:
        zero = _first_day_with_score(export, days, zero, stop, options)
        flow.apply(np.isfinite(zero), f"no {_range_text(options)} score at an eligible age")
    return np.where(flow.left, zero, np.nan), flow.done()


def _first_day_with_score(export, days, start, stop, options) -> np.ndarray:
    """The first day in ``[start, stop)`` whose baseline score (latest natural-history
    assessment at most the window before it) lies in the range; NaN where none."""
    scores = scale_assessments(export, days, options.baseline_scale, natural_history=True)
    window = options.baseline_window_years * DAYS_PER_YEAR
    low, high = options.baseline_range
    patient = scores["patient"].to_numpy()
    day = scores["day"].to_numpy()
    following = np.append(day[1:], np.inf)
    following[np.append(patient[1:] != patient[:-1], True)] = np.inf
    # this assessment is the latest within the window on days day .. min(day + window, next - 1)
    candidate = np.maximum(start[patient], day)
    last_day = np.minimum.reduce([day + window, following - 1, stop[patient] - 1])
    score = scores["score"].to_numpy()
    ok = (score >= low) & (score <= high) & (candidate <= last_day)
    first = pd.Series(candidate[ok]).groupby(patient[ok]).min()
    out = np.full(len(start), np.nan)
    out[first.index.to_numpy(int)] = first.to_numpy()
    return out


# --------------------------------------------------------------------------- assessments
def scale_assessments(export: RegistryExport, days: pd.DataFrame, scale: str,
                      natural_history: bool) -> pd.DataFrame:
    """``patient`` (row of ``days``), ``day`` (since birth) and ``score`` of one scale,
    sorted; several on one day averaged; with ``natural_history`` only those before the
    patient's first treatment."""
    assessments = export.assessments
    position = pd.Series(np.arange(len(export.patients)), index=export.patients["patient_id"])
    rows = (assessments[(assessments["scale"] == scale) & assessments["patient_id"].isin(position.index)]
            if len(assessments) else assessments)
    patient = position.reindex(rows["patient_id"]).to_numpy() if len(rows) else np.array([], float)
    birth = export.patients["birth_date"].reset_index(drop=True)
    if len(rows):
        day = days_since(birth.iloc[patient.astype(int)].reset_index(drop=True),
                         rows["date"].reset_index(drop=True))
        score = rows["score"].to_numpy(float)
    else:
        day, score = np.array([], float), np.array([], float)
    frame = pd.DataFrame({"patient": patient.astype(int), "day": day, "score": score})
    if natural_history:
        frame = frame[frame["day"].to_numpy() < days["treated"].to_numpy()[frame["patient"].to_numpy()]]
    frame = frame.groupby(["patient", "day"], as_index=False, sort=True)["score"].mean()
    return frame.astype({"patient": int, "day": float, "score": float})


def baseline_scores(export, days, zero, scale, window_years, natural_history) -> np.ndarray:
    """The latest assessment of ``scale`` at most ``window_years`` before (or on) each
    patient's day ``zero`` (NaN: none, or ``zero`` NaN)."""
    scores = scale_assessments(export, days, scale, natural_history)
    return _nearest(scores, zero, window_years * DAYS_PER_YEAR, "backward")


def _nearest(scores: pd.DataFrame, target: np.ndarray, tolerance: float, direction: str) -> np.ndarray:
    """Per patient, the score whose day is nearest ``target`` within ``tolerance`` days:
    ``backward`` at or before it; ``nearest`` on either side, ties to the earlier day.
    NaN where none (or ``target`` is NaN)."""
    out = np.full(len(target), np.nan)
    wanted = np.flatnonzero(np.isfinite(target))
    if not len(wanted) or not len(scores):
        return out
    left = pd.DataFrame({"patient": wanted, "day": target[wanted]}).sort_values("day", kind="stable")
    right = scores.rename(columns={"day": "assessed"}).sort_values("assessed", kind="stable")

    def found(side: str) -> tuple[np.ndarray, np.ndarray]:
        merged = pd.merge_asof(left, right, left_on="day", right_on="assessed", by="patient", direction=side,
                               tolerance=tolerance).set_index("patient").reindex(wanted)
        return np.abs(merged["assessed"].to_numpy() - target[wanted]), merged["score"].to_numpy()

    distance, score = found("backward")
    if direction == "nearest":
        distance_ahead, score_ahead = found("forward")
        ahead = np.isnan(distance) | (distance_ahead < distance)
        score = np.where(ahead, score_ahead, score)
    out[wanted] = score
    return out


# --------------------------------------------------------------------------- rows
def _arm_rows(arm, export, days, zero, eligible, options):
    """The eligible patients' baseline row, follow-up per endpoint and motor scores."""
    keep = np.flatnonzero(eligible)
    zero_kept = zero[keep]
    baseline = pd.DataFrame({
        "arm": np.full(len(keep), arm, dtype=int),
        "age_at_entry": zero_kept / DAYS_PER_YEAR,
        "smn2_copies": days["smn2_copies"].to_numpy()[keep],
        "sex": days["sex"].to_numpy()[keep],
        "age_at_onset": days["age_at_onset"].to_numpy()[keep],
        "baseline_score": np.full(len(keep), np.nan),
    })
    if options.baseline_scale:
        baseline["baseline_score"] = baseline_scores(
            export, days, zero, options.baseline_scale, options.baseline_window_years,
            natural_history=arm == 0)[keep]
    follow_up = {spec.name: _follow_up(spec, export, days, zero, arm == 0).iloc[keep].reset_index(drop=True)
                 for spec in options.endpoints}
    motor = None
    if options.motor_scale:
        motor = _motor(export, days, zero, options, natural_history=arm == 0).iloc[keep].reset_index(drop=True)
    return baseline, follow_up, motor


def _follow_up(spec: Endpoint, export, days, zero, natural_history: bool) -> pd.DataFrame:
    """Entry (time zero), exit and event of ``spec`` for every patient of an arm: the first
    of its events ends follow-up as an event, the first competing event as a censoring
    (cause-specific); last contact censors, and for registry patients the first treatment.
    An event on the censoring day counts as the event; a patient whose event or competing
    event came on or before time zero is not analysed for this endpoint."""
    first = first_event_dates(export).reindex(export.patients["patient_id"])
    birth = export.patients["birth_date"].reset_index(drop=True)

    def first_day(kinds):
        found = [days_since(birth, first[k].reset_index(drop=True)) for k in kinds if k in first]
        return np.fmin.reduce(found) if found else np.full(len(birth), np.nan)

    event_day = _never_as_inf(first_day(spec.events))
    competing_day = _never_as_inf(first_day(spec.competing)) if spec.competing else np.full(len(birth), np.inf)
    censor = days["last_contact"].to_numpy()
    if natural_history:
        censor = np.minimum(censor, days["treated"].to_numpy())
    has_event = event_day <= censor
    exit_day = np.where(has_event, event_day, censor)
    competing = (competing_day <= exit_day) & (~has_event | (competing_day < event_day))
    has_event &= ~competing
    exit_day = np.where(competing, competing_day, exit_day)
    with np.errstate(invalid="ignore"):
        analysed = exit_day > zero
    return pd.DataFrame({"entry": zero / DAYS_PER_YEAR, "exit": exit_day / DAYS_PER_YEAR,
                         "event": has_event.astype(int), "analysed": analysed})


def _motor(export, days, zero, options, natural_history: bool) -> pd.DataFrame:
    """Baseline (latest at most the baseline window before time zero), outcome (nearest the
    configured time after time zero, within the window; ties: the earlier) and change.
    Registry patients' assessments count only before their first treatment."""
    scores = scale_assessments(export, days, options.motor_scale, natural_history)
    baseline = _nearest(scores, zero, options.motor_baseline_window_years * DAYS_PER_YEAR, "backward")
    target = zero + options.motor_years_after * DAYS_PER_YEAR
    outcome = _nearest(scores, target, options.motor_window_years * DAYS_PER_YEAR, "nearest")
    return pd.DataFrame({"baseline": baseline, "outcome": outcome, "change": outcome - baseline})
