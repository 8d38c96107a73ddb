"""Inverse probability of censoring weights for treatment as informative censoring.

The natural-history follow-up ends at the first disease-modifying treatment. When the
decision to treat depends on how the disease is going (a motor decline), the patients left
untreated are not like those treated, and the Kaplan–Meier curve of the natural-history
follow-up is biased. Weighting the untreated person-time by the inverse of the probability
of having stayed untreated, given what predicted treatment, removes that bias when the
predictors are measured (no unmeasured confounding of the censoring).

On the person-intervals of :mod:`smanh.cohort.intervals` two pooled logistic models of a
treatment start in the interval are fitted (:func:`smanh.survival.logistic.fit_logistic`,
R ``glm(treated ~ ..., family = binomial)``):

* denominator: age (years since birth, /10, and its square), calendar period
  (``calendar_periods``), SMA type group, SMN2 copy group, and for each motor scale the
  latest score (/10, 0 when none yet) with an indicator of no score yet;
* numerator (stabilisation): age and its square only. A numerator with baseline
  covariates (type, SMN2, period) would tilt the weighted risk set towards the levels
  less often treated, which is right only for curves conditional on those covariates; a
  function of age is right for every stratum's curve.

Levels of a categorical covariate (period, type, SMN2) in which nobody started a treatment
have a probability 0 of starting one (the maximum likelihood estimate): their rows are
left out of both fits and their factor is 1. Columns that are empty or collinear on the
fitted rows are dropped; a model that still has no finite estimate (separation) is refitted
without the motor scores, then without SMN2, type, period and age in turn (a note says so);
when not even an intercept can be fitted (every fitted interval has a start), the weights
are 1 with a note.

The weight of a row is the cumulative product over the patient's rows up to and including
it of ``P(no start | numerator) / P(no start | denominator)`` (a start in the interval
censors its follow-up), truncated at the ``truncate`` percentiles (R ``quantile`` type 7)
of the weights of all rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from smanh.cohort.intervals import score_column
from smanh.errors import ConfigError, ModelError
from smanh.survival.logistic import LogisticFit, fit_logistic

NUMERATOR_TERMS = ("age", "age^2")
# terms dropped in turn when the denominator model has no finite estimate
FALLBACK_ORDER = ("motor", "smn2", "sma_type", "period", "age")
RANK_TOLERANCE = 1e-9


@dataclass(frozen=True)
class IpcwOptions:
    """``analysis.ipcw`` of the validated config."""

    enabled: bool = True
    interval_months: float = 3.0
    truncate: tuple[float, float] = (1.0, 99.0)
    motor_scales: tuple[str, ...] = ("HFMSE", "CHOP_INTEND")
    calendar_periods: tuple[int, ...] = (2017, 2020)

    @classmethod
    def from_config(cls, ipcw: dict) -> IpcwOptions:
        low, high = ipcw["truncate_percentiles"]
        if low > high:
            raise ConfigError(f"analysis.ipcw.truncate_percentiles: {low} is above {high}")
        return cls(bool(ipcw["enabled"]), float(ipcw["interval_months"]),
                   tuple(float(p) for p in ipcw["truncate_percentiles"]),
                   tuple(ipcw["motor_scales"]), tuple(int(y) for y in ipcw["calendar_periods"]))

    @property
    def interval_years(self) -> float:
        return self.interval_months / 12.0


@dataclass
class Weights:
    """Per person-interval: probabilities of a start (numerator, denominator), weights."""

    p_numerator: np.ndarray
    p_denominator: np.ndarray
    raw: np.ndarray  # untruncated cumulative products
    weight: np.ndarray  # truncated
    bounds: tuple[float, float]
    numerator: LogisticFit | None
    denominator: LogisticFit | None
    notes: list[str] = field(default_factory=list)


def period_labels(calendar_year, breaks) -> np.ndarray:
    """``<2017``, ``2017-2019``, ``2020+`` for breaks (2017, 2020)."""
    breaks = sorted(int(b) for b in breaks)
    labels = np.array([f"<{breaks[0]}", *[f"{a}-{b - 1}" for a, b in zip(breaks, breaks[1:])], f"{breaks[-1]}+"]
                      if breaks else ["all"], dtype=object)
    return labels[np.searchsorted(np.asarray(breaks, float), np.asarray(calendar_year, float), side="right")]


def design(intervals: pd.DataFrame, options: IpcwOptions) -> tuple[pd.DataFrame, dict[str, list[str]], np.ndarray]:
    """``(X, groups, structural_zero)``: the denominator's columns (no intercept), the
    columns of each term group, and the rows whose level of a categorical covariate has
    no treatment start."""
    age = intervals["age"].to_numpy(float) / 10.0
    columns = {"age": age, "age^2": age**2}
    groups = {"age": ["age", "age^2"]}
    treated = intervals["treated"].to_numpy() == 1
    zero = np.zeros(len(intervals), dtype=bool)
    factors = {"period": period_labels(intervals["calendar_year"], options.calendar_periods),
               "sma_type": intervals["sma_type_group"].astype(str).to_numpy(),
               "smn2": intervals["smn2_group"].astype(str).to_numpy()}
    for name, values in factors.items():
        levels = list(dict.fromkeys(sorted(pd.unique(values))))
        starts = {lv: bool(treated[values == lv].any()) for lv in levels}
        zero |= np.isin(values, [lv for lv in levels if not starts[lv]])
        kept = [lv for lv in levels if starts[lv]]
        groups[name] = []
        for level in kept[1:]:  # the first level with a start is the reference
            column = f"{name}={level}"
            columns[column] = (values == level).astype(float)
            groups[name].append(column)
    groups["motor"] = []
    for scale in options.motor_scales:
        score = intervals[score_column(scale)].to_numpy(float) if score_column(scale) in intervals else (
            np.full(len(intervals), np.nan))
        missing = np.isnan(score)
        columns[f"{scale}/10"] = np.where(missing, 0.0, score / 10.0)
        columns[f"{scale} missing"] = missing.astype(float)
        groups["motor"] += [f"{scale}/10", f"{scale} missing"]
    return pd.DataFrame(columns, index=intervals.index), groups, zero


def independent_columns(x: np.ndarray, names: list[str]) -> list[str]:
    """The columns of ``x`` (an intercept implied) kept in order while each adds rank."""
    kept: list[int] = []
    basis = np.ones((x.shape[0], 1)) / np.sqrt(max(x.shape[0], 1))
    for j in range(x.shape[1]):
        column = x[:, j]
        residual = column - basis @ (basis.T @ column)
        residual = residual - basis @ (basis.T @ residual)
        scale = np.linalg.norm(column)
        if scale > 0 and np.linalg.norm(residual) > RANK_TOLERANCE * max(scale, 1.0):
            kept.append(j)
            basis = np.column_stack([basis, residual / np.linalg.norm(residual)])
    return [names[j] for j in kept]


def fit_treatment_model(x: pd.DataFrame, y: np.ndarray, groups: dict[str, list[str]], terms: list[str],
                        notes: list[str], label: str) -> tuple[LogisticFit, list[str]]:
    """The logistic model of ``y`` on the columns of ``terms`` (independent ones), with the
    fallback of the module docstring (at last an intercept only); ``(fit, columns)``."""
    order = [t for t in FALLBACK_ORDER if t in terms]
    active = list(terms)
    while True:
        names = [c for t in active for c in groups[t]]
        names = independent_columns(x[names].to_numpy(float), names) if names else []
        try:
            fit = fit_logistic(x[names].to_numpy(float).reshape(len(x), len(names)), y, columns=names)
            return fit, names
        except ModelError as err:
            if not order:
                raise
            dropped = order.pop(0)
            active.remove(dropped)
            notes.append(f"{label} model without {dropped} terms ({err})")


def ipcw_weights(intervals: pd.DataFrame, options: IpcwOptions) -> Weights:
    """Probabilities and weights of every row of ``intervals`` (rows of one endpoint, each
    patient's rows in order of ``start``)."""
    n = len(intervals)
    y = intervals["treated"].to_numpy(float)
    ones = np.ones(n)
    if n == 0 or not y.any():
        return Weights(np.zeros(n), np.zeros(n), ones, ones, (1.0, 1.0), None, None,
                       ["no treatment starts: weights are 1"])
    x, groups, zero = design(intervals, options)
    fitted = ~zero
    notes: list[str] = []
    x_fit, y_fit = x[fitted], y[fitted]
    try:
        den, _ = fit_treatment_model(x_fit, y_fit, groups, list(groups), notes, "denominator")
        num, _ = fit_treatment_model(x_fit, y_fit, groups, ["age"], notes, "numerator")
    except ModelError as err:
        return Weights(np.zeros(n), np.zeros(n), ones, ones, (1.0, 1.0), None, None,
                       [f"no treatment model could be fitted ({err}): weights are 1"])
    p_den, p_num = np.zeros(n), np.zeros(n)
    p_den[fitted] = den.fitted
    p_num[fitted] = num.fitted
    factor = (1.0 - p_num) / (1.0 - p_den)
    patient = intervals["patient_id"].to_numpy()
    raw = pd.Series(factor).groupby(patient, sort=False).cumprod().to_numpy()
    lo, hi = np.percentile(raw, options.truncate)  # R quantile type 7
    if zero.any():
        notes.append("levels without a treatment start: probability 0, factor 1")
    return Weights(p_num, p_den, raw, np.clip(raw, lo, hi), (float(lo), float(hi)), num, den, notes)
