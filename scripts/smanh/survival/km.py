"""Kaplan–Meier estimation with delayed entry (left truncation).

Follow-up of each subject is the interval ``(entry, exit]`` on the age scale: a subject
is at risk at age ``t`` when ``entry < t <= exit``. This is R ``survival``'s
counting-process convention, ``survfit(Surv(entry, exit, event) ~ 1)``, and the
numbers here reproduce it: Greenwood variance of ``log S``, log-log ("exponential
Greenwood") confidence bands, and quantiles read off the curve and its bands with
R's ``quantile.survfit`` rules (midpoints on flat segments at exactly ``p``).

Optional extensions, each matching R ``survfit`` (survival 3.5-3):

- ``weights``: case weights. ``n_risk``, ``n_event``, ``n_censor`` are weighted; the curve
  and the Greenwood variance use the weighted counts (as R with ``robust = FALSE``).
- ``cluster``: the patient of each row (R's ``id =``), for several rows per patient. A
  non-event row followed directly by another row of its patient is not a censoring.
- ``robust``: the infinitesimal-jackknife variance, clustered on ``cluster`` (each row
  its own cluster without one): R's ``robust = TRUE``. R stores it as the standard error
  of S (``fit$std.err`` with ``fit$logse = FALSE``); here ``std_err`` stays the standard
  error of log S, ``se(S) / S``, which is the scale R's log-log band uses.
- ``start_time``: the curve conditional on being event-free at ``start_time`` (R's
  ``start.time``): rows that exit before it are dropped; rows that entered before it are
  at risk from it on (their entry is kept, as R does, so an event exactly at
  ``start_time`` still counts).

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

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from smanh.errors import ModelError
from smanh.survival.followup import check_cluster, check_follow_up, check_weights
from smanh.survival.influence import (
    Segments,
    all_at_risk_have_the_event,
    canonical_order,
    carry_forward,
    cluster_codes,
    segments,
    sum_of_products,
    weighted_at_risk,
)

# R's default tolerance for "the curve is exactly at p" (sqrt(.Machine$double.eps)).
QUANTILE_TOLERANCE = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class KaplanMeierFit:
    """A fitted product-limit curve, one row per distinct exit age (as R's ``survfit``).

    Attributes
    ----------
    time : ages (years) at which someone exits, ascending.
    n_risk, n_event, n_censor : counts at each ``time`` (integers; weighted sums, as
        floats, when any of ``weights``, ``cluster``, ``robust``, ``start_time`` is given).
    survival : S(time), right-continuous.
    std_err : standard error of ``log S`` (Greenwood, or the robust ``se(S) / S``);
        ``inf`` once S reaches 0.
    lower, upper : pointwise log-log confidence band; NaN where S is 0 or 1 (as R).
    confidence_level : level of the band.
    weighted : whether case weights were given.
    robust : whether ``std_err`` is the infinitesimal-jackknife (robust) one.
    start_time : the age the curve is conditional on (None: age 0, unconditional).
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence_level: float
    weighted: bool = False
    robust: bool = False
    start_time: float | None = None
    # ages of (entry, exit] of the rows with positive weight, each sorted: the risk set
    # as a step function, for at_risk_range
    _sorted_entry: np.ndarray | None = field(default=None, repr=False, compare=False)
    _sorted_exit: np.ndarray | None = field(default=None, repr=False, compare=False)
    # robust fits: the influence of every cluster on log S, for rmst.rmst_from_fit
    _influence: "LogSurvivalInfluence | None" = field(default=None, repr=False, compare=False)

    @property
    def n_subjects(self) -> int | float:
        """Rows that ended (events and censorings); the weighted sum for a weighted fit."""
        total = self.n_event.sum() + self.n_censor.sum()
        return float(total) if self.weighted else int(total)

    @property
    def events(self) -> int | float:
        """Number of events; the weighted sum for a weighted fit."""
        return float(self.n_event.sum()) if self.weighted else int(self.n_event.sum())

    @property
    def std_err_survival(self) -> np.ndarray:
        """Standard error of S itself (R ``summary(fit)$std.err``); 0 (robust) or NaN
        (Greenwood) where S is 0, as R."""
        with np.errstate(invalid="ignore"):
            return np.where(self.survival > 0, self.std_err * self.survival,
                            0.0 if self.robust else np.nan)

    def survival_at(self, ages) -> np.ndarray:
        """S at the given ages; NaN beyond the last exit age (not estimable there).

        As R ``summary(fit, times = ages)``: before the first exit age the curve is 1 (a
        conditional curve whose first exit age is ``start_time`` itself, with an event
        there, gives S there, as R does).
        """
        ages = np.asarray(ages, dtype=float)
        idx = np.searchsorted(self.time, ages, side="right") - 1
        before = 1.0
        if self.start_time is not None and self.time.size and self.time[0] == self.start_time:
            before = self.survival[0]  # R's survfit0 inserts no row at start.time then
        values = np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], before)
        last = self.time[-1] if self.time.size else -np.inf
        return np.where(ages > last, np.nan, values)

    def quantile(self, p: float = 0.5) -> tuple[float, float, float]:
        """Age by which a share ``p`` has had the event, with its confidence limits.

        Returns ``(estimate, lower, upper)``; NaN where not reached. For a conditional
        curve, the share of those event-free at ``start_time`` (R's ``quantile.survfit``
        starts the curve there).
        """
        first = 0.0 if self.start_time is None else float(self.start_time)
        estimate = _find_quantile(self.time, 1.0 - self.survival, p, first)
        lower = _find_quantile(self.time, 1.0 - self.lower, p, first)
        upper = _find_quantile(self.time, 1.0 - self.upper, p, first)
        return estimate, lower, upper

    def median(self) -> tuple[float, float, float]:
        """Median age at event and its confidence limits (NaN where not reached)."""
        return self.quantile(0.5)

    def at_risk_range(self, k: int) -> tuple[float, float]:
        """``(first, last)``: the estimable range of the curve for a minimum risk set ``k``.

        ``first`` is the first age just after which at least ``k`` rows (patients, when
        each patient's rows do not overlap) are at risk — where a curve shown only with
        ``k`` at risk starts; ``last`` is the last age at which at least ``k`` are at risk
        (an exit age; just after it fewer than ``k`` are) — where it is cut. Rows of
        weight 0 do not count; for a conditional curve, ages before ``start_time`` do not
        either. ``(nan, nan)`` when fewer than ``k`` are ever at risk.

        Examples
        --------
        >>> fit = kaplan_meier([0, 0, 1, 2, 0.5], [1, 2, 3, 4, 5], [1, 0, 1, 1, 0])
        >>> fit.at_risk_range(3)
        (0.5, 3.0)
        """
        if k < 1:
            raise ModelError(f"the minimum number at risk must be at least 1, not {k}")
        entry, exit_ = self._sorted_entry, self._sorted_exit
        # just after an entry age e: entered at or before e, not yet exited at e
        after_entry = (np.searchsorted(entry, entry, side="right")
                       - np.searchsorted(exit_, entry, side="right"))
        # at an exit age x: entered before x, exit at or after x
        at_exit = (np.searchsorted(entry, exit_, side="left")
                   - np.searchsorted(exit_, exit_, side="left"))
        starts, ends = entry[after_entry >= k], exit_[at_exit >= k]
        if starts.size == 0:
            return float("nan"), float("nan")
        return float(starts[0]), float(ends[-1])


