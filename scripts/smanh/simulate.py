"""Seeded synthetic SMA registry: natural history from birth, left truncation, treatment.

The simulator draws a birth population of people with spinal muscular atrophy (SMA) over
many decades, gives each a latent untreated life history (type, SMN2 copies, onset,
milestones, respiratory and nutritional events, death), lets disease-modifying treatment
change that course from 2017 on, and then observes the population through a registry that
opens on a calendar date, enrols living patients (true left truncation), loses some to
follow-up and closes at a data cut. The result is the canonical export of
``registry-format.md`` §1 (tables ``patients``, ``events``, ``treatments``,
``assessments``), byte-for-byte reproducible from a seed.

Command line::

    python -m smanh.simulate --config config/simulation.yaml --out data/sample

Sources and calibration
-----------------------
Calibrated to published natural history (targets are checked in ``tests/test_simulate.py``
on a large untruncated, untreated simulated birth population):

* **Type 1, death or permanent ventilation** (>= 16 h/day): median 13.5 months, IQR
  8.1-22.0 months -- Finkel RS et al., *Neurology* 2014;83:810-817. Log-normal per SMN2 copy
  number (time ratios 0.45 / 1 / 1.9 for 1 / 2 / 3 copies, an assumption in the direction
  Finkel reports); the common median (12.44 months for 2 copies) and sigma (0.66) were fitted
  so that the *mixture* has median 13.4 and quartiles 8.1 / 22.1 months.
* **Type 1 survival (death)**: 32 % / 18 % / 8 % alive at 2 / 4 / 10 years -- Zerres K,
  Rudnik-Schoeneborn S, *Arch Neurol* 1995;52:518-523. Reproduced (33 / 17 / 8 %) by letting
  14.5 % of the death-or-ventilation events be permanent ventilation, followed by a
  log-normal survival on ventilation (median 9.8 years, sigma 1.0; fitted, an assumption).
* **Type 2 survival**: 98 % at 10 and 77 % at 20 years -- Zerres & Rudnik-Schoeneborn 1995.
  Weibull (shape 3.725, scale 29.74 years for 3 copies; time ratio 0.8 / 1 / 1.25 for
  2 / 3 / 4 copies, an assumption) fitted to both points for the SMN2 mixture.
* **Walking in type 3**: probability of still walking 10 and 40 years after onset 70.3 % /
  22.0 % (3a, onset < 3 years) and 96.7 % / 58.7 % (3b, onset >= 3 years) -- Zerres K et al.,
  *J Neurol Sci* 1997;146:67-72. Weibull time from onset to loss of walking fitted to the two
  points: 3a shape 1.052, scale 26.95 years; 3b shape 1.994, scale 54.9 years.
* **CHOP INTEND** in untreated type 1: mean decline 1.27 points/year -- Finkel 2014.
* **HFMSE** in types 2/3: mean 12-month change -0.56 (SD 2.72) -- Mercuri E et al.,
  *Neuromuscul Disord* 2016;26:126-131. Latent slope -0.72/year, random-slope SD 0.6/year,
  measurement SD 1.85, chosen so that the *observed* 12-month changes between untreated
  assessments of the registry (attenuated by floor and ceiling) have mean -0.52 and SD 2.63.
* **SMN2 copy number by type** -- Calucho M et al., *Neuromuscul Disord* 2018;28:208-215:
  type 1: 1/2/3 copies 7/73/20 %; type 2: 2/3/4 copies 16/78/6 %; type 3: 2/3/4/5 copies
  5/49/44/2 %; type 4: mostly >= 4 (here 3/4/5/6: 5/80/12/3 %, assumption); type 0: mostly 1
  copy (85 %, assumption).
* **Treatments**: nusinersen approved in the EU 2017 (from 2017-06-01 here), onasemnogene
  abeparvovec 2019 (USA) / 2020 (EU) (from 2019-07-01 here, infants < 2 years), risdiplam
  2021 (from 2021-03-26 here).

Assumptions (not calibrated to a source; plausible values chosen for the design):
proportions of types at birth (0/1/2/3/4: 2/58/27/12/1 %, in the range of incidence studies),
subtypes, onset ranges per subtype (classic definitions), type 0 (death or ventilation
median 5 weeks), types 3 and 4 survival (near-normal: Weibull medians 72 and 80 years),
ventilation, NIV, feeding tube, scoliosis surgery, loss of sitting, loss of walking in
type 4, milestone ages, diagnosis delays, genetic testing from 1996, registry participation,
enrolment delays, loss to follow-up, treatment uptake, treatment effect (an acceleration
factor of 3-4 on the time remaining to every adverse event, saturating score gains), and
every motor and respiratory score model other than the CHOP INTEND and HFMSE slopes.

Design choices that keep the known truth testable
-------------------------------------------------
Within an SMA type group the latent event times depend on SMN2 copies and chance only; age
at onset (and hence subtype 1a/1b/1c, diagnosis, enrolment) and the latent treatment start
(calendar availability, type group, diagnosis) are drawn independently of them. Left
truncation and censoring at treatment start are therefore non-informative given the type
group, so a Kaplan-Meier estimate with delayed entry recovers :func:`true_survival`, while one
that ignores delayed entry overestimates it (early deaths never enrol). The price is that
subtypes 1a/1b/1c do not differ in survival here -- a simplification of reality.

Examples
--------
>>> tables = simulate_registry({"n_births": 300}, seed=1)
>>> sorted(tables)
['assessments', 'events', 'patients', 'treatments']
>>> round(true_median("death_or_permanent_ventilation", "1") * 12, 1)
13.4
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from smanh.errors import ConfigError
from smanh.export_format import SCALE_RANGES as FORMAT_SCALE_RANGES
from smanh.export_format import TABLES

DAYS_PER_YEAR = 365.25
EPOCH = np.datetime64("1970-01-01", "D")
NEVER = np.inf

TYPE_GROUPS = ("0", "1", "2", "3", "4")
SUBTYPES = {"0": ("0",), "1": ("1a", "1b", "1c"), "2": ("2a", "2b"), "3": ("3a", "3b"), "4": ("4",)}
ALL_SUBTYPES = tuple(s for g in TYPE_GROUPS for s in SUBTYPES[g])
ENDPOINTS = ("death_or_permanent_ventilation", "death")
# The canonical export's tables and score ranges (no upper bound: inf, for clipping).
TABLE_COLUMNS = {name: tuple(c.name for c in table.columns) for name, table in TABLES.items()}
SCALE_RANGES = {
    scale: (low, np.inf if high is None else high) for scale, (low, high) in FORMAT_SCALE_RANGES.items()
}
# Latent ages (years) whose remaining time a treatment stretches; milestones are not here.
ADVERSE_EVENTS = (
    "death", "permanent_ventilation", "tracheostomy", "niv_start", "feeding_tube",
    "loss_of_independent_sitting", "loss_of_independent_walking",
)
MILESTONES = ("head_control", "sits_independently", "stands_independently", "walks_independently")


# --------------------------------------------------------------------------- parameters
@dataclass
class SurvivalModel:
    """Untreated time to the primary endpoint of one SMA type group.

    Parameters
    ----------
    family : {'lognormal', 'weibull'}
    primary : {'death_or_permanent_ventilation', 'death'}
        The endpoint drawn directly; the other one follows from ``p_ventilation``.
    scale_years : float
        Median (log-normal) or Weibull scale, in years, for the reference copy number.
    shape : float
        Sigma of log time (log-normal) or Weibull shape.
    copy_time_ratio : dict
        Multiplier of the time scale per SMN2 copy number (reference copy number = 1).
    p_ventilation : float
        If primary is death or ventilation: share of those events that are permanent
        ventilation (death follows after the survival on ventilation). If primary is death:
        probability of permanent ventilation before death, at a uniform fraction of the
        age at death (``NaturalHistory.ventilation_fraction_of_death_age``).
    """

    family: str
    primary: str
    scale_years: float
    shape: float
    copy_time_ratio: dict[int, float]
    p_ventilation: float


def _default_survival() -> dict[str, SurvivalModel]:
    dpv, death = "death_or_permanent_ventilation", "death"
    return {
        "0": SurvivalModel("lognormal", dpv, 0.1, 0.8, {1: 1.0, 2: 1.5}, 0.3),
        "1": SurvivalModel("lognormal", dpv, 12.44 / 12, 0.66, {1: 0.45, 2: 1.0, 3: 1.9}, 0.145),
        "2": SurvivalModel("weibull", death, 29.74, 3.725, {2: 0.8, 3: 1.0, 4: 1.25}, 0.25),
        "3": SurvivalModel("weibull", death, 72.0 / np.log(2) ** (1 / 5), 5.0,
                           {2: 0.85, 3: 0.95, 4: 1.0, 5: 1.05}, 0.05),
        "4": SurvivalModel("weibull", death, 80.0 / np.log(2) ** (1 / 7), 7.0,
                           {3: 1.0, 4: 1.0, 5: 1.0, 6: 1.0}, 0.02),
    }


@dataclass
class ScaleModel:
    """Linear mixed model of one score in one type group (ages in years).

    score = mean_at_ref + u + (slope + v) * (age - ref_age) + e, with patient random
    intercept u ~ N(0, sd_intercept), random slope v ~ N(0, sd_slope) and noise
    e ~ N(0, noise_sd); after treatment the decline stops and a saturating gain is added.
    """

    ref_age: float
    mean_at_ref: float
    sd_intercept: float
    slope: float
    sd_slope: float
    noise_sd: float
    treated_gain: float


def _default_scales() -> dict[str, dict[str, ScaleModel]]:
    chop = ScaleModel(0.5, 24.0, 6.0, -1.27, 0.8, 2.0, 14.0)  # slope: Finkel 2014
    hfmse2 = ScaleModel(5.0, 22.0, 8.0, -0.72, 0.6, 1.85, 3.0)  # slope/SDs: Mercuri 2016
    hfmse3 = ScaleModel(10.0, 46.0, 10.0, -0.72, 0.6, 1.85, 3.0)
    return {
        "CHOP_INTEND": {"0": ScaleModel(0.1, 8.0, 4.0, -1.27, 0.8, 2.0, 8.0), "1": chop},
        "HINE2": {"0": ScaleModel(0.1, 0.3, 0.5, -0.1, 0.1, 0.5, 2.0),
                  "1": ScaleModel(0.5, 1.5, 1.0, -0.3, 0.3, 0.7, 5.0)},
        "HFMSE": {"2": hfmse2, "3": hfmse3},
        "RULM": {"2": ScaleModel(8.0, 19.0, 6.0, -0.4, 0.5, 1.3, 1.5),
                 "3": ScaleModel(10.0, 32.0, 4.0, -0.2, 0.3, 1.0, 1.0)},
        "6MWT": {"3": ScaleModel(10.0, 330.0, 100.0, -7.0, 5.0, 25.0, 25.0),
                 "4": ScaleModel(35.0, 420.0, 80.0, -4.0, 3.0, 25.0, 20.0)},
        "FVC_PCT": {g: ScaleModel(*p, 0.0) for g, p in {
            "0": (5.0, 40.0, 15.0, -3.0, 1.5, 6.0), "1": (5.0, 45.0, 15.0, -3.0, 1.5, 6.0),
            "2": (8.0, 72.0, 15.0, -2.0, 0.7, 6.0), "3": (10.0, 95.0, 12.0, -1.0, 0.8, 6.0),
            "4": (35.0, 95.0, 10.0, -0.5, 0.5, 6.0)}.items()},
    }


@dataclass
class NaturalHistory:
    """Untreated natural history of SMA from birth (see the module docstring for sources)."""

    type_proportions: dict[str, float] = field(
        default_factory=lambda: {"0": 0.02, "1": 0.58, "2": 0.27, "3": 0.12, "4": 0.01})
    subtype_proportions: dict[str, float] = field(default_factory=lambda: {
        "0": 1.0, "1a": 0.10, "1b": 0.50, "1c": 0.40, "2a": 0.6, "2b": 0.4,
        "3a": 0.5, "3b": 0.5, "4": 1.0})
    smn2_distribution: dict[str, dict[int, float]] = field(default_factory=lambda: {
        "0": {1: 0.85, 2: 0.15}, "1": {1: 0.07, 2: 0.73, 3: 0.20},
        "2": {2: 0.16, 3: 0.78, 4: 0.06}, "3": {2: 0.05, 3: 0.49, 4: 0.44, 5: 0.02},
        "4": {3: 0.05, 4: 0.80, 5: 0.12, 6: 0.03}})
    # Age at onset, uniform on [low, high] years, per subtype (classic definitions).
    onset_years: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "0": (0.0, 7 / DAYS_PER_YEAR), "1a": (0.0, 14 / DAYS_PER_YEAR),
        "1b": (14 / DAYS_PER_YEAR, 0.25), "1c": (0.25, 0.5), "2a": (0.5, 1.5),
        "2b": (0.5, 1.5), "3a": (1.5, 3.0), "3b": (3.0, 18.0), "4": (18.0, 50.0)})
    survival: dict[str, SurvivalModel] = field(default_factory=_default_survival)
    post_ventilation_median_years: float = 9.8
    post_ventilation_sigma: float = 1.0
    ventilation_fraction_of_death_age: tuple[float, float] = (0.8, 0.97)
    # Loss of walking: Weibull (shape, scale in years) of time from onset (Zerres 1997).
    walk_loss_from_onset: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "3a": (1.052, 26.95), "3b": (1.994, 54.9), "4": (2.0, 60.0)})
    # Loss of sitting: Weibull (shape, scale) from onset (type 2) or from loss of walking.
    sit_loss: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "2a": (2.0, 25.0), "2b": (2.0, 40.0), "3a": (2.0, 30.0), "3b": (2.0, 30.0),
        "4": (2.0, 40.0)})
    # Probability and age window (fraction of the death-or-ventilation age) per group.
    niv: dict[str, tuple[float, float, float]] = field(default_factory=lambda: {
        "0": (0.3, 0.4, 0.9), "1": (0.6, 0.4, 0.9), "2": (0.6, 0.3, 0.8),
        "3": (0.1, 0.5, 0.9), "4": (0.02, 0.7, 0.95)})
    feeding_tube: dict[str, tuple[float, float, float]] = field(default_factory=lambda: {
        "0": (0.3, 0.5, 0.95), "1": (0.5, 0.5, 0.95), "2": (0.25, 0.3, 0.9),
        "3": (0.03, 0.6, 0.95), "4": (0.0, 0.9, 0.95)})
    p_tracheostomy: float = 0.5
    # Scoliosis surgery: probability and uniform age window (years) per subtype.
    scoliosis_surgery: dict[str, tuple[float, float, float]] = field(default_factory=lambda: {
        "2a": (0.6, 9.0, 16.0), "2b": (0.5, 10.0, 17.0), "3a": (0.35, 11.0, 18.0),
        "3b": (0.1, 12.0, 25.0)})
    scales: dict[str, dict[str, ScaleModel]] = field(default_factory=_default_scales)


@dataclass
class SimulationParams:
    """Registry design and natural history of one simulated registry.

    Parameters
    ----------
    n_births : int
        Size of the birth population with SMA (about 3.5 births per enrolled patient).
    birth_start, registry_open, data_cut : str
        ISO dates: first birth date, registry opening, data cut (last birth date too).
    genetic_testing_from : str
        Before this date no genetic confirmation was possible (SMN1 identified 1995).
    participation : float
        Probability that a living, diagnosed patient is ever enrolled.
    """

    n_births: int = 7000
    birth_start: str = "1940-01-01"
    registry_open: str = "2008-01-01"
    data_cut: str = "2025-06-30"
    genetic_testing_from: str = "1996-01-01"
    participation: float = 0.85
    # Diagnosis delay after onset: log-normal median (years) per group, sigma.
    diagnosis_delay_median_years: dict[str, float] = field(default_factory=lambda: {
        "0": 0.05, "1": 0.08, "2": 0.5, "3": 2.0, "4": 3.0})
    diagnosis_delay_sigma: float = 0.7
    catch_up_diagnosis_mean_years: float = 5.0
    # Enrolment delay (exponential mean, years) after max(registry_open, diagnosis).
    enrolment_delay_prevalent_years: float = 2.0
    enrolment_delay_incident_years: dict[str, float] = field(default_factory=lambda: {
        "0": 0.05, "1": 0.1, "2": 0.5, "3": 0.75, "4": 1.0})
    loss_to_follow_up_mean_years: float = 25.0
    last_contact_jitter_days: int = 180
    visit_interval_years: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "0": (0.25, 0.5), "1": (0.33, 0.5), "2": (0.5, 1.0), "3": (0.5, 1.0), "4": (0.75, 1.25)})
    p_assessment_done: float = 0.9
    p_milestone_recorded: float = 0.9
    # Treatment: ever treated (per group), mean wait after availability/diagnosis (years).
    p_treated: dict[str, float] = field(default_factory=lambda: {
        "0": 0.3, "1": 0.85, "2": 0.75, "3": 0.55, "4": 0.25})
    treatment_wait_mean_years: dict[str, float] = field(default_factory=lambda: {
        "0": 0.1, "1": 0.3, "2": 1.0, "3": 1.5, "4": 2.5})
    nusinersen_from: str = "2017-06-01"
    onasemnogene_from: str = "2019-07-01"
    risdiplam_from: str = "2021-03-26"
    p_onasemnogene_infant: float = 0.5
    p_risdiplam: float = 0.4
    p_other_treatment: float = 0.02
    p_discontinue: float = 0.15
    p_switch_after_discontinuation: float = 0.6
    acceleration_factor: dict[str, float] = field(default_factory=lambda: {
        "nusinersen": 3.0, "risdiplam": 3.0, "onasemnogene_abeparvovec": 4.0, "other": 1.5})
    treated_gain_tau_years: float = 0.5
    # Recording of the registry.
    p_bare_type: float = 0.2
    p_unknown_type: float = 0.01
    p_smn2_missing: float = 0.12
    p_onset_missing: float = 0.03
    p_diagnosis_missing: float = 0.03
    sex_probabilities: dict[str, float] = field(default_factory=lambda: {
        "M": 0.49, "F": 0.49, "U": 0.01, "": 0.01})
    site_probabilities: dict[str, float] = field(default_factory=lambda: {
        "DE": 0.30, "FR": 0.25, "IT": 0.20, "ES": 0.15, "NL": 0.10})
    natural_history: NaturalHistory = field(default_factory=NaturalHistory)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimulationParams:
        """Build from a (YAML) mapping; key ``seed`` is ignored, unknown keys are errors."""
        values = {k: v for k, v in values.items() if k != "seed"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"simulation config: unknown key(s) {unknown}; known: {sorted(known)}")
        nh = values.pop("natural_history", None) or {}
        nh_known = {f.name for f in dataclasses.fields(NaturalHistory)}
        if set(nh) - nh_known:
            raise ConfigError(f"simulation config: unknown natural_history key(s) {sorted(set(nh) - nh_known)}")
        for key, value in values.items():
            if isinstance(value, dt.date):  # YAML reads bare dates as dates
                values[key] = value.isoformat()
        if "survival" in nh:
            nh["survival"] = {g: SurvivalModel(**m) for g, m in nh["survival"].items()}
        return cls(**values, natural_history=NaturalHistory(**nh))


def _as_params(params: SimulationParams | dict | None) -> SimulationParams:
    if params is None:
        return SimulationParams()
    if isinstance(params, SimulationParams):
        return params
    return SimulationParams.from_dict(dict(params))


def load_config(path: str | Path) -> tuple[SimulationParams, int]:
    """Read ``config/simulation.yaml``: returns the parameters and the seed."""
    import yaml

    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    if "seed" not in values:
        raise ConfigError(f"{path}: key 'seed' is required")
    return SimulationParams.from_dict(values), int(values["seed"])


# --------------------------------------------------------------------------- helpers
def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - EPOCH).astype(np.int64))


def _iso(days: np.ndarray) -> np.ndarray:
    return (EPOCH + np.asarray(days, dtype=np.int64)).astype("datetime64[D]").astype(str)


def _years_to_days(years: np.ndarray) -> np.ndarray:
    """Whole days for a finite age/duration in years; inf stays a huge sentinel."""
    years = np.asarray(years, dtype=float)
    out = np.full(years.shape, np.iinfo(np.int64).max // 4, dtype=np.int64)
    finite = np.isfinite(years)
    out[finite] = np.floor(years[finite] * DAYS_PER_YEAR).astype(np.int64)
    return out


def _categorical(rng: np.random.Generator, probabilities: dict, n: int) -> np.ndarray:
    """Draw n labels with the given probabilities (keys in the given, fixed order)."""
    labels = list(probabilities)
    p = np.array([probabilities[k] for k in labels], dtype=float)
    idx = np.searchsorted(np.cumsum(p / p.sum()), rng.random(n), side="right")
    return np.array(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]


def _weibull(rng_u: np.ndarray, shape: float, scale: float) -> np.ndarray:
    return scale * (-np.log1p(-rng_u)) ** (1.0 / shape)


def _uniform_between(u: np.ndarray, low, high) -> np.ndarray:
    return low + u * (np.asarray(high) - np.asarray(low))


# --------------------------------------------------------------------------- natural history
def _primary_time(model: SurvivalModel, copies: np.ndarray, z: np.ndarray, u: np.ndarray) -> np.ndarray:
    ratio = np.array([model.copy_time_ratio.get(int(c), 1.0) for c in copies])
    scale = model.scale_years * ratio
    if model.family == "lognormal":
        return scale * np.exp(model.shape * z)
    return _weibull(u, model.shape, scale)


def simulate_birth_population(params: SimulationParams | dict | None, n: int,
                              rng: np.random.Generator) -> pd.DataFrame:
    """Latent, untreated life histories of ``n`` people with SMA, from birth.

    No truncation, censoring or treatment: this is the population that
    :func:`true_survival` describes. Ages are in years; ``inf`` means never.

    Returns
    -------
    pandas.DataFrame
        Columns ``type_group, subtype, smn2_copies, onset``, one column per event of the
        export vocabulary (age at the event), ``death_or_permanent_ventilation`` and
        ``death``.
    """
    nh = _as_params(params).natural_history
    group = _categorical(rng, nh.type_proportions, n)
    subtype = np.empty(n, dtype=object)
    copies = np.zeros(n, dtype=np.int64)
    u_sub, u_copy = rng.random(n), rng.random(n)
    for g in TYPE_GROUPS:
        m = group == g
        sub_p = np.array([nh.subtype_proportions[s] for s in SUBTYPES[g]])
        idx = np.searchsorted(np.cumsum(sub_p / sub_p.sum()), u_sub[m], side="right")
        subtype[m] = np.array(SUBTYPES[g], dtype=object)[np.minimum(idx, len(sub_p) - 1)]
        cp = nh.smn2_distribution[g]
        keys = np.array(list(cp))
        cidx = np.searchsorted(np.cumsum(np.array(list(cp.values())) / sum(cp.values())),
                               u_copy[m], side="right")
        copies[m] = keys[np.minimum(cidx, len(keys) - 1)]

    low = np.array([nh.onset_years[s][0] for s in subtype])
    high = np.array([nh.onset_years[s][1] for s in subtype])
    onset = _uniform_between(rng.random(n), low, high)

    # Survival: independent of onset/subtype within the group (see module docstring).
    z, u, u_vent, z_post, u_frac = (rng.standard_normal(n), rng.random(n), rng.random(n),
                                    rng.standard_normal(n), rng.random(n))
    dpv = np.full(n, NEVER)
    death = np.full(n, NEVER)
    pv = np.full(n, NEVER)
    post_vent = nh.post_ventilation_median_years * np.exp(nh.post_ventilation_sigma * z_post)
    for g in TYPE_GROUPS:
        m = group == g
        model = nh.survival[g]
        t = _primary_time(model, copies[m], z[m], u[m])
        ventilated = u_vent[m] < model.p_ventilation
        if model.primary == "death_or_permanent_ventilation":
            dpv[m] = t
            pv[m] = np.where(ventilated, t, NEVER)
            death[m] = np.where(ventilated, t + post_vent[m], t)
        else:
            lo, hi = nh.ventilation_fraction_of_death_age
            death[m] = t
            pv[m] = np.where(ventilated, t * _uniform_between(u_frac[m], lo, hi), NEVER)
            dpv[m] = np.minimum(death[m], pv[m])

    u_trach, u_trach_delay = rng.random(n), rng.random(n)
    trach = np.where(u_trach < nh.p_tracheostomy, pv + u_trach_delay * 60 / DAYS_PER_YEAR, NEVER)
    niv = _event_before(rng, group, dpv, nh.niv)
    feeding = _event_before(rng, group, dpv, nh.feeding_tube)

    u_surg, u_surg_age = rng.random(n), rng.random(n)
    scoliosis = np.full(n, NEVER)
    for s, (p, a, b) in nh.scoliosis_surgery.items():
        m = subtype == s
        scoliosis[m] = np.where(u_surg[m] < p, _uniform_between(u_surg_age[m], a, b), NEVER)

    milestones = _milestones(rng, subtype, onset)
    u_walk, u_sit = rng.random(n), rng.random(n)
    walk_loss = np.full(n, NEVER)
    for s, (k, lam) in nh.walk_loss_from_onset.items():
        m = subtype == s
        walk_loss[m] = onset[m] + _weibull(u_walk[m], k, lam)
    walk_loss = np.where(np.isfinite(milestones["walks_independently"]), walk_loss, NEVER)
    sit_loss = np.full(n, NEVER)
    for s, (k, lam) in nh.sit_loss.items():
        m = subtype == s
        start = onset[m] if s.startswith("2") else walk_loss[m]
        sit_loss[m] = start + _weibull(u_sit[m], k, lam)
    # Sitting can only be lost after it was gained.
    sit_loss = np.where(np.isfinite(milestones["sits_independently"]),
                        np.maximum(sit_loss, milestones["sits_independently"] + 0.25), NEVER)

    return pd.DataFrame({
        "type_group": group, "subtype": subtype, "smn2_copies": copies, "onset": onset,
        **milestones,
        "niv_start": niv, "feeding_tube": feeding, "permanent_ventilation": pv,
        "tracheostomy": trach, "scoliosis_surgery": scoliosis,
        "loss_of_independent_sitting": sit_loss, "loss_of_independent_walking": walk_loss,
        "death_or_permanent_ventilation": dpv, "death": death,
    })


def _event_before(rng, group, anchor, spec) -> np.ndarray:
    """With probability p (per group), an event at a uniform fraction [a, b] of ``anchor``."""
    u, u_frac = rng.random(len(group)), rng.random(len(group))
    out = np.full(len(group), NEVER)
    for g, (p, a, b) in spec.items():
        m = group == g
        out[m] = np.where(u[m] < p, anchor[m] * _uniform_between(u_frac[m], a, b), NEVER)
    return out


def _milestones(rng, subtype, onset) -> dict[str, np.ndarray]:
    """Motor milestones consistent with the subtype (ages in years; inf = never)."""
    n = len(subtype)
    u = {name: rng.random(n) for name in ("head_p", "head", "sit", "stand", "walk")}
    head_p = {"0": 0.0, "1a": 0.0, "1b": 0.1, "1c": 0.4}
    is1 = np.isin(subtype, ["1a", "1b", "1c"])
    p_head = np.array([head_p.get(s, 1.0) for s in subtype])
    head = np.where(u["head_p"] < p_head,
                    np.where(is1, _uniform_between(u["head"], 0.3, 0.6),
                             _uniform_between(u["head"], 0.2, 0.4)), NEVER)
    is2 = np.isin(subtype, ["2a", "2b"])
    walker = np.isin(subtype, ["3a", "3b", "4"])
    sit = np.where(is2, _uniform_between(u["sit"], 0.6, 1.2),
                   np.where(walker, _uniform_between(u["sit"], 0.45, 0.75), NEVER))
    is3a = subtype == "3a"
    stand = np.where(walker, np.where(is3a, _uniform_between(u["stand"], 0.9, 1.1),
                                      _uniform_between(u["stand"], 0.75, 1.0)), NEVER)
    # 3a walks before its onset at >= 18 months, so loss of walking comes after walking.
    walk = np.where(walker, np.where(is3a, _uniform_between(u["walk"], 1.15, 1.45),
                                     _uniform_between(u["walk"], 1.05, 1.4)), NEVER)
    return {"head_control": head, "sits_independently": sit,
            "stands_independently": stand, "walks_independently": walk}


# --------------------------------------------------------------------------- known truth
def _component_survival(model: SurvivalModel, copies: int, t: np.ndarray) -> np.ndarray:
    scale = model.scale_years * model.copy_time_ratio.get(int(copies), 1.0)
    t = np.maximum(np.asarray(t, dtype=float), 1e-12)
    if model.family == "lognormal":
        return stats.norm.sf(np.log(t / scale) / model.shape)
    return np.exp(-((t / scale) ** model.shape))


def _component_quantiles(model: SurvivalModel, copies: int, n: int) -> np.ndarray:
    q = (np.arange(n) + 0.5) / n
    scale = model.scale_years * model.copy_time_ratio.get(int(copies), 1.0)
    if model.family == "lognormal":
        return scale * np.exp(model.shape * stats.norm.ppf(q))
    return scale * (-np.log1p(-q)) ** (1.0 / model.shape)


def true_survival(endpoint: str, sma_type_group: str, ages_years: np.ndarray,
                  params: SimulationParams | dict | None = None) -> np.ndarray:
    """Untreated survival function S(age) of the birth population of one SMA type group.

    Computed from the simulator's distributions (mixture over SMN2 copy numbers with their
    birth proportions, ventilation branch by numerical integration), not from a registry.

    A delayed-entry Kaplan-Meier estimate on a simulated registry recovers the
    ``death_or_permanent_ventilation`` truth exactly (in expectation). For ``death`` it is
    only approximate: enrolment also requires freedom from permanent ventilation, so
    patients ventilated before enrolment (who live on for a while) never enter, and the
    registry's death curve sits slightly off this truth in the tail (type 1: about -0.02
    at 4 years; type 2: about +0.03 at 30 years, in a very large registry).

    Parameters
    ----------
    endpoint : {'death_or_permanent_ventilation', 'death'}
    sma_type_group : {'0', '1', '2', '3', '4'}
    ages_years : array_like
        Ages (years) at which to evaluate S.
    params : SimulationParams or dict, optional
        Defaults to the bundled natural history.

    Returns
    -------
    numpy.ndarray
        P(event age > age), same shape as ``ages_years``.
    """
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
    if sma_type_group not in TYPE_GROUPS:
        raise ValueError(f"sma_type_group must be one of {TYPE_GROUPS}, got {sma_type_group!r}")
    nh = _as_params(params).natural_history
    model = nh.survival[sma_type_group]
    ages = np.asarray(ages_years, dtype=float)
    flat = ages.ravel()
    total = np.zeros_like(flat)
    weights = nh.smn2_distribution[sma_type_group]
    norm = sum(weights.values())
    p = model.p_ventilation
    for copies, w in weights.items():
        s = _component_survival(model, copies, flat)
        if endpoint == model.primary:
            part = s
        elif model.primary == "death_or_permanent_ventilation":  # death = T + R if ventilated
            t_q = _component_quantiles(model, copies, 4000)
            resid = flat[:, None] - t_q[None, :]
            s_post = stats.norm.sf(np.log(np.maximum(resid, 1e-300) / nh.post_ventilation_median_years)
                                   / nh.post_ventilation_sigma)
            part = (1 - p) * s + p * np.where(resid <= 0, 1.0, s_post).mean(axis=1)
        else:  # death or ventilation = min(T, U * T) with U uniform, if ventilated
            lo, hi = nh.ventilation_fraction_of_death_age
            frac = lo + (np.arange(400) + 0.5) / 400 * (hi - lo)
            s_vent = _component_survival(model, copies, flat[:, None] / frac[None, :]).mean(axis=1)
            part = (1 - p) * s + p * s_vent
        total += w / norm * part
    total = np.where(flat <= 0, 1.0, total)
    return total.reshape(ages.shape)


def true_median(endpoint: str, sma_type_group: str,
                params: SimulationParams | dict | None = None) -> float:
    """Age (years) at which :func:`true_survival` crosses 0.5."""
    return float(optimize.brentq(
        lambda a: true_survival(endpoint, sma_type_group, np.array([a]), params)[0] - 0.5,
        1e-6, 150.0, xtol=1e-9))


# --------------------------------------------------------------------------- registry
def _apply_treatment(hist: pd.DataFrame, start_age: np.ndarray, factor: np.ndarray) -> pd.DataFrame:
    """Stretch the time remaining after treatment start to every adverse event."""
    out = hist.copy()
    for col in ADVERSE_EVENTS:
        t = out[col].to_numpy().copy()
        after = np.isfinite(start_age) & np.isfinite(t) & (t > start_age)
        t[after] = start_age[after] + (t[after] - start_age[after]) * factor[after]
        out[col] = t
    out["death_or_permanent_ventilation"] = np.minimum(out["death"], out["permanent_ventilation"])
    return out


def _treatment_plan(rng, p: SimulationParams, group, birth, diag) -> dict[str, np.ndarray]:
    """Latent first treatment: by calendar availability, type group and diagnosis only."""
    n = len(group)
    treated = rng.random(n) < np.array([p.p_treated[g] for g in group])
    wait = rng.exponential(1.0, n) * np.array([p.treatment_wait_mean_years[g] for g in group])
    start = np.maximum(_day(p.nusinersen_from), diag) + _years_to_days(wait)
    age = (start - birth) / DAYS_PER_YEAR
    u_drug, u_other = rng.random(n), rng.random(n)
    infant = (age < 2.0) & np.isin(group, ["0", "1", "2"])
    drug = np.full(n, "nusinersen", dtype=object)
    risdiplam = (start >= _day(p.risdiplam_from)) & (u_drug < p.p_risdiplam)
    drug[risdiplam] = "risdiplam"
    gene = infant & (start >= _day(p.onasemnogene_from)) & (u_drug >= 1 - p.p_onasemnogene_infant)
    drug[gene] = "onasemnogene_abeparvovec"
    drug[u_other < p.p_other_treatment] = "other"
    return {"treated": treated, "start": np.where(treated, start, np.iinfo(np.int64).max // 4),
            "drug": drug}


def _diagnosis_days(rng, p: SimulationParams, group, birth, onset_age) -> np.ndarray:
    med = np.array([p.diagnosis_delay_median_years[g] for g in group])
    delay = med * np.exp(p.diagnosis_delay_sigma * rng.standard_normal(len(group)))
    diag = birth + _years_to_days(onset_age + delay)
    catch_up = _day(p.genetic_testing_from) + _years_to_days(
        rng.exponential(p.catch_up_diagnosis_mean_years, len(group)))
    return np.where(diag < _day(p.genetic_testing_from), catch_up, diag)


def _registry_frame(params: SimulationParams, seed: int) -> tuple[pd.DataFrame, np.random.Generator]:
    """Birth population with calendar dates, actual (treated) course and enrolment."""
    p = params
    rng = np.random.default_rng(seed)
    n = p.n_births
    first, cut = _day(p.birth_start), _day(p.data_cut)
    birth = first + np.floor(rng.random(n) * (cut - first)).astype(np.int64)
    natural = simulate_birth_population(p, n, rng)
    group = natural["type_group"].to_numpy()
    diag = _diagnosis_days(rng, p, group, birth, natural["onset"].to_numpy())
    plan = _treatment_plan(rng, p, group, birth, diag)
    start_age = np.where(plan["treated"], (plan["start"] - birth) / DAYS_PER_YEAR, NEVER)
    # Treatment happens only to the living (natural course before it) and before the cut.
    alive = start_age < natural["death"].to_numpy()
    start_age = np.where(alive & (plan["start"] <= cut), start_age, NEVER)
    factor = np.array([p.acceleration_factor[d] for d in plan["drug"]])
    actual = _apply_treatment(natural, start_age, factor)
    actual = _treated_milestones(rng, actual, start_age)

    participates = rng.random(n) < p.participation
    prevalent = diag < _day(p.registry_open)
    delay_years = rng.exponential(1.0, n) * np.where(
        prevalent, p.enrolment_delay_prevalent_years,
        np.array([p.enrolment_delay_incident_years[g] for g in group]))
    enrol = np.maximum(_day(p.registry_open), diag) + _years_to_days(delay_years)
    death_day = birth + _years_to_days(actual["death"].to_numpy())
    pv_day = birth + _years_to_days(actual["permanent_ventilation"].to_numpy())
    enrolled = participates & (enrol <= cut) & (enrol < death_day) & (enrol < pv_day)

    follow_end = np.minimum(cut, enrol + _years_to_days(rng.exponential(p.loss_to_follow_up_mean_years, n)))
    jitter = np.floor(rng.random(n) * (p.last_contact_jitter_days + 1)).astype(np.int64)
    # Censoring must not depend on the event: a death is known only up to the date at which
    # a survivor would have been last seen (otherwise deaths get a longer window).
    last_seen_alive = np.maximum(enrol, follow_end - jitter)
    died_observed = death_day <= last_seen_alive
    last_contact = np.where(died_observed, death_day, last_seen_alive)

    frame = actual.assign(
        birth=birth, diag=diag, enrol=enrol, last_contact=last_contact,
        death_day=np.where(died_observed, death_day, -1), enrolled=enrolled,
        treatment_start_age=start_age, first_drug=plan["drug"],
        treatment_start=np.where(np.isfinite(start_age), plan["start"], -1))
    return frame, rng


def _treated_milestones(rng, hist: pd.DataFrame, start_age: np.ndarray) -> pd.DataFrame:
    """Treated infants may gain head control and sitting (infant types only)."""
    n = len(hist)
    u_head, u_head_t, u_sit, u_sit_t = (rng.random(n) for _ in range(4))
    infant_type = hist["type_group"].isin(["0", "1"]).to_numpy() & np.isfinite(start_age)
    p_sit = np.select([start_age < 0.5, start_age < 1.0, start_age < 2.0], [0.6, 0.4, 0.2], 0.0)
    out = hist.copy()
    head = out["head_control"].to_numpy()
    new_head = infant_type & ~np.isfinite(head) & (u_head < 0.8)
    out["head_control"] = np.where(new_head, start_age + _uniform_between(u_head_t, 0.2, 0.6), head)
    sit = out["sits_independently"].to_numpy()
    new_sit = infant_type & ~np.isfinite(sit) & (u_sit < p_sit)
    out["sits_independently"] = np.where(new_sit, start_age + _uniform_between(u_sit_t, 0.5, 1.5), sit)
    return out


def _patients_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    m = len(reg)
    sub, group = reg["subtype"].to_numpy(), reg["type_group"].to_numpy()
    u_type = rng.random(m)
    recorded_type = np.where((u_type < p.p_bare_type) & np.isin(group, ["1", "2", "3"]), group, sub)
    recorded_type = np.where(u_type > 1 - p.p_unknown_type, "unknown", recorded_type)
    copies = reg["smn2_copies"].astype(str).to_numpy()
    copies = np.where(rng.random(m) < p.p_smn2_missing, "", copies)
    onset_day = reg["birth"].to_numpy() + _years_to_days(reg["onset"].to_numpy())
    onset = np.where(rng.random(m) < p.p_onset_missing, "", _iso(onset_day))
    diagnosis = np.where(rng.random(m) < p.p_diagnosis_missing, "", _iso(reg["diag"].to_numpy()))
    death = reg["death_day"].to_numpy()
    return pd.DataFrame({
        "patient_id": reg["patient_id"].to_numpy(),
        "sex": _categorical(rng, p.sex_probabilities, m),
        "birth_date": _iso(reg["birth"].to_numpy()),
        "sma_type": recorded_type,
        "smn2_copies": copies,
        "onset_date": onset,
        "diagnosis_date": diagnosis,
        "enrolment_date": _iso(reg["enrol"].to_numpy()),
        "last_contact_date": _iso(reg["last_contact"].to_numpy()),
        "death_date": np.where(death >= 0, _iso(np.maximum(death, 0)), ""),
        "site": _categorical(rng, p.site_probabilities, m),
    })


def _events_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    """Events between birth and last contact (history before enrolment included)."""
    rows = []
    birth, end = reg["birth"].to_numpy(), reg["last_contact"].to_numpy()
    for name in MILESTONES + ADVERSE_EVENTS[1:] + ("scoliosis_surgery",):
        day = birth + _years_to_days(reg[name].to_numpy())
        keep = np.isfinite(reg[name].to_numpy()) & (day <= end)
        recorded = rng.random(len(reg)) < (p.p_milestone_recorded if name in MILESTONES else 1.0)
        keep &= recorded
        rows.append(pd.DataFrame({"patient_id": reg["patient_id"].to_numpy()[keep],
                                  "event": name, "day": day[keep]}))
    events = pd.concat(rows, ignore_index=True)
    events = events.sort_values(["patient_id", "day", "event"], kind="stable")
    return pd.DataFrame({"patient_id": events["patient_id"].to_numpy(),
                         "event": events["event"].to_numpy(), "date": _iso(events["day"].to_numpy())})


def _treatments_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    """First treatment episode, discontinuation and switches, as known at last contact."""
    m = len(reg)
    u_stop, u_dur, u_switch, u_gap = rng.random(m), rng.exponential(2.0, m), rng.random(m), rng.random(m)
    start, end_obs = reg["treatment_start"].to_numpy(), reg["last_contact"].to_numpy()
    drug = reg["first_drug"].to_numpy()
    ids = reg["patient_id"].to_numpy()
    rows = []
    for i in np.flatnonzero((start >= 0) & (start <= end_obs)):
        if drug[i] == "onasemnogene_abeparvovec":  # one infusion
            rows.append((ids[i], drug[i], start[i], start[i]))
            continue
        stop = start[i] + max(30, int(u_dur[i] * DAYS_PER_YEAR))
        if u_stop[i] < p.p_discontinue and stop <= end_obs[i]:
            rows.append((ids[i], drug[i], start[i], stop))
            switch = stop + 14 + int(u_gap[i] * 76)
            alt = "risdiplam" if drug[i] != "risdiplam" else "nusinersen"
            if (u_switch[i] < p.p_switch_after_discontinuation and switch <= end_obs[i]
                    and switch >= _day(p.risdiplam_from)):
                rows.append((ids[i], alt, switch, -1))
        else:
            rows.append((ids[i], drug[i], start[i], -1))
    t = pd.DataFrame(rows, columns=["patient_id", "treatment", "start", "end"])
    t = t.sort_values(["patient_id", "start", "treatment"], kind="stable")
    end = t["end"].to_numpy()
    return pd.DataFrame({
        "patient_id": t["patient_id"].to_numpy(), "treatment": t["treatment"].to_numpy(),
        "start_date": _iso(t["start"].to_numpy()),
        "end_date": np.where(end >= 0, _iso(np.maximum(end, 0)), ""),
    })


def _visit_days(rng, p: SimulationParams, reg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Visit schedule: enrolment, then every 6-12 months (per group) with jitter."""
    m = len(reg)
    lo = np.array([p.visit_interval_years[g][0] for g in reg["type_group"]])
    hi = np.array([p.visit_interval_years[g][1] for g in reg["type_group"]])
    span = (_day(p.data_cut) - _day(p.registry_open)) / DAYS_PER_YEAR
    k = int(np.ceil(span / min(v[0] for v in p.visit_interval_years.values()))) + 1
    steps = _uniform_between(rng.random((m, k)), lo[:, None], hi[:, None])
    offsets = np.concatenate([np.zeros((m, 1)), np.cumsum(steps, axis=1)[:, :-1]], axis=1)
    days = reg["enrol"].to_numpy()[:, None] + _years_to_days(offsets)
    valid = days <= reg["last_contact"].to_numpy()[:, None]
    return days, valid


