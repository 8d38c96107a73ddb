"""Aalen-Johansen cumulative incidence for competing risks with delayed entry.

Event codes: 0 censored, 1 the event of interest, 2, 3, ... competing events. Subjects
are at risk on ``(entry, exit]``. All events at the same age are processed together
(the Aalen-Johansen estimator is exact under ties), so nothing is jittered and the
result is deterministic (unlike lifelines' ``AalenJohansenFitter``, lifelines#1521).

Variance: the infinitesimal-jackknife (IJ) variance, which is what R ``survival``
(3.x) reports as ``std.err`` for a multi-state ``survfit(Surv(entry, exit, state) ~ 1,
id = id)``: the influence of each subject on the hazard increments
``dA_k = d_k / n`` is propagated through the product integral, and the variance is the
sum of squared influences. With one row per subject this is the robust variance.
(``cmprsk::cuminc`` uses a different, Aalen-type delta-method variance; its point
estimates coincide with ours when there is no delayed entry.)
Confidence intervals use the log transform, R's default for ``pstate``:
``p * exp(+-z * se / p)``, the upper limit truncated at 1.

Case weights and patients with several rows (``weights=``, ``cluster=``, R
``survfit(Surv(entry, exit, factor(state)) ~ 1, weights = w, id = id)``): the hazard
increments use weighted counts, and the IJ variance sums the influences of each
patient's rows, each scaled by its row's weight, before squaring. The point estimates are
R's (survival 3.5-3). So is the standard error when each patient's weight is the same on
all its rows; with weights that change between a patient's rows (as inverse probability
of censoring weights do) survival 3.5-3 multiplies the patient's whole influence by the
weight of its latest row, which is not the derivative of the estimate, while the value
here is (the tests check it by numerical differentiation; survival >= 3.6 computes it
this way too). ``n_risk`` is then the weighted number at risk (survival 3.5-3 reports the
unweighted count for multi-state curves).

Examples
--------
>>> ci = aalen_johansen([0, 0, 1, 0, 2], [1, 2, 3, 4, 5], [1, 2, 1, 0, 1])
>>> ci.to_frame().query("state == 1").cif.round(3).tolist()
[0.333, 0.333, 0.481, 0.481, 0.778]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError
from smanh.survival.followup import check_cluster, check_follow_up, check_weights
from smanh.survival.influence import (
    all_at_risk_have_the_event,
    canonical_order,
    carry_forward,
    cluster_codes,
    segments,
    sum_of_products,
    weighted_at_risk,
)

__all__ = ["CumulativeIncidence", "aalen_johansen"]


@dataclass
class CumulativeIncidence:
    """Aalen-Johansen estimates at every distinct exit age.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Distinct exit ages (events and censorings), increasing.
    n_risk : ndarray, shape (T,)
        Number at risk (event-free, under observation) just before each time; the
        weighted number for a weighted fit.
    states : list of int
        Event codes, increasing (1 = event of interest).
    cif, se, lower, upper : ndarray, shape (T, K)
        Cumulative incidence of each state, IJ standard error, log-transformed CI
        (NaN where the estimate is 0).
    event_free : ndarray, shape (T,)
        Probability of no event of any cause (the all-cause product-limit).
    """

    times: np.ndarray
    n_risk: np.ndarray
    states: list[int]
    cif: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    event_free: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``state, time, n_risk, cif, se, lo, hi``."""
        parts = [
            pd.DataFrame({"state": s, "time": self.times, "n_risk": self.n_risk,
                          "cif": self.cif[:, k], "se": self.se[:, k],
                          "lo": self.lower[:, k], "hi": self.upper[:, k]})
            for k, s in enumerate(self.states)
        ]
        return pd.concat(parts, ignore_index=True)

    def at(self, ages, state: int = 1) -> pd.DataFrame:
        """Step-function values (right-continuous) at the given ages for one state."""
        k = self.states.index(state)
        idx = np.searchsorted(self.times, np.asarray(ages, float), side="right") - 1
        take = lambda a, fill: np.where(idx >= 0, a[np.maximum(idx, 0)], fill)  # noqa: E731
        return pd.DataFrame({"age": np.asarray(ages, float),
                             "cif": take(self.cif[:, k], 0.0), "se": take(self.se[:, k], 0.0),
                             "lo": take(self.lower[:, k], np.nan),
                             "hi": take(self.upper[:, k], np.nan)})