def kaplan_meier(
    entry,
    exit,
    event,
    confidence_level: float = 0.95,
    *,
    weights=None,
    cluster=None,
    robust: bool | None = None,
    start_time: float | None = None,
) -> KaplanMeierFit:
    """Fit the product-limit estimator to left-truncated, right-censored data.

    Parameters
    ----------
    entry : array of ages at start of observation (delayed entry); 0 for none.
    exit : array of ages at event or censoring; must be > entry.
    event : array of 0/1 (or bool), 1 = the event happened at ``exit``.
    confidence_level : level of the log-log confidence band.
    weights : optional array of non-negative case weights (R ``weights =``).
    cluster : optional array of patient labels, one per row (R ``id =``).
    robust : infinitesimal-jackknife standard errors clustered on ``cluster`` (R
        ``robust = TRUE``). Default as R: robust when some weight is not a whole number
        or some cluster has more than one event.
    start_time : condition on being event-free at this age (R ``start.time =``).

    Returns
    -------
    KaplanMeierFit

    Examples
    --------
    Integer weights are frequencies; a conditional curve starts at ``start_time``:

    >>> fit = kaplan_meier([0, 0, 1], [1, 2, 3], [1, 0, 1], weights=[2, 1, 1])
    >>> fit.n_risk.tolist(), fit.survival.round(4).tolist()
    ([3.0, 2.0, 1.0], [0.3333, 0.3333, 0.0])
    >>> kaplan_meier([0, 0, 1], [1, 2, 3], [1, 0, 1], start_time=1.5).survival.tolist()
    [1.0, 0.0]
    """
    entry, exit_, event = check_follow_up(entry, exit, event)
    event = event.astype(bool)
    if weights is not None or cluster is not None or robust or start_time is not None:
        return _kaplan_meier_general(entry, exit_, event, confidence_level, weights, cluster,
                                     robust, start_time)

    time, inverse = np.unique(exit_, return_inverse=True)
    n_event = np.bincount(inverse, weights=event, minlength=time.size).astype(int)
    n_exit = np.bincount(inverse, minlength=time.size)
    # At risk at t: entered strictly before t and not yet exited before t.
    sorted_entry, sorted_exit = np.sort(entry), np.sort(exit_)
    n_risk = np.searchsorted(sorted_entry, time, side="left") - np.searchsorted(
        sorted_exit, time, side="left"
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - n_event / n_risk)
        greenwood = np.cumsum(
            np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        )
    std_err = np.sqrt(greenwood)
    lower, upper = loglog_band(survival, std_err, confidence_level)
    return KaplanMeierFit(
        time=time,
        n_risk=n_risk.astype(int),
        n_event=n_event,
        n_censor=(n_exit - n_event).astype(int),
        survival=survival,
        std_err=std_err,
        lower=lower,
        upper=upper,
        confidence_level=confidence_level,
        _sorted_entry=sorted_entry,
        _sorted_exit=sorted_exit,
    )