def _assessments_table(rng, p: SimulationParams, reg: pd.DataFrame) -> pd.DataFrame:
    days, valid = _visit_days(rng, p, reg)
    m, k = days.shape
    ages = (days - reg["birth"].to_numpy()[:, None]) / DAYS_PER_YEAR
    group = reg["type_group"].to_numpy()
    start = reg["treatment_start_age"].to_numpy()[:, None]
    gain_mult = _uniform_between(rng.random(m), 0.3, 1.7)[:, None]
    gene = (reg["first_drug"].to_numpy() == "onasemnogene_abeparvovec")[:, None]
    walking = ((reg["walks_independently"].to_numpy()[:, None] <= ages)
               & (ages < reg["loss_of_independent_walking"].to_numpy()[:, None]))
    applicable = {
        "CHOP_INTEND": np.ones_like(ages, dtype=bool), "HINE2": ages < 2.0,
        "HFMSE": ages >= 2.0, "RULM": ages >= 2.5, "6MWT": walking & (ages >= 5.0),
        "FVC_PCT": ages >= 5.0,
    }
    ids = reg["patient_id"].to_numpy()
    rows = []
    for scale in SCALE_RANGES:  # fixed order: determinism of the random stream
        z_int, z_slope, noise, done = (rng.standard_normal(m), rng.standard_normal(m),
                                       rng.standard_normal((m, k)), rng.random((m, k)))
        models = p.natural_history.scales[scale]
        for g, sm in models.items():
            in_g = (group == g)[:, None]
            intercept = sm.mean_at_ref + sm.sd_intercept * z_int[:, None]
            slope = sm.slope + sm.sd_slope * z_slope[:, None]
            natural = intercept + slope * (ages - sm.ref_age)
            since = np.where(np.isfinite(start), np.maximum(ages - start, 0.0), 0.0)
            gain = sm.treated_gain * gain_mult * np.where(gene, 1.4, 1.0)
            # After treatment: the decline stops and a saturating gain adds up.
            treated = (natural - slope * since
                       + gain * (1 - np.exp(-since / p.treated_gain_tau_years)))
            score = np.where(since > 0, treated, natural) + sm.noise_sd * noise
            low, high = SCALE_RANGES[scale]
            score = np.rint(np.clip(score, low, high)).astype(np.int64)
            keep = valid & in_g & applicable[scale] & (done < p.p_assessment_done)
            r, c = np.nonzero(keep)
            rows.append(pd.DataFrame({"patient_id": ids[r], "day": days[r, c],
                                      "scale": scale, "score": score[r, c]}))
    a = pd.concat(rows, ignore_index=True).sort_values(["patient_id", "day", "scale"], kind="stable")
    return pd.DataFrame({"patient_id": a["patient_id"].to_numpy(), "date": _iso(a["day"].to_numpy()),
                         "scale": a["scale"].to_numpy(), "score": a["score"].astype(str).to_numpy()})