def aalen_johansen(entry, exit, event, *, confidence_level: float = 0.95, weights=None,
                   cluster=None) -> CumulativeIncidence:
    """Cumulative incidence functions with delayed entry and IJ standard errors.

    Parameters
    ----------
    entry : array_like or None
        Age at start of observation (left truncation); ``None`` means 0 for all.
    exit : array_like
        Age at event or censoring, ``exit > entry``.
    event : array_like of int
        0 censored, 1 event of interest, 2.. competing events.
    confidence_level : float
        Confidence level of the pointwise intervals.
    weights : array_like, optional
        Non-negative case weights, one per row.
    cluster : array_like, optional
        Patient of each row (R ``id =``), when patients have several rows: event-free
        intervals ``(a, b], (b, c], ...``, an event only on the last; the IJ variance
        is clustered on it. Without it every row is its own patient.

    Returns
    -------
    CumulativeIncidence

    Examples
    --------
    >>> ci = aalen_johansen(None, [1, 1, 2, 3], [1, 2, 0, 1])
    >>> ci.cif[:, 0].tolist(), ci.cif[:, 1].tolist()
    ([0.25, 0.25, 0.75], [0.25, 0.25, 0.25])
    """
    entry, exit_, event = _check(entry, exit, event)
    if cluster is not None or (weights is not None
                               and np.any(check_weights(weights, len(exit_)) != 1)):
        return _weighted_aalen_johansen(entry, exit_, event, confidence_level, weights, cluster)
    # a canonical row order makes every floating-point sum independent of the input order
    order = np.lexsort((event, entry, exit_))
    entry, exit_, event = entry[order], exit_[order], event[order]
    states = sorted(int(s) for s in np.unique(event) if s != 0) or [1]
    times = np.unique(exit_)
    n_times, k_states = len(times), len(states)
    # subject i is at risk at times[j] for first_i <= j <= last_i (entry < t <= exit)
    last = np.searchsorted(times, exit_)
    first = np.searchsorted(times, entry, side="right")
    n_risk = np.cumsum(np.bincount(first, minlength=n_times + 1)[:n_times]
                       - np.bincount(last + 1, minlength=n_times + 1)[:n_times])
    code = np.searchsorted(states, event)  # column of each event code (0 for censored)
    is_event = event != 0
    d = np.zeros((n_times, k_states))
    np.add.at(d, (last[is_event], code[is_event]), 1.0)
    d_all = d.sum(1)
    n_f = n_risk.astype(float)  # >= 1 at every exit time
    da = d / n_f[:, None]
    da_all = da.sum(1)
    event_free = np.cumprod(1 - da_all)
    before = np.concatenate(([1.0], event_free[:-1]))  # p0(t-)
    inc = before[:, None] * da
    cif = np.cumsum(inc, axis=0)
    # IJ influence, in closed form. With dA_k(t_l) = d_lk / n_l, the influence of subject i
    # on p0 is u0_i(t) = -p0(t) w_i(t), w_i(t) = sum_{l <= t} (dN_il - Y_il dA_l) h_l,
    # h_l = 1 / (n_l (1 - dA_l)). Its influence on p_k is
    #   u_ik(t) = sum_{l <= t} p0(t_l-) [w_i(t_{l-1}) dA_lk + (dN_ilk - Y_il dA_lk) / n_l].
    # While at risk (first_i <= j < last_i) w_i = H(j) - H(first_i - 1) with
    # H = cumsum(dA h), so u_ik(t_j) = X_k(j) - H_i F_k(j) + c_ik with
    # F_k = p_k, X_k = cumsum(inc_k (H(l-1) - 1/n_l)), H_i = H(first_i - 1) and
    # c_ik = H_i F_k(first_i - 1) - X_k(first_i - 1). From its exit on, Y = dN = 0, so
    # w_i is constant, V_i, and u_ik(t_j) = P_ik + V_i F_k(j). Sums of squares over
    # subjects are then sums of a few per-subject terms over the risk set (entries minus
    # exits) and over the exited, accumulated with cumulative sums.
    with np.errstate(divide="ignore"):
        # 1 - dA = 0: p0 is 0 from then on, so is u0, whatever w; take h = 0
        h = np.where(d_all < n_f, 1 / (n_f * (1 - da_all)), 0.0)
    big_h = np.cumsum(da_all * h)
    h_prev = np.concatenate(([0.0], big_h[:-1]))
    x = np.cumsum(inc * (h_prev - 1 / n_f)[:, None], axis=0)
    pad = lambda a: np.concatenate((np.zeros((1,) + a.shape[1:]), a))  # noqa: E731
    big_h0, x0, cif0 = pad(big_h), pad(x), pad(cif)  # index j + 1 holds time j, 0 before
    h_i = big_h0[first]
    c = h_i[:, None] * cif0[first] - x0[first]
    # at risk, before the exit: first_i <= j <= last_i - 1
    risk = first < last
    lo, hi = first[risk], last[risk]

    def over_risk(weights):
        w = np.zeros((n_times + 1,) + weights.shape[1:])
        np.add.at(w, lo, weights[risk])
        np.add.at(w, hi, -weights[risk])
        return np.cumsum(w[:n_times], axis=0)

    s_1 = over_risk(np.ones(len(first)))[:, None]
    s_h, s_hh = over_risk(h_i)[:, None], over_risk(h_i**2)[:, None]
    s_c, s_cc, s_hc = over_risk(c), over_risk(c**2), over_risk(h_i[:, None] * c)
    var = (s_1 * x**2 + cif**2 * s_hh + s_cc - 2 * x * cif * s_h + 2 * x * s_c
           - 2 * cif * s_hc)
    # exited: j >= last_i
    died = np.zeros((len(exit_), k_states))
    died[np.flatnonzero(is_event), code[is_event]] = 1.0
    u_exit = (x[last] - h_i[:, None] * cif[last] + c
              + died * (before[last] / n_f[last])[:, None])
    v = big_h[last] - h_i - is_event * h[last]
    p = u_exit - v[:, None] * cif[last]

    def over_exited(weights):
        w = np.zeros((n_times,) + weights.shape[1:])
        np.add.at(w, last, weights)
        return np.cumsum(w, axis=0)

    var += over_exited(p**2) + 2 * cif * over_exited(p * v[:, None]) \
        + cif**2 * over_exited(v**2)[:, None]
    se = np.sqrt(np.maximum(var, 0.0))
    lower, upper = _log_ci(cif, se, confidence_level)
    return CumulativeIncidence(times, n_risk, states, cif, se, lower, upper, event_free)


