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

Weighted and conditional curves (:func:`rmst_from_fit` on a
:func:`smanh.survival.km.kaplan_meier` fit with ``weights``, ``cluster``, ``start_time``): the
area from the curve's start (``start_time``, else 0) to ``tau``. R
``summary(survfit(..., start.time = a0), rmean = tau)`` reports ``rmean = a0 + area``
(the restricted mean *age*; :attr:`RMST.rmean`) and the Greenwood-type ``se(rmean)``
above computed with the *weighted* counts, whatever the weights and ``robust`` are: that
is ``RMST.se``. For a robust fit ``RMST.robust_se`` is the infinitesimal-jackknife
standard error, which R 3.5-3 does not report: the influence of each cluster on the area,
``sum_j width_j * influence on S(t_j)``, squared and summed over clusters (R's own
``influence.surv`` matrix times the widths gives the same number; the tests check both
that and a numerical derivative of the area in each cluster's weights). The Wald interval
uses ``robust_se`` when there is one.

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
from smanh.survival.influence import cluster_integrals
from smanh.survival.km import KaplanMeierFit, kaplan_meier

__all__ = ["RMST", "RMSTDifference", "rmst_from_km", "rmst_from_fit", "rmst", "rmst_difference",
           "rmst_by_group"]


@dataclass(frozen=True)
class RMST:
    """Restricted mean survival time from ``start`` to ``tau`` with SE and Wald CI (years).

    ``se`` is R's ``se(rmean)``; ``robust_se`` the infinitesimal-jackknife SE of a robust
    fit (None otherwise), which the interval then uses.
    """

    tau: float
    rmst: float
    se: float
    lower: float
    upper: float
    beyond_followup: bool
    start: float = 0.0
    robust_se: float | None = None

    @property
    def rmean(self) -> float:
        """R's ``rmean``: ``start + rmst``, the restricted mean age at the event."""
        return self.start + self.rmst

    @property
    def interval_se(self) -> float:
        """The standard error the interval uses: ``robust_se`` if any, else ``se``."""
        return self.se if self.robust_se is None else self.robust_se


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
    times, n_risk, n_event, tau: float, *, start: float = 0.0, confidence_level: float = 0.95
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
    confidence_level : float
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
    z = special.ndtri(0.5 + confidence_level / 2)
    return RMST(float(tau), value, se, value - z * se, value + z * se,
                bool(len(times) == 0 or tau > times[-1]))


def rmst_from_fit(fit: KaplanMeierFit, tau: float, *, confidence_level: float = 0.95) -> RMST:
    """RMST of a fitted curve (weighted, robust and/or conditional) from its start to ``tau``.

    The start is ``fit.start_time`` (else 0). Port of R ``survival:::survmean`` on
    ``survfit0(fit)``: a row ``(start, S = 1)`` is put before the curve unless its first
    exit age is ``start``; ``rmst`` is the area, :attr:`RMST.rmean` R's ``rmean``
    (``start + area``), ``se`` R's ``se(rmean)`` (weighted counts, Greenwood-type) and, for
    a robust fit, ``robust_se`` the infinitesimal-jackknife SE (see the module docstring).

    Raises
    ------
    ModelError
        ``tau`` not later than the start.

    Examples
    --------
    >>> from smanh.survival.km import kaplan_meier
    >>> fit = kaplan_meier([0, 0, 1, 0], [1, 2, 3, 4], [1, 0, 1, 1], weights=[1, 1, 2, 1])
    >>> round(rmst_from_fit(fit, tau=4).rmst, 4)
    2.5556
    """
    start = 0.0 if fit.start_time is None else float(fit.start_time)
    if not tau > start:
        raise ModelError(f"tau ({tau}) must be later than the start of the curve ({start})")
    time, surv = fit.time, fit.survival
    n_risk = np.asarray(fit.n_risk, float)
    n_event = np.asarray(fit.n_event, float)
    if not (time.size and time[0] == start):  # survfit0's row at the start
        time, surv = np.concatenate([[start], time]), np.concatenate([[1.0], surv])
        n_risk = np.concatenate([[n_risk[0] if n_risk.size else 0.0], n_risk])
        n_event = np.concatenate([[0.0], n_event])
    keep = time <= tau
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard_var = np.where(n_risk - n_event == 0, 0.0, n_event / (n_risk * (n_risk - n_event)))
    # survmean: rectangles from start through the kept times to tau, S = 1 on the first
    rectangles = (np.diff(np.concatenate([[start], time[keep], [tau]]))
                  * np.concatenate([[1.0], surv[keep]]))
    area_after = np.cumsum(rectangles[::-1])[::-1][1:]  # area after each kept time to tau
    var = float(np.sum(area_after**2 * hazard_var[keep]))
    value = float(rectangles.sum())
    se = float(np.sqrt(var))
    robust_se = _robust_rmst_se(fit, tau) if fit.robust else None
    z = special.ndtri(0.5 + confidence_level / 2)
    half = z * (se if robust_se is None else robust_se)
    return RMST(float(tau), value, se, value - half, value + half,
                bool(fit.time.size == 0 or tau > fit.time[-1]), start, robust_se)


def _robust_rmst_se(fit: KaplanMeierFit, tau: float) -> float:
    """Infinitesimal-jackknife SE of the area to ``tau``: per cluster, the influence on the
    area is ``sum_j width_j S_j U_k(j)`` with ``U_k = c + m G`` the influence on log S
    (:func:`smanh.survival.km._log_survival_influence`), over the curve's times ``t_j <= tau`` and
    ``width_j`` the length of the step after ``t_j`` (up to ``tau``)."""
    influence = fit._influence
    time = fit.time
    nxt = np.minimum(np.append(time[1:], np.inf), tau)
    width = np.where(time <= tau, nxt - time, 0.0)
    weight = width * fit.survival  # 0 once S is 0
    basis = np.column_stack([weight, weight * influence.cumulative])
    sums = np.vstack([np.zeros((1, 2)), np.cumsum(basis, axis=0)])
    per_cluster = cluster_integrals(influence.segments, sums)
    return float(np.sqrt(np.sum(per_cluster**2)))


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
         confidence_level: float = 0.95, weights=None, cluster=None, robust: bool | None = None,
         start_time: float | None = None) -> RMST:
    """RMST from individual data ``(entry, exit]``; ``event == 1`` is the event.

    With ``weights``, ``cluster``, ``robust`` or ``start_time`` (as
    :func:`smanh.survival.km.kaplan_meier`) the curve is fitted with them and
    :func:`rmst_from_fit` integrates it from ``start_time`` (else 0); ``start`` must then
    stay 0.

    Examples
    --------
    >>> round(rmst([0, 0, 1, 0], [1, 2, 3, 4], [1, 0, 1, 1], tau=4).rmst, 4)
    2.6667
    >>> r = rmst([0, 0, 1, 0], [1, 2, 3, 4], [1, 0, 1, 1], tau=4, start_time=1.5)
    >>> round(r.rmst, 4), round(r.rmean, 4)  # from 1.5: S = 1 to 3, 1/2 to 4; R: rmean
    (2.0, 3.5)
    """
    if weights is not None or cluster is not None or robust or start_time is not None:
        if start != 0.0:
            raise ModelError("give start_time (a conditional curve) or start, not both")
        fit = kaplan_meier(entry, exit, event, weights=weights, cluster=cluster,
                           robust=robust, start_time=start_time)
        return rmst_from_fit(fit, tau, confidence_level=confidence_level)
    times, n_risk, n_event = _risk_table(entry, exit, event)
    return rmst_from_km(times, n_risk, n_event, tau, start=start, confidence_level=confidence_level)


def rmst_difference(first: RMST, second: RMST, confidence_level: float = 0.95) -> RMSTDifference:
    """Difference of two RMSTs to the same ``tau`` from independent groups (each with its
    :attr:`RMST.interval_se`: the robust SE where there is one).

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
    se = float(np.hypot(first.interval_se, second.interval_se))
    z = special.ndtri(0.5 + confidence_level / 2)
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