def simulate_registry(params: SimulationParams | dict | None, seed: int) -> dict[str, pd.DataFrame]:
    """Simulate one registry export (canonical format v1, all columns as strings).

    Parameters
    ----------
    params : SimulationParams or dict or None
        Registry design and natural history; a dict is read by
        :meth:`SimulationParams.from_dict`; None = defaults.
    seed : int
        Seed of the single :class:`numpy.random.Generator` behind every draw.

    Returns
    -------
    dict of pandas.DataFrame
        Keys ``patients``, ``events``, ``treatments``, ``assessments``; blank = ``""``.
    """
    p = _as_params(params)
    frame, rng = _registry_frame(p, seed)
    reg = frame[frame["enrolled"]].copy()
    # Pseudonymous ids in order of enrolment, so the id says nothing about type or outcome.
    order = np.lexsort((reg.index.to_numpy(), reg["birth"].to_numpy(), reg["enrol"].to_numpy()))
    reg = reg.iloc[order].reset_index(drop=True)
    reg["patient_id"] = [f"P{i + 1:05d}" for i in range(len(reg))]
    tables = {
        "patients": _patients_table(rng, p, reg),
        "events": _events_table(rng, p, reg),
        "treatments": _treatments_table(rng, p, reg),
        "assessments": _assessments_table(rng, p, reg),
    }
    return {name: t.reset_index(drop=True)[list(TABLE_COLUMNS[name])] for name, t in tables.items()}


def write_registry(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write the four tables as ``<out_dir>/<table>.csv`` (UTF-8, comma, ``\\n``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLE_COLUMNS:
        path = out / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            tables[name].to_csv(f, index=False, lineterminator="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m smanh.simulate --config ... --out ...``."""
    parser = argparse.ArgumentParser(prog="python -m smanh.simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="simulation YAML (e.g. config/simulation.yaml)")
    parser.add_argument("--out", required=True, help="output folder for the four CSV tables")
    args = parser.parse_args(argv)
    params, seed = load_config(args.config)
    tables = simulate_registry(params, seed)
    write_registry(tables, args.out)
    counts = ", ".join(f"{k}={len(v)}" for k, v in tables.items())
    print(f"wrote {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
