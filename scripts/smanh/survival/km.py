"""Kaplan–Meier estimation with delayed entry (left truncation).

Follow-up of each subject is the interval ``(entry, exit]`` on the age scale: a subject
is at risk at age ``t`` when ``entry < t <= exit``. This is R ``survival``'s
counting-process convention, ``survfit(Surv(entry, exit, event) ~ 1)``, and the
numbers here reproduce it: Greenwood variance of ``log S``, log-log ("exponential
Greenwood") confidence bands, and quantiles read off the curve and its bands with
R's ``quantile.survfit`` rules (midpoints on flat segments at exactly ``p``).

Examples
--------
>>> import numpy as np
>>> fit = kaplan_meier(entry=[0, 0, 1, 2, 0.5], exit=[1, 2, 3, 4, 5],
...                    event=[1, 0, 1, 1, 0])
>>> fit.survival.round(4).tolist()
[0.6667, 0.6667, 0.4444, 0.2222, 0.2222]
>>> fit.median()
(3.0, 1.0, nan)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from smanh.survival.followup import check_follow_up

# R's default tolerance for "the curve is exactly at p" (sqrt(.Machine$double.eps)).
QUANTILE_TOLERANCE = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class KaplanMeierFit:
    """A fitted product-limit curve, one row per distinct exit age (as R's ``survfit``).

    Attributes
    ----------
    time : ages (years) at which someone exits, ascending.
    n_risk, n_event, n_censor : counts at each ``time``.
    survival : S(time), right-continuous.
    std_err : standard error of ``log S`` (Greenwood); ``inf`` once S reaches 0.
    lower, upper : pointwise log-log confidence band; NaN where S is 0 or 1 (as R).
    conf_level : level of the band.
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float

    @property
    def n_subjects(self) -> int:
        return int(self.n_event.sum() + self.n_censor.sum())

    @property
    def events(self) -> int:
        return int(self.n_event.sum())

    def survival_at(self, ages) -> np.ndarray:
        """S at the given ages; NaN beyond the last exit age (not estimable there)."""
        ages = np.asarray(ages, dtype=float)
        idx = np.searchsorted(self.time, ages, side="right") - 1
        values = np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)
        last = self.time[-1] if self.time.size else -np.inf
        return np.where(ages > last, np.nan, values)

    def quantile(self, p: float = 0.5) -> tuple[float, float, float]:
        """Age by which a share ``p`` has had the event, with its confidence limits.

        Returns ``(estimate, lower, upper)``; NaN where not reached.
        """
        first = 0.0
        estimate = _find_quantile(self.time, 1.0 - self.survival, p, first)
        lower = _find_quantile(self.time, 1.0 - self.lower, p, first)
        upper = _find_quantile(self.time, 1.0 - self.upper, p, first)
        return estimate, lower, upper

    def median(self) -> tuple[float, float, float]:
        """Median age at event and its confidence limits (NaN where not reached)."""
        return self.quantile(0.5)


def kaplan_meier(entry, exit, event, conf_level: float = 0.95) -> KaplanMeierFit:
    """Fit the product-limit estimator to left-truncated, right-censored data.

    Parameters
    ----------
    entry : array of ages at start of observation (delayed entry); 0 for none.
    exit : array of ages at event or censoring; must be > entry.
    event : array of 0/1 (or bool), 1 = the event happened at ``exit``.
    conf_level : level of the log-log confidence band.

    Returns
    -------
    KaplanMeierFit
    """
    entry, exit_, event = check_follow_up(entry, exit, event)
    event = event.astype(bool)

    time, inverse = np.unique(exit_, return_inverse=True)
    n_event = np.bincount(inverse, weights=event, minlength=time.size).astype(int)
    n_exit = np.bincount(inverse, minlength=time.size)
    # At risk at t: entered strictly before t and not yet exited before t.
    n_risk = np.searchsorted(np.sort(entry), time, side="left") - np.searchsorted(
        np.sort(exit_), time, side="left"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - n_event / n_risk)
        greenwood = np.cumsum(
            np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        )
    std_err = np.sqrt(greenwood)
    lower, upper = loglog_band(survival, std_err, conf_level)
    return KaplanMeierFit(
        time=time,
        n_risk=n_risk.astype(int),
        n_event=n_event,
        n_censor=(n_exit - n_event).astype(int),
        survival=survival,
        std_err=std_err,
        lower=lower,
        upper=upper,
        conf_level=conf_level,
    )


def loglog_band(survival, std_err, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-log band for S given the standard error of log S (R ``conf.type="log-log"``)."""
    z = special.ndtri(1.0 - (1.0 - conf_level) / 2.0)
    s = np.where((survival <= 0) | (survival >= 1), np.nan, survival)
    with np.errstate(divide="ignore", invalid="ignore"):
        half_width = z * std_err / np.log(s)
        lower = np.exp(-np.exp(np.log(-np.log(s)) - half_width))
        upper = np.exp(-np.exp(np.log(-np.log(s)) + half_width))
    return lower, upper


def number_at_risk(entry, exit, ages) -> np.ndarray:
    """Number at risk at each age (``entry < age <= exit``), for tables under curves."""
    ages = np.asarray(ages, dtype=float)
    entered = np.searchsorted(np.sort(np.asarray(entry, dtype=float)), ages, side="left")
    exited = np.searchsorted(np.sort(np.asarray(exit, dtype=float)), ages, side="left")
    return (entered - exited).astype(int)


def _find_quantile(time, cumulative, p: float, first: float) -> float:
    """Port of R ``survival:::findq`` for one probability.

    ``cumulative`` is 1 - S (or 1 - a band) at ``time``; NaN entries (band undefined)
    are skipped. The quantile is the age at which ``cumulative`` first reaches ``p``;
    where the curve sits at ``p`` (within tolerance) on a flat stretch, the midpoint of
    that stretch, as R does.
    """
    tol = QUANTILE_TOLERANCE
    x = np.concatenate([[first], time])
    y = np.concatenate([[0.0], cumulative])
    if np.nanmax(y) < p:
        return float("nan")
    x_last = x[-1]
    keep = _first_of_each_value(y)
    x, y = x[keep], y[keep]
    if p == 0:
        return float(x[0])
    i1 = _approx_constant_right(y + tol, p)
    i2 = _approx_constant_right(y - tol, p)
    quantile = (x[i1] + x[i2]) / 2.0 if i1 is not None and i2 is not None else np.nan
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol:
        # The curve ends exactly at p: midpoint to the last exit age.
        quantile = (x[i1] + x_last) / 2.0 if i1 is not None else np.nan
    return float(quantile)


def _first_of_each_value(y: np.ndarray) -> np.ndarray:
    """Mask keeping the first occurrence of each value (NaNs count as one value)."""
    keep = np.zeros(y.size, dtype=bool)
    if y.size:
        # np.unique keeps the first index of each value, and treats NaNs as one value
        keep[np.unique(y, return_index=True, equal_nan=True)[1]] = True
    return keep


def _approx_constant_right(values: np.ndarray, p: float) -> int | None:
    """R ``approx(values, seq_along(values), p, method="constant", f=1)`` (rule 1).

    R drops NaN pairs and sorts by ``values``; the answer is the position of the
    smallest value >= p, or None when p lies outside the range of the values.
    """
    positions = np.flatnonzero(~np.isnan(values))
    order = positions[np.argsort(values[positions], kind="stable")]
    ordered = values[order]
    if ordered.size == 0 or p < ordered[0] or p > ordered[-1]:
        return None
    return int(order[np.searchsorted(ordered, p, side="left")])
