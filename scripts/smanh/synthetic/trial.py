"""Seeded synthetic single-arm trial: infants with SMA type 1 and two SMN2 copies, dosed
with a gene therapy by 6 months of age, with a known treatment effect — the trial arm of
the sample external-control analysis (``data/sample_trial/``).

Infants are drawn from the same natural history as the sample registry
(:mod:`smanh.synthetic.natural_history`: type 1 subtypes and onset, diagnosis delay,
log-normal time to death or permanent ventilation for two SMN2 copies, the share of those
events that is permanent ventilation and survival on ventilation). An infant enters the
trial when dosed by ``max_dosing_age_years`` and alive and free of permanent ventilation
at dosing (screening: ``screening_days`` after diagnosis). From dosing on, the hazard of
death or permanent ventilation is the natural-history hazard at the same age times
``hazard_ratio`` (proportional hazards on the age scale)::

    S_treated(t | event-free at dosing age d) = (S(t) / S(d)) ** hazard_ratio

so an external-control analysis on the age scale with delayed entry at dosing estimates
``hazard_ratio`` (0.2 by default: the known truth). CHOP INTEND is assessed at screening
and 1, 2, 3, 6, 9, ... months after dosing with the registry's type 1 score model and its
treated course (the decline stops, a saturating gain adds up, 1.4 times larger after gene
therapy, as in :mod:`smanh.synthetic.simulate`).

Command line (also run by ``make sample``)::

    python -m smanh.synthetic.trial --config config/simulation_trial.yaml --out data/sample_trial

Examples
--------
>>> tables = simulate_trial(TrialParams(n_patients=5), seed=1)
>>> len(tables["patients"]), sorted(tables["treatments"]["treatment"].unique())
(5, ['onasemnogene_abeparvovec'])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from smanh.config.units import DAYS_PER_YEAR
from smanh.errors import ConfigError
from smanh.synthetic.natural_history import _day, _iso, _uniform_between, _years_to_days
from smanh.synthetic.parameters import SUBTYPES, TABLE_COLUMNS, NaturalHistory, SimulationParams, seeded_yaml
from smanh.synthetic.simulate import command_line

TYPE_GROUP, COPIES = "1", 2


@dataclass
class TrialParams:
    """Design of the simulated single-arm trial (the natural history is the registry's)."""

    n_patients: int = 40
    hazard_ratio: float = 0.2  # on death or permanent ventilation, from dosing on
    birth_from: str = "2018-07-01"
    birth_to: str = "2020-12-31"
    data_cut: str = "2023-06-30"
    max_dosing_age_years: float = 0.5
    screening_days: tuple[int, int] = (14, 42)  # dosing after diagnosis
    enrolment_days_before_dosing: tuple[int, int] = (3, 21)
    loss_to_follow_up_mean_years: float = 30.0
    visit_months: tuple[float, ...] = (1, 2, 3, 6, 9, 12, 15, 18, 24, 30, 36)
    p_assessment_done: float = 0.95
    sex_probabilities: dict[str, float] = field(default_factory=lambda: {"F": 0.5, "M": 0.5})
    sites: tuple[str, ...] = ("S01", "S02", "S03", "S04")
    natural_history: NaturalHistory = field(default_factory=NaturalHistory)

    @classmethod
    def from_dict(cls, values: dict) -> TrialParams:
        """From a (YAML) mapping; key ``seed`` is ignored, unknown keys are errors."""
        values = {k: v for k, v in values.items() if k != "seed"}
        known = {f.name for f in dataclasses.fields(cls)} - {"natural_history"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"trial simulation config: unknown key(s) {unknown}; known: {sorted(known)}")
        for key in ("screening_days", "enrolment_days_before_dosing", "visit_months", "sites"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()})


def simulate_trial(params: TrialParams | None, seed: int) -> dict[str, pd.DataFrame]:
    """One simulated trial arm in the canonical format (all columns text, blank = ``""``)."""
    p = params or TrialParams()
    rng = np.random.default_rng(seed)
    arm = _enrolled_infants(p, rng)
    arm = _treated_course(p, arm, rng)
    tables = {
        "patients": _patients(p, arm, rng),
        "events": _events(arm),
        "treatments": pd.DataFrame({
            "patient_id": arm["patient_id"], "treatment": "onasemnogene_abeparvovec",
            "start_date": _iso(arm["dosing"].to_numpy()), "end_date": _iso(arm["dosing"].to_numpy())}),
        "assessments": _assessments(p, arm, rng),
    }
    return {name: t.reset_index(drop=True)[list(TABLE_COLUMNS[name])] for name, t in tables.items()}