@dataclass(frozen=True)
class LogSurvivalInfluence:
    """Influence of every cluster on ``log S`` at the curve's times, in segments:
    ``U_k(j) = coef_k0(j) + coef_k1(j) * cumulative[j]`` (see :func:`_log_survival_influence`)."""

    segments: Segments
    cumulative: np.ndarray  # (T,) the Greenwood sum, sum of d / (n (n - d))
    zero_from: int  # index of the first time with S = 0 (T if none)
    event_times: np.ndarray  # (T,) bool: a weighted event happens there


def _kaplan_meier_general(entry, exit_, event, confidence_level, weights, cluster, robust,
                          start_time) -> KaplanMeierFit:
    """Weighted, clustered, robust and/or conditional product-limit (R ``survfitKM``)."""
    n = len(exit_)
    weighted = weights is not None
    w = check_weights(weights, n)
    cluster = check_cluster(cluster, n)
    if robust is None:  # R's default for survfit(..., weights, id)
        robust = bool(np.any(w != np.floor(w)))
        if cluster is not None and not robust:
            codes = np.unique(cluster[event], return_counts=True)[1]
            robust = bool(np.any(codes > 1))
    if start_time is not None:
        start_time = float(start_time)
        if not np.isfinite(start_time):
            raise ModelError(f"start_time must be a finite age, not {start_time}")
        keep = exit_ >= start_time
        if not keep.any():
            raise ModelError(f"no row is followed up to start_time {start_time}: the latest "
                             f"exit age is {exit_.max()}")
        entry, exit_, event, w = entry[keep], exit_[keep], event[keep], w[keep]
        cluster = cluster[keep] if cluster is not None else None
    if not np.any(w > 0):
        raise ModelError("every weight is 0: nothing to estimate from")
    order = canonical_order(entry, exit_, event, w, cluster)
    entry, exit_, event, w = entry[order], exit_[order], event[order], w[order]
    cluster = cluster[order] if cluster is not None else None

    time, inverse = np.unique(exit_, return_inverse=True)
    n_times = time.size
    first = np.searchsorted(time, entry, side="right")  # first time index at risk
    n_event = np.bincount(inverse, w * event, minlength=n_times)
    n_risk = weighted_at_risk(first, inverse, w, n_times)
    # everyone left has the event: n is d, not d plus rounding (S is exactly 0, as R)
    n_risk = np.where(all_at_risk_have_the_event(first, inverse, event, w, n_times),
                      n_event, n_risk)
    censored = ~event
    if cluster is not None:  # as R's survflag: only the end of a patient's follow-up censors
        censored &= _ends_follow_up(entry, exit_, cluster)
    n_censor = np.bincount(inverse, w * censored, minlength=n_times)
    has_event = n_event > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(np.where(has_event, 1.0 - n_event / n_risk, 1.0))
        greenwood_terms = np.where(has_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
    influence = None
    if robust:
        influence = _log_survival_influence(first, inverse, event, w, cluster, n_risk,
                                            n_event, survival)
        var = _influence_variance(influence)
        std_err = np.where(survival > 0, np.sqrt(var), np.inf)
    else:
        std_err = np.sqrt(np.cumsum(greenwood_terms))
    lower, upper = loglog_band(survival, std_err, confidence_level)
    clip = entry if start_time is None else np.maximum(entry, start_time)
    positive = w > 0
    return KaplanMeierFit(
        time=time, n_risk=n_risk, n_event=n_event, n_censor=n_censor, survival=survival,
        std_err=std_err, lower=lower, upper=upper, confidence_level=confidence_level,
        weighted=weighted, robust=bool(robust), start_time=start_time,
        _sorted_entry=np.sort(clip[positive]), _sorted_exit=np.sort(exit_[positive]),
        _influence=influence,
    )


def _ends_follow_up(entry, exit_, cluster) -> np.ndarray:
    """Whether each row ends a stretch of its patient's follow-up: no row of the same
    patient starts at its exit (R ``survflag``: the last of ``(a,b](b,c]...``)."""
    order = np.lexsort((exit_, cluster))
    c, start, stop = cluster[order], entry[order], exit_[order]
    continued = (c[1:] == c[:-1]) & ~(stop[:-1] < start[1:])
    ends = np.ones(len(order), dtype=bool)
    ends[order[:-1]] = ~continued
    return ends


def _log_survival_influence(first, last, event, w, cluster, n_risk, n_event, survival):
    """Influence of each cluster on log S, as segments (R ``survfitkm.c``, robust).

    Scaling the weight of row r by 1 + eps changes log S(t_j) by
    ``w_r * sum_{i <= j, r at risk at t_i} (dA_i h_i - dN_r(t_i) h_i)`` with
    ``dA = d / n`` and ``h = 1 / (n - d)``: ``dA h = d / (n (n - d))`` is the Greenwood
    increment. With ``G`` its cumulative sum, while at risk (first_r <= j < last_r) the
    influence is ``w_r (G[j] - G[first_r - 1])``; from its exit on it is the constant
    ``P_r = w_r (G[last_r] - G[first_r - 1] - event_r h[last_r])``. Per cluster the sum
    over its rows is ``c + m G[j]`` with ``(c, m)`` changing at the rows' first and last
    indices. Where everyone left at risk has the event (S drops to 0) R's influence on S
    is 0 from then on; ``zero_from`` marks it.
    """
    n_times = len(n_risk)
    codes, n_clusters = cluster_codes(cluster, len(w))
    with np.errstate(divide="ignore", invalid="ignore"):
        live = (n_event > 0) & (n_risk > n_event)
        h = np.where(live, 1.0 / (n_risk - n_event), 0.0)
        increment = np.where(live, n_event / (n_risk * (n_risk - n_event)), 0.0)
    cumulative = np.cumsum(increment)
    before = np.concatenate(([0.0], cumulative))[first]  # G[first - 1]
    keep = w > 0
    f, l, wr, b, ev, cl = (a[keep] for a in (first, last, w, before, event, codes))
    exit_value = wr * (cumulative[l] - b - ev * h[l])
    at_risk = f < l
    # enter the risk set: c -= w G[first - 1], m += w; leave it: back, plus P
    enter = np.column_stack([-wr[at_risk] * b[at_risk], wr[at_risk]])
    leave = np.column_stack([exit_value + np.where(at_risk, wr * b, 0.0),
                             np.where(at_risk, -wr, 0.0)])
    seg = segments(np.concatenate([cl[at_risk], cl]), np.concatenate([f[at_risk], l]),
                   np.vstack([enter, leave]), n_times, n_clusters)
    zero = np.flatnonzero(survival <= 0)
    return LogSurvivalInfluence(seg, cumulative, int(zero[0]) if zero.size else n_times,
                                n_event > 0)


def _influence_variance(influence: LogSurvivalInfluence) -> np.ndarray:
    """``sum_k U_k(j)^2`` at every time, 0 once S is 0 (see :func:`_log_survival_influence`)."""
    c2, cm, m2 = sum_of_products(influence.segments, [(0, 0), (0, 1), (1, 1)]).T
    g = influence.cumulative
    var = np.maximum(c2 + 2 * g * cm + g**2 * m2, 0.0)
    var[influence.zero_from:] = 0.0
    return carry_forward(var, influence.event_times)


def loglog_band(survival, std_err, confidence_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-log band for S given the standard error of log S (R ``conf.type="log-log"``)."""
    z = special.ndtri(1.0 - (1.0 - confidence_level) / 2.0)
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
