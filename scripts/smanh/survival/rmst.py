"""Restricted mean survival time (RMST) from a Kaplan-Meier curve with delayed entry.

RMST(tau) is the area under the product-limit step function from age ``start``
(default 0: the time origin of the age scale, with S = 1 before the first event) to
the horizon ``tau``. This is R ``survival``'s ``print(fit, rmean = tau)`` /
``summary(fit, rmean = tau)$table[, "rmean"]``, whose ``start.time`` is 0 for ages.
Starting at 0 rather than at the first entry adds exactly ``first entry`` years in which
S = 1, so the difference between two strata does not depend on the choice.

Variance (R's ``se(rmean)``, a Greenwood-type formula)::

    var = sum over event times t_i <= tau of  A_i^2 * d_i / (n_i (n_i - d_i)),
    A_i = area under the curve between t_i and tau,

with the term set to 0 where ``n_i == d_i``. (lifelines' ``return_variance`` is not the
variance of this estimator: lifelines#1682.) CIs are Wald intervals on the RMST scale.
If ``tau`` is beyond the last time of the curve, the last value is carried forward
(as R does) and ``beyond_followup`` is set.

Examples
--------
>>> r = rmst_from_km([1, 2, 3], [4, 3, 2], [1, 1, 1], tau=4)
>>> round(r.rmst, 4), round(r.se, 4)
(2.5, 0.559)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError

__all__ = ["RMST", "RMSTDifference", "rmst_from_km", "rmst", "rmst_difference", "rmst_by_group"]


@dataclass(frozen=True)
class RMST:
    """Restricted mean survival time to ``tau`` with SE and Wald CI (years)."""

    tau: float
    rmst: float
    se: float
    lower: float
    upper: float
    beyond_followup: bool


@dataclass(frozen=True)
class RMSTDifference:
    """``first.rmst - second.rmst`` of two independent groups, with SE, Wald CI and p."""

    tau: float
    difference: float
    se: float
    lower: float
    upper: float
    p: float


def rmst_from_km(
    times, n_risk, n_event, tau: float, *, start: float = 0.0, conf_level: float = 0.95
) -> RMST:
    """RMST from a product-limit risk table (delayed entry is already in ``n_risk``).

    Parameters
    ----------
    times : array_like
        Increasing distinct times of the curve (event times; censoring-only times with
        ``n_event == 0`` may be included and change nothing).
    n_risk, n_event : array_like
        Number at risk and number of events at each time.
    tau : float
        Horizon (years of age).
    start : float
        Lower limit of the integral (default 0, as R).
    conf_level : float
        Level of the Wald interval.

    Returns
    -------
    RMST

    Examples
    --------
    >>> rmst_from_km([2.0], [10], [5], tau=3).rmst  # 2 years at S=1, 1 year at S=0.5
    2.5
    """
    times = np.asarray(times, float)
    n_risk = np.asarray(n_risk, float)
    n_event = np.asarray(n_event, float)
    if not (times.shape == n_risk.shape == n_event.shape) or times.ndim != 1:
        raise ModelError("times, n_risk and n_event must be 1-d arrays of the same length")
    if np.any(np.diff(times) <= 0):
        raise ModelError("times must be strictly increasing")
    if np.any(n_event > n_risk):
        raise ModelError("n_event must not exceed n_risk")
    if not tau > start:
        raise ModelError(f"tau ({tau}) must be later than start ({start})")
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1 - n_event / n_risk, 1.0))
        hazard_var = np.where(n_risk > n_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
    keep = (times <= tau) & (times > start)
    grid = np.concatenate([[start], times[keep], [tau]])
    # S on each interval [grid_j, grid_j+1): before the first kept time it is S(start)
    before = surv[times <= start]
    level = np.concatenate([[before[-1] if before.size else 1.0], surv[keep]])
    rectangles = np.diff(grid) * level
    # area after each kept time up to tau, for the Greenwood-type variance
    area_after = np.cumsum(rectangles[::-1])[::-1][1:]
    var = float(np.sum(area_after**2 * hazard_var[keep]))
    value = float(rectangles.sum())
    se = float(np.sqrt(var))
    z = special.ndtri(0.5 + conf_level / 2)
    return RMST(float(tau), value, se, value - z * se, value + z * se,
                bool(len(times) == 0 or tau > times[-1]))


def _risk_table(entry, exit_, event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Product-limit risk table over ``(entry, exit]`` at the distinct event times."""
    entry = np.asarray(entry, float)
    exit_ = np.asarray(exit_, float)
    status = np.asarray(event) == 1
    if np.any(exit_ <= entry):
        raise ModelError("exit must be later than entry for every subject")
    times, n_event = np.unique(exit_[status], return_counts=True)
    n_risk = np.searchsorted(np.sort(entry), times, side="left") - np.searchsorted(
        np.sort(exit_), times, side="left"
    )
    return times, n_risk, n_event


def rmst(entry, exit, event, tau: float, *, start: float = 0.0,
         conf_level: float = 0.95) -> RMST:
    """RMST from individual data ``(entry, exit]``; ``event == 1`` is the event.

    Examples
    --------
    >>> round(rmst([0, 0, 1, 0], [1, 2, 3, 4], [1, 0, 1, 1], tau=4).rmst, 4)
    2.6667
    """
    times, n_risk, n_event = _risk_table(entry, exit, event)
    return rmst_from_km(times, n_risk, n_event, tau, start=start, conf_level=conf_level)


def rmst_difference(first: RMST, second: RMST, conf_level: float = 0.95) -> RMSTDifference:
    """Difference of two RMSTs to the same ``tau`` from independent groups.

    Examples
    --------
    >>> a = rmst_from_km([1, 2], [4, 3], [1, 1], tau=3)
    >>> b = rmst_from_km([1, 2], [4, 3], [2, 1], tau=3)
    >>> round(rmst_difference(a, b).difference, 4)
    0.4167
    """
    if first.tau != second.tau:
        raise ModelError(f"RMSTs to different horizons ({first.tau}, {second.tau})")
    diff = first.rmst - second.rmst
    se = float(np.hypot(first.se, second.se))
    z = special.ndtri(0.5 + conf_level / 2)
    p = float(2 * special.ndtr(-abs(diff) / se)) if se > 0 else float("nan")
    return RMSTDifference(first.tau, diff, se, diff - z * se, diff + z * se, p)


def rmst_by_group(entry, exit, event, groups, tau: float) -> pd.DataFrame:
    """RMST per group: ``group, tau, rmst, se, lo, hi`` (groups in sorted order)."""
    groups = np.asarray(groups).astype(str)
    entry, exit_, event = (np.asarray(a) for a in (entry, exit, event))
    rows = []
    for g in sorted(set(groups)):
        r = rmst(entry[groups == g], exit_[groups == g], event[groups == g], tau)
        rows.append({"group": g, "tau": r.tau, "rmst": r.rmst, "se": r.se,
                     "lo": r.lower, "hi": r.upper})
    return pd.DataFrame(rows)
