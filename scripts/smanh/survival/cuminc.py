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
from smanh.survival.followup import check_follow_up

__all__ = ["CumulativeIncidence", "aalen_johansen"]


@dataclass
class CumulativeIncidence:
    """Aalen-Johansen estimates at every distinct exit age.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Distinct exit ages (events and censorings), increasing.
    n_risk : ndarray, shape (T,)
        Number at risk (event-free, under observation) just before each time.
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


def aalen_johansen(entry, exit, event, *, conf_level: float = 0.95) -> CumulativeIncidence:
    """Cumulative incidence functions with delayed entry and IJ standard errors.

    Parameters
    ----------
    entry : array_like or None
        Age at start of observation (left truncation); ``None`` means 0 for all.
    exit : array_like
        Age at event or censoring, ``exit > entry``.
    event : array_like of int
        0 censored, 1 event of interest, 2.. competing events.
    conf_level : float
        Confidence level of the pointwise intervals.

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
    lower, upper = _log_ci(cif, se, conf_level)
    return CumulativeIncidence(times, n_risk, states, cif, se, lower, upper, event_free)


def _log_ci(p, se, conf_level):
    z = special.ndtri(0.5 + conf_level / 2)
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