def _natural_survival(nh: NaturalHistory, ages) -> np.ndarray:
    """Untreated P(no death or permanent ventilation by age), type 1, two copies."""
    model = nh.survival[TYPE_GROUP]
    scale = model.scale_years * model.copy_time_ratio.get(COPIES, 1.0)
    return special.ndtr(-np.log(np.maximum(ages, 1e-12) / scale) / model.shape)


def _natural_quantile(nh: NaturalHistory, survival) -> np.ndarray:
    """The age at which :func:`_natural_survival` equals ``survival``."""
    model = nh.survival[TYPE_GROUP]
    scale = model.scale_years * model.copy_time_ratio.get(COPIES, 1.0)
    return scale * np.exp(-model.shape * special.ndtri(survival))


def _enrolled_infants(p: TrialParams, rng: np.random.Generator) -> pd.DataFrame:
    """Draw infants in batches until ``n_patients`` are dosed by the age limit, alive and
    event-free (in order of birth: the trial's screening order)."""
    nh = p.natural_history
    subtypes = SUBTYPES[TYPE_GROUP]
    weights = np.array([nh.subtype_proportions[s] for s in subtypes])
    first, last = _day(p.birth_from), _day(p.birth_to)
    found = []
    while sum(len(f) for f in found) < p.n_patients:
        n = 4 * p.n_patients
        birth = first + np.floor(rng.random(n) * (last - first + 1)).astype(np.int64)
        subtype = np.array(subtypes)[np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n))]
        low = np.array([nh.onset_years[s][0] for s in subtype])
        high = np.array([nh.onset_years[s][1] for s in subtype])
        onset = _uniform_between(rng.random(n), low, high)
        delay = _diagnosis_delay(rng, n)
        diagnosis = onset + delay
        screening = rng.integers(p.screening_days[0], p.screening_days[1] + 1, n)
        dosing_age = diagnosis + screening / DAYS_PER_YEAR
        natural_event = _natural_quantile(nh, rng.random(n))
        ok = (dosing_age <= p.max_dosing_age_years) & (natural_event > dosing_age)
        found.append(pd.DataFrame({"birth": birth, "subtype": subtype, "onset": onset,
                                   "diagnosis": diagnosis, "dosing_age": dosing_age})[ok])
    arm = pd.concat(found, ignore_index=True).iloc[: p.n_patients]
    arm = arm.sort_values("birth", kind="stable").reset_index(drop=True)
    arm["dosing"] = arm["birth"].to_numpy() + _years_to_days(arm["dosing_age"].to_numpy())
    arm["patient_id"] = [f"T{i + 1:03d}" for i in range(len(arm))]
    return arm


def _diagnosis_delay(rng: np.random.Generator, n: int) -> np.ndarray:
    """Diagnosis delay after onset (years), the registry's type 1 log-normal."""
    design = SimulationParams()
    return design.diagnosis_delay_median_years[TYPE_GROUP] * np.exp(
        design.diagnosis_delay_sigma * rng.standard_normal(n))


