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
    states = sorted(int(s) for s in np.unique(event) if s != 0) or [1]
    times = np.unique(exit_)
    n = len(exit_)
    k_states = len(states)
    cif = np.zeros((len(times), k_states))
    var = np.zeros_like(cif)
    n_risk = np.zeros(len(times), int)
    event_free = np.zeros(len(times))
    p0, pk = 1.0, np.zeros(k_states)
    u0, uk = np.zeros(n), np.zeros((n, k_states))  # influence of each subject on p0, pk
    for j, t in enumerate(times):
        at_risk = (entry < t) & (exit_ >= t)
        n_t = at_risk.sum()
        n_risk[j] = n_t
        dies = exit_ == t
        d = np.array([np.sum(dies & (event == s)) for s in states])
        if n_t > 0 and d.sum() > 0:
            da = d / n_t
            # influence on the hazard increments: (dN_ik - Y_i dA_k) / n
            dn = np.stack([(dies & (event == s)).astype(float) for s in states], axis=1)
            du = (dn - at_risk[:, None] * da[None, :]) / n_t
            uk = uk + u0[:, None] * da[None, :] + p0 * du  # uses p0(t-), u0(t-)
            u0 = u0 * (1 - da.sum()) - p0 * du.sum(1)
            pk = pk + p0 * da
            p0 = p0 * (1 - da.sum())
        cif[j] = pk
        var[j] = np.sum(uk**2, axis=0)
        event_free[j] = p0
    se = np.sqrt(var)
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
    exit_ = np.asarray(exit_, float)
    entry = np.zeros_like(exit_) if entry is None else np.asarray(entry, float)
    event_arr = np.asarray(event)
    if not (entry.shape == exit_.shape == event_arr.shape) or exit_.ndim != 1:
        raise ModelError("entry, exit and event must be 1-d arrays of the same length")
    if len(exit_) == 0:
        raise ModelError("no subjects: cumulative incidence needs at least one")
    if np.isnan(entry).any() or np.isnan(exit_).any():
        raise ModelError("entry and exit must not be missing")
    bad = np.flatnonzero(exit_ <= entry)
    if bad.size:
        raise ModelError(
            f"exit must be later than entry; row {bad[0]} has entry {entry[bad[0]]} and "
            f"exit {exit_[bad[0]]} ({bad.size} such rows)"
        )
    as_int = event_arr.astype(int)
    if np.any(as_int != event_arr) or np.any(as_int < 0):
        raise ModelError("event codes must be integers: 0 censored, 1 event, 2.. competing")
    return entry, exit_, as_int
