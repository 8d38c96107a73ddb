"""Parameters of the synthetic registry (``config/simulation.yaml`` sets any of them;
sources and assumptions: :mod:`smanh.synthetic.simulate`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smanh.config.units import DAYS_PER_YEAR
from smanh.errors import ConfigError
from smanh.ingest.export_format import SCALE_RANGES as FORMAT_SCALE_RANGES
from smanh.ingest.export_format import TABLES

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
class ScoreTrajectoryModel:
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


def _default_scales() -> dict[str, dict[str, ScoreTrajectoryModel]]:
    chop = ScoreTrajectoryModel(0.5, 24.0, 6.0, -1.27, 0.8, 2.0, 14.0)  # slope: Finkel 2014
    hfmse2 = ScoreTrajectoryModel(5.0, 22.0, 8.0, -0.72, 0.6, 1.85, 3.0)  # slope/SDs: Mercuri 2016
    hfmse3 = ScoreTrajectoryModel(10.0, 46.0, 10.0, -0.72, 0.6, 1.85, 3.0)
    return {
        "CHOP_INTEND": {"0": ScoreTrajectoryModel(0.1, 8.0, 4.0, -1.27, 0.8, 2.0, 8.0), "1": chop},
        "HINE2": {"0": ScoreTrajectoryModel(0.1, 0.3, 0.5, -0.1, 0.1, 0.5, 2.0),
                  "1": ScoreTrajectoryModel(0.5, 1.5, 1.0, -0.3, 0.3, 0.7, 5.0)},
        "HFMSE": {"2": hfmse2, "3": hfmse3},
        "RULM": {"2": ScoreTrajectoryModel(8.0, 19.0, 6.0, -0.4, 0.5, 1.3, 1.5),
                 "3": ScoreTrajectoryModel(10.0, 32.0, 4.0, -0.2, 0.3, 1.0, 1.0)},
        "6MWT": {"3": ScoreTrajectoryModel(10.0, 330.0, 100.0, -7.0, 5.0, 25.0, 25.0),
                 "4": ScoreTrajectoryModel(35.0, 420.0, 80.0, -4.0, 3.0, 25.0, 20.0)},
        "FVC_PCT": {g: ScoreTrajectoryModel(*p, 0.0) for g, p in {
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
    scales: dict[str, dict[str, ScoreTrajectoryModel]] = field(default_factory=_default_scales)


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
    values, seed = seeded_yaml(path)
    return SimulationParams.from_dict(values), seed


def seeded_yaml(path: str | Path) -> tuple[dict, int]:
    """A simulation config: its mapping and its required ``seed``."""
    import yaml

    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    if "seed" not in values:
        raise ConfigError(f"{path}: key 'seed' is required")
    return values, int(values["seed"])