def _weighted_aalen_johansen(entry, exit_, event, confidence_level, weights, cluster):
    """Weighted, clustered Aalen-Johansen with the clustered IJ variance.

    The influence of row r per unit of its weight is the one derived in
    :func:`aalen_johansen` (with weighted counts): while at risk
    ``X_k(j) - H_r F_k(j) + c_rk``, from its exit on ``P_rk + V_r F_k(j)``. A patient's
    influence is the weighted sum over its rows, ``a X_k + b F_k + e_k`` with ``a``, ``b``,
    ``e_k`` changing only where one of its rows enters or leaves the risk set; the
    variance ``sum over patients of (a X_k + b F_k + e_k)^2`` is then a few sums of
    products over patients (:mod:`smanh.survival.influence`).
    """
    n = len(exit_)
    w = check_weights(weights, n)
    labels = check_cluster(cluster, n)
    if labels is not None:
        _check_patient_rows(entry, exit_, event, labels)
    if not np.any(w > 0):
        raise ModelError("every weight is 0: nothing to estimate from")
    order = canonical_order(entry, exit_, event, w, labels)
    entry, exit_, event, w = entry[order], exit_[order], event[order], w[order]
    labels = labels[order] if labels is not None else None
    states = sorted(int(s) for s in np.unique(event) if s != 0) or [1]
    times, last = np.unique(exit_, return_inverse=True)
    n_times, k_states = len(times), len(states)
    first = np.searchsorted(times, entry, side="right")
    n_risk = weighted_at_risk(first, last, w, n_times)
    code = np.searchsorted(states, event)
    is_event = event != 0
    d = np.zeros((n_times, k_states))
    np.add.at(d, (last[is_event], code[is_event]), w[is_event])
    d_all = d.sum(1)
    # everyone left has an event: n is d, not d plus rounding (no one stays event-free)
    n_risk = np.where(all_at_risk_have_the_event(first, last, is_event, w, n_times), d_all,
                      n_risk)
    moving = d_all > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(moving[:, None], d / n_risk[:, None], 0.0)
        inv_n = np.where(n_risk > 0, 1.0 / n_risk, 0.0)
        h = np.where(moving & (d_all < n_risk), 1.0 / (n_risk - d_all), 0.0)
    da_all = da.sum(1)
    event_free = np.cumprod(1 - da_all)
    before = np.concatenate(([1.0], event_free[:-1]))
    inc = before[:, None] * da
    cif = np.cumsum(inc, axis=0)
    big_h = np.cumsum(da_all * h)
    h_prev = np.concatenate(([0.0], big_h[:-1]))
    x = np.cumsum(inc * (h_prev - inv_n)[:, None], axis=0)
    pad = lambda a: np.concatenate((np.zeros((1,) + a.shape[1:]), a))  # noqa: E731
    big_h0, x0, cif0 = pad(big_h), pad(x), pad(cif)
    keep = w > 0
    f, l, wr, ev, cd = first[keep], last[keep], w[keep], is_event[keep], code[keep]
    codes, n_clusters = cluster_codes(None if labels is None else labels[keep], int(keep.sum()))
    h_r = big_h0[f]
    c = h_r[:, None] * cif0[f] - x0[f]
    died = np.zeros((len(f), k_states))
    died[np.flatnonzero(ev), cd[ev]] = 1.0
    u_exit = x[l] - h_r[:, None] * cif[l] + c + died * (before[l] * inv_n[l])[:, None]
    v = big_h[l] - h_r - ev * h[l]
    p_exit = u_exit - v[:, None] * cif[l]
    # coefficients (a, b, e_1..e_K): entering adds w (1, -H_r, c_r); leaving removes that
    # and adds w (0, V_r, P_r)
    seg_rows = f < l
    enter = wr[seg_rows, None] * np.column_stack([np.ones(seg_rows.sum()), -h_r[seg_rows],
                                                  c[seg_rows]])
    risk_part = np.where(seg_rows[:, None], np.column_stack([np.ones(len(f)), -h_r, c]), 0.0)
    leave = wr[:, None] * (np.column_stack([np.zeros(len(f)), v, p_exit]) - risk_part)
    seg = segments(np.concatenate([codes[seg_rows], codes]),
                   np.concatenate([f[seg_rows], l]), np.vstack([enter, leave]),
                   n_times, n_clusters)
    a_, b_ = 0, 1
    pairs = [(a_, a_), (b_, b_), (a_, b_)]
    for k in range(k_states):
        e = 2 + k
        pairs += [(e, e), (a_, e), (b_, e)]
    sums = sum_of_products(seg, pairs)
    aa, bb, ab = sums[:, 0], sums[:, 1], sums[:, 2]
    var = np.empty((n_times, k_states))
    for k in range(k_states):
        ee, ae, be = sums[:, 3 + 3 * k], sums[:, 4 + 3 * k], sums[:, 5 + 3 * k]
        xk, fk = x[:, k], cif[:, k]
        var[:, k] = (xk**2 * aa + fk**2 * bb + ee + 2 * xk * fk * ab + 2 * xk * ae
                     + 2 * fk * be)
    se = carry_forward(np.sqrt(np.maximum(var, 0.0)), moving)  # R: updated at events only
    lower, upper = _log_ci(cif, se, confidence_level)
    return CumulativeIncidence(times, n_risk, states, cif, se, lower, upper, event_free)