def _treated_course(p: TrialParams, arm: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Age at death or permanent ventilation under treatment, which of the two it is, death
    after ventilation, and follow-up to last contact."""
    nh = p.natural_history
    n = len(arm)
    dosing = arm["dosing_age"].to_numpy()
    u, u_vent, z_post, u_loss = rng.random(n), rng.random(n), rng.standard_normal(n), rng.random(n)
    # (S(t) / S(d)) ** hr = u  <=>  S(t) = S(d) u ** (1 / hr)
    event_age = _natural_quantile(nh, _natural_survival(nh, dosing) * u ** (1.0 / p.hazard_ratio))
    ventilated = u_vent < nh.survival[TYPE_GROUP].p_ventilation
    post = nh.post_ventilation_median_years * np.exp(nh.post_ventilation_sigma * z_post)
    death_age = np.where(ventilated, event_age + post, event_age)
    birth = arm["birth"].to_numpy()
    lost = arm["dosing"].to_numpy() + _years_to_days(-p.loss_to_follow_up_mean_years * np.log1p(-u_loss))
    follow_end = np.minimum(_day(p.data_cut), lost)
    death_day = birth + _years_to_days(death_age)
    died = death_day <= follow_end
    return arm.assign(
        event_age=event_age, ventilated=ventilated,
        pv_day=np.where(ventilated, birth + _years_to_days(event_age), -1),
        death_day=np.where(died, death_day, -1),
        last_contact=np.where(died, death_day, follow_end),
    )


def _patients(p: TrialParams, arm: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(arm)
    birth = arm["birth"].to_numpy()
    labels = list(p.sex_probabilities)
    probs = np.array([p.sex_probabilities[k] for k in labels], float)
    sex = np.array(labels)[np.searchsorted(np.cumsum(probs / probs.sum()), rng.random(n), side="right")]
    before = rng.integers(p.enrolment_days_before_dosing[0], p.enrolment_days_before_dosing[1] + 1, n)
    diagnosis = birth + _years_to_days(arm["diagnosis"].to_numpy())
    enrolment = np.maximum(arm["dosing"].to_numpy() - before, diagnosis)
    death = arm["death_day"].to_numpy()
    return pd.DataFrame({
        "patient_id": arm["patient_id"], "sex": sex, "birth_date": _iso(birth),
        "sma_type": arm["subtype"], "smn2_copies": str(COPIES),
        "onset_date": _iso(birth + _years_to_days(arm["onset"].to_numpy())),
        "diagnosis_date": _iso(diagnosis), "enrolment_date": _iso(enrolment),
        "last_contact_date": _iso(arm["last_contact"].to_numpy()),
        "death_date": np.where(death >= 0, _iso(np.maximum(death, 0)), ""),
        "site": np.array(p.sites)[rng.integers(0, len(p.sites), n)],
    })


def _events(arm: pd.DataFrame) -> pd.DataFrame:
    """Permanent ventilation where it came by last contact."""
    pv = arm["pv_day"].to_numpy()
    keep = (pv >= 0) & (pv <= arm["last_contact"].to_numpy())
    return pd.DataFrame({"patient_id": arm["patient_id"].to_numpy()[keep], "event": "permanent_ventilation",
                         "date": _iso(pv[keep])})


def _assessments(p: TrialParams, arm: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """CHOP INTEND at screening (up to a week before dosing) and at the visits after it,
    while alive, free of permanent ventilation and followed up."""
    model = p.natural_history.scales["CHOP_INTEND"][TYPE_GROUP]
    n, k = len(arm), len(p.visit_months) + 1
    z_int, z_slope = rng.standard_normal(n), rng.standard_normal(n)
    gain_mult = _uniform_between(rng.random(n), 0.3, 1.7)
    screening = -rng.integers(0, 8, n)
    offsets = np.column_stack([screening, *[_years_to_days(np.full(n, m / 12.0)) for m in p.visit_months]])
    noise, done = rng.standard_normal((n, k)), rng.random((n, k))
    day = arm["dosing"].to_numpy()[:, None] + offsets
    birth = arm["birth"].to_numpy()[:, None]
    age = (day - birth) / DAYS_PER_YEAR
    since = np.maximum(age - arm["dosing_age"].to_numpy()[:, None], 0.0)
    slope = model.slope + model.sd_slope * z_slope[:, None]
    natural = model.mean_at_ref + model.sd_intercept * z_int[:, None] + slope * (age - model.ref_age)
    # the registry's treated course after gene therapy (smanh.synthetic.simulate)
    gain = model.treated_gain * gain_mult[:, None] * 1.4
    score = natural - slope * since + gain * (1 - np.exp(-since / 0.5)) + model.noise_sd * noise
    score = np.rint(np.clip(score, 0, 64)).astype(np.int64)
    event_day = birth[:, 0] + _years_to_days(arm["event_age"].to_numpy())
    keep = (day < event_day[:, None]) & (day <= arm["last_contact"].to_numpy()[:, None]) & (
        (done < p.p_assessment_done) | (offsets <= 0))
    rows, cols = np.nonzero(keep)
    return pd.DataFrame({"patient_id": arm["patient_id"].to_numpy()[rows], "date": _iso(day[rows, cols]),
                         "scale": "CHOP_INTEND", "score": score[rows, cols].astype(str)})


def load_trial_config(path: str | Path) -> tuple[TrialParams, int]:
    """Read ``config/simulation_trial.yaml``: the parameters and the seed."""
    values, seed = seeded_yaml(path)
    return TrialParams.from_dict(values), seed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m smanh.synthetic.trial --config ... --out ...``."""
    return command_line(argv, "smanh.synthetic.trial", __doc__, "trial simulation YAML (config/simulation_trial.yaml)",
                        lambda path: simulate_trial(*load_trial_config(path)))


if __name__ == "__main__":
    raise SystemExit(main())