def _check_patient_rows(entry, exit_, event, labels) -> None:
    """A patient's rows must not overlap, and an event must end its follow-up."""
    order = np.lexsort((entry, labels))
    same = labels[order][1:] == labels[order][:-1]
    overlap = same & (entry[order][1:] < exit_[order][:-1])
    if overlap.any():
        i = order[1:][np.argmax(overlap)]
        raise ModelError(f"rows of patient '{labels[i]}' overlap (row {i} starts at {entry[i]}, "
                         "before the previous row's exit): split follow-up must not overlap")
    after_event = same & (event[order][:-1] != 0)
    if after_event.any():
        i = order[1:][np.argmax(after_event)]
        raise ModelError(f"patient '{labels[i]}' has a row (row {i}) after its event: the "
                         "event must be on the last row")


def _log_ci(p, se, confidence_level):
    z = special.ndtri(0.5 + confidence_level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(p > 0, z * se / p, np.nan)
        lower = np.where(p > 0, p * np.exp(-half), np.nan)
        upper = np.where(p > 0, np.minimum(1.0, p * np.exp(half)), np.nan)
    return lower, upper


def _check(entry, exit_, event):
    entry, exit_, event_arr = check_follow_up(entry, exit_, event)
    as_int = event_arr.astype(int)
    if np.any(as_int != event_arr) or np.any(as_int < 0):
        raise ModelError("event codes must be integers: 0 censored, 1 event, 2.. competing")
    return entry, exit_, as_int
