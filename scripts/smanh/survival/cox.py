"""Cox proportional hazards with delayed entry (left truncation) and Efron ties.

Matches R ``coxph(Surv(entry, exit, event) ~ ..., ties = "efron")`` and, for the
proportional-hazards check, ``cox.zph(fit)`` of survival 3.x (``transform = "km"``,
``terms = TRUE``): a score test for adding ``x * g(t)`` terms, where ``g`` is one minus
the left-continuous Kaplan-Meier (with delayed entry, all strata pooled) at the event
time, centred at its mean over events.

Data are counting-process intervals ``(entry, exit]``: a subject is at risk at event
time ``t`` iff ``entry < t <= exit``. The fit is a Newton-Raphson on the exact Efron
partial likelihood with step halving, iterated to machine-level convergence.

Case weights and clusters (``fit_cox(..., weights=w, cluster=id)``) give R
``coxph(Surv(entry, exit, event) ~ ..., weights = w, cluster = id, ties = "efron")``: the
weighted Efron partial likelihood of R's ``agfit4.c`` (tied events share their mean
weight), the naive SE from its information (R ``se(coef)``) and the robust sandwich SE
(R ``robust se``): ``D'D`` with ``D`` the weighted score residuals (R ``agscore2.c``)
summed per cluster, times the naive variance.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"entry": [0, 0, 1, 0, 2, 0], "exit": [1, 2, 3, 4, 5, 6],
...                    "event": [1, 1, 0, 1, 1, 0], "x": [1.0, 0.5, 0.2, 0.1, -1.0, 0.3]})
>>> fit = fit_cox(df["entry"], df["exit"], df["event"], df, "x")
>>> round(float(fit.coef[0]), 3)
0.475
>>> fit.summary().columns.tolist()[:3]
['term', 'coef', 'se']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError
from smanh.survival.followup import check_cluster, check_follow_up, check_weights

__all__ = ["Design", "design_matrix", "CoxFit", "fit_cox", "cox_zph"]

_Z95 = special.ndtri(0.975)
# |beta| * sd(x) beyond this means a hazard ratio of e^12 per SD: a diverging coefficient
# (complete or quasi-complete separation), not an estimate.
_SEPARATION_LIMIT = 12.0
# Designs with at most this many distinct covariate rows (factors: levels combined) sum
# over risk sets by pattern counts, computed once per fit.
_MAX_PATTERNS = 64


# --------------------------------------------------------------------------- design
@dataclass(frozen=True)
class Design:
    """A model matrix with its term structure (like R's ``model.matrix`` + ``assign``).

    Attributes
    ----------
    matrix : ndarray, shape (n, p)
    columns : list of str
        Column names as R writes them (``smn2_copies3``, ``sexM``).
    terms : dict of str to list of int
        Term name to its column indices (a factor is one term with several columns).
    reference : dict of str to str
        Reference level of every categorical term.
    """

    matrix: np.ndarray
    columns: list[str]
    terms: dict[str, list[int]]
    reference: dict[str, str] = field(default_factory=dict)


def _parse_formula(formula: str) -> list[str]:
    """Terms of ``"a + b"`` (an optional leading ``~`` is ignored); only ``+`` is supported."""
    rhs = formula.split("~", 1)[-1]
    terms = [t.strip() for t in rhs.split("+")]
    if not terms or any(not t for t in terms) or any(c in t for t in terms for c in "*:()^-"):
        raise ModelError(f"formula {formula!r}: only 'a + b + ...' over column names is supported")
    return terms


def design_matrix(
    data: pd.DataFrame, formula: str, reference: dict[str, str] | None = None
) -> Design:
    """Build a treatment-contrast model matrix for ``formula`` (no intercept).

    Numeric columns enter as they are. Other columns (strings, categoricals, booleans)
    become indicator columns for every level but the reference: ``reference[col]`` if
    given, else the first category of an ordered/categorical dtype, else the first level
    in sorted (C-locale) order, which is R's default for ``factor()`` in that locale.

    Examples
    --------
    >>> d = design_matrix(pd.DataFrame({"copies": ["2", "3", "4+"], "x": [1., 2., 3.]}),
    ...                   "copies + x")
    >>> d.columns, d.reference
    (['copies3', 'copies4+', 'x'], {'copies': '2'})
    """
    reference = reference or {}
    cols: list[np.ndarray] = []
    names: list[str] = []
    terms: dict[str, list[int]] = {}
    refs: dict[str, str] = {}
    for term in _parse_formula(formula):
        if term not in data.columns:
            raise ModelError(f"formula term {term!r} is not a column (columns: {list(data.columns)})")
        values = data[term]
        if values.isna().any():
            raise ModelError(f"column {term!r} has {int(values.isna().sum())} missing values")
        start = len(names)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            cols.append(values.to_numpy(float))
            names.append(term)
        else:
            levels = _levels(values)
            ref = str(reference.get(term, levels[0]))
            if ref not in levels:
                raise ModelError(f"reference level {ref!r} of {term!r} not among {levels}")
            refs[term] = ref
            as_str = values.astype(str).to_numpy()
            for level in levels:
                if level != ref:
                    cols.append((as_str == level).astype(float))
                    names.append(f"{term}{level}")
        terms[term] = list(range(start, len(names)))
    matrix = np.column_stack(cols) if cols else np.empty((len(data), 0))
    return Design(matrix, names, terms, refs)


def _levels(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.astype(str))
        return [str(c) for c in values.cat.categories if str(c) in present]
    return sorted(set(values.astype(str)))


# --------------------------------------------------------------------------- result
@dataclass
class CoxFit:
    """A fitted Cox model. Arrays are indexed like ``columns``.

    Attributes
    ----------
    columns, terms, reference : from the :class:`Design`
    coef, se, hr, hr_lower, hr_upper, z, p : ndarray
        Log hazard ratios, model-based SEs, HRs with Wald 95% CIs, Wald z and p.
    vcov : ndarray
        Inverse observed information at the estimate.
    loglik_null, loglik : float
        Log partial likelihood at beta = 0 and at the estimate.
    score_test, wald_test, lr_test : dict
        ``{"chisq", "df", "p"}``; the score test is the log-rank test for one factor. For
        a robust fit the Wald test uses the robust variance (as R).
    n, n_events, iterations : int
        Rows, events (unweighted counts; rows of weight 0 left out) and Newton steps.
    robust_vcov : ndarray or None
        The sandwich (robust) variance, for a robust fit. Then ``z``, ``p`` and the HR
        intervals use ``robust_se`` (as R's ``summary.coxph``); ``se`` stays the naive SE.
    robust_score_test : dict or None
        R's robust score test (``fit$rscore``), for a robust fit.
    weighted : bool
        Whether case weights were given.
    """

    columns: list[str]
    terms: dict[str, list[int]]
    reference: dict[str, str]
    coef: np.ndarray
    se: np.ndarray
    vcov: np.ndarray
    loglik_null: float
    loglik: float
    score_test: dict
    wald_test: dict
    lr_test: dict
    n: int
    n_events: int
    iterations: int
    _data: "_CoxData" = field(repr=False)
    robust_vcov: np.ndarray | None = None
    robust_score_test: dict | None = None
    weighted: bool = False

    @property
    def robust_se(self) -> np.ndarray | None:
        """Robust (sandwich) SE, R's ``robust se``; None unless the fit is robust."""
        return None if self.robust_vcov is None else np.sqrt(np.diag(self.robust_vcov))

    @property
    def naive_se(self) -> np.ndarray:
        """Model-based SE from the (weighted) information, R's ``se(coef)``."""
        return self.se

    @property
    def _test_se(self) -> np.ndarray:
        return self.se if self.robust_vcov is None else self.robust_se

    @property
    def z(self) -> np.ndarray:
        return self.coef / self._test_se

    @property
    def p(self) -> np.ndarray:
        return 2 * special.ndtr(-np.abs(self.z))

    @property
    def hr(self) -> np.ndarray:
        return np.exp(self.coef)

    @property
    def hr_lower(self) -> np.ndarray:
        return np.exp(self.coef - _Z95 * self._test_se)

    @property
    def hr_upper(self) -> np.ndarray:
        return np.exp(self.coef + _Z95 * self._test_se)

    def summary(self) -> pd.DataFrame:
        """One row per coefficient: term, coef, se, hr, lo, hi, z, p (and robust_se after
        se for a robust fit, which lo, hi, z and p then use)."""
        frame = pd.DataFrame(
            {"term": self.columns, "coef": self.coef, "se": self.se, "hr": self.hr,
             "lo": self.hr_lower, "hi": self.hr_upper, "z": self.z, "p": self.p}
        )
        if self.robust_vcov is not None:
            frame.insert(3, "robust_se", self.robust_se)
        return frame


@dataclass
class _CoxData:
    """Risk-set structure of counting-process data, for sums over risk sets.

    Risk set ``k`` (one per distinct event time within a stratum, ordered by stratum
    then time) holds the subjects with ``entry < times[k] <= exit`` of its stratum.
    Sums over it are cumulative sums: (sum over exit >= t) - (sum over entry >= t),
    per stratum (:meth:`risk_sums`).
    """

    x: np.ndarray  # centred covariates
    entry: np.ndarray
    exit: np.ndarray
    strata: np.ndarray  # integer codes
    times: np.ndarray  # event time of each risk set
    set_strata: np.ndarray  # stratum code of each risk set
    death_idx: np.ndarray  # event subjects, grouped by risk set (in input order)
    death_set: np.ndarray  # risk set of each entry of death_idx
    death_counts: np.ndarray  # events per risk set
    blocks: list  # per stratum: (rows by exit, rows by entry, exit pos, entry pos, sets)
    # Categorical designs: the distinct covariate rows, and per risk set how many subjects
    # of each are at risk and die (exact counts): sums over risk sets are then products.
    patterns: np.ndarray | None = None  # (G, p)
    pattern_at_risk: np.ndarray | None = None  # (K, G)
    pattern_deaths: np.ndarray | None = None  # (K, G)
    case_weights: np.ndarray | None = None  # (n,) positive; None: all 1

    @property
    def deaths(self) -> list[np.ndarray]:
        return np.split(self.death_idx, np.cumsum(self.death_counts)[:-1])

    def risk_sums(self, values: np.ndarray, counts: bool = False) -> np.ndarray:
        """Sums of ``values`` (n, q) over every risk set: shape (K, q); ``values[:, 0]`` are
        the (positive) risk weights, or ``counts``: all values are whole numbers.

        Suffix sums: at risk at t = exit >= t, less those with entry >= t (not yet
        entered; their exit is later too). Sets where the difference cancels (sums of
        the late entrants dwarf it, as under a diverging coefficient) are summed again by
        :func:`_risk_sums_by_weight`.
        """
        q = values.shape[1]
        out = np.zeros((len(self.times), q))
        for by_exit, by_entry, exit_pos, entry_pos, sets in self.blocks:
            after_exit = _suffix_sums(values[by_exit])[exit_pos]
            after_entry = _suffix_sums(values[by_entry])[entry_pos]
            sums = after_exit - after_entry
            if counts:  # whole numbers: the difference is exact
                out[sets] = sums
                continue
            scale = np.abs(after_exit[:, 0]) + np.abs(after_entry[:, 0])
            bad = np.flatnonzero(~(sums[:, 0] > 1e-6 * scale))
            if bad.size:
                sums[bad] = _risk_sums_by_weight(
                    values, self.entry, self.exit, by_exit, by_entry, self.times[sets[bad]])
            out[sets] = sums
        return out


def _risk_sums_by_weight(values, entry, exit_, by_exit, by_entry, times) -> np.ndarray:
    """Risk-set sums at ``times`` without cancellation: the suffix-sum difference taken
    separately within classes of similar weight (``values[:, 0]`` within a factor e^width),
    and only where the class has subjects at risk (exact integer counts). Within a class
    the rounding error is at most about n e^width 2^-52 of its sum."""
    with np.errstate(divide="ignore"):
        log_w = np.log(values[:, 0])
    finite = np.isfinite(log_w)  # weight 0 (underflow): adds nothing
    low, high = (log_w[finite].min(), log_w[finite].max()) if finite.any() else (0.0, 0.0)
    width = max(1.0, (high - low) / 50)  # at most ~50 classes
    level = np.where(finite, np.floor((log_w - low) / width), -1)
    out = np.zeros((len(times), values.shape[1]))
    exit_level, entry_level = level[by_exit], level[by_entry]
    for b in np.unique(exit_level[exit_level >= 0]):
        rows_exit = by_exit[exit_level == b]  # still sorted by exit
        rows_entry = by_entry[entry_level == b]  # still sorted by entry
        at_exit = np.searchsorted(exit_[rows_exit], times, side="left")
        at_entry = np.searchsorted(entry[rows_entry], times, side="left")
        at_risk = (len(rows_exit) - at_exit) - (len(rows_entry) - at_entry)
        sums = _suffix_sums(values[rows_exit])[at_exit] - _suffix_sums(values[rows_entry])[at_entry]
        out += np.where((at_risk > 0)[:, None], sums, 0.0)
    return out


def _suffix_sums(values: np.ndarray) -> np.ndarray:
    """``out[i] = values[i:].sum(0)``, with a zero row at the end."""
    out = np.zeros((len(values) + 1, values.shape[1]))
    np.cumsum(values[::-1], axis=0, out=out[-2::-1])
    return out


def _risk_sets(entry, exit_, status, strata, x, case_weights=None) -> _CoxData:
    times, set_strata, blocks = [], [], []
    death_idx, death_set, death_counts = [], [], []
    k = 0
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        dead = rows[status[rows]]
        t_s, inverse, counts = np.unique(exit_[dead], return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")  # grouped by time, input order within
        death_idx.append(dead[order])
        death_set.append(k + inverse[order])
        death_counts.append(counts)
        by_exit = rows[np.argsort(exit_[rows], kind="stable")]
        by_entry = rows[np.argsort(entry[rows], kind="stable")]
        exit_pos = np.searchsorted(exit_[by_exit], t_s, side="left")
        entry_pos = np.searchsorted(entry[by_entry], t_s, side="left")
        blocks.append((by_exit, by_entry, exit_pos, entry_pos, np.arange(k, k + len(t_s))))
        times.append(t_s)
        set_strata.append(np.full(len(t_s), s))
        k += len(t_s)
    data = _CoxData(
        x, entry, exit_, strata, np.concatenate(times), np.concatenate(set_strata),
        np.concatenate(death_idx), np.concatenate(death_set), np.concatenate(death_counts), blocks,
    )
    if case_weights is not None:  # weighted sums over risk sets: per row, not per pattern
        data.case_weights = case_weights
        return data
    found = _patterns(x)
    if found is not None:
        patterns, pattern_of = found
        one_hot = np.zeros((len(x), len(patterns)))
        one_hot[np.arange(len(x)), pattern_of] = 1.0
        data.patterns = patterns
        data.pattern_at_risk = data.risk_sums(one_hot, counts=True)
        data.pattern_deaths = np.zeros((len(data.times), len(patterns)))
        np.add.at(data.pattern_deaths, (data.death_set, pattern_of[data.death_idx]), 1.0)
    return data


def _risk_values(x, eta):
    """Per row: risk weight w = exp(eta), w x and w x x' (flattened)."""
    n, p = x.shape
    w = np.exp(eta)
    xx = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)
    return np.column_stack([w, x * w[:, None], xx * w[:, None]])


def _patterns(x) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``x`` and each row's index among them (as ``np.unique(x,
    axis=0, return_inverse=True)``, by column codes: faster); None for more than
    ``_MAX_PATTERNS``."""
    key = np.zeros(len(x), dtype=np.int64)  # pattern code of the columns so far
    for column in x.T:
        levels, code = np.unique(column, return_inverse=True)
        combined, key = np.unique(key * len(levels) + code.reshape(-1), return_inverse=True)
        if len(combined) > _MAX_PATTERNS:  # so key * len(levels) stays below _MAX_PATTERNS**2
            return None
        key = key.reshape(-1)
    return x[np.unique(key, return_index=True)[1]], key


def _efron_terms(beta: np.ndarray, data: _CoxData, g: np.ndarray | None = None):
    """Log partial likelihood, score and information (Efron ties), vectorised.

    With ``g`` (one value per risk set) also returns the score and the full information
    of the model augmented with covariates ``x * g(t)`` at (beta, 0), for cox.zph, and
    the Schoenfeld residuals of each event (grouped by risk set).
    """
    if data.case_weights is not None:
        if g is not None:
            raise ModelError("cox.zph is not available for a weighted Cox model")
        return _weighted_efron_terms(beta, data)[:3]
    x = data.x
    n, p = x.shape
    eta = x @ beta
    m = eta.max()  # scale by the largest risk score: no overflow for large beta
    d, k_of = data.death_idx, data.death_set
    counts = data.death_counts
    first = np.cumsum(counts) - counts
    if data.patterns is not None:  # the same sums, over covariate patterns
        values = _risk_values(data.patterns, data.patterns @ beta - m)
        risk = data.pattern_at_risk @ values
        dead = data.pattern_deaths @ values
    else:
        values = _risk_values(x, eta - m)
        risk = data.risk_sums(values)
        dead = np.add.reduceat(values[d], first, axis=0)  # deaths are grouped by risk set
    # Efron: the j-th (0-based) of the d tied events sees risk - j/d of the tied events
    frac = (np.arange(len(d)) - first[k_of]) / counts[k_of]
    s = risk[k_of] - frac[:, None] * dead[k_of]  # (D, 1 + p + p*p)
    s0 = s[:, 0]
    means = s[:, 1 : 1 + p] / s0[:, None]
    v = s[:, 1 + p :].reshape(-1, p, p) / s0[:, None, None] - means[:, :, None] * means[:, None, :]
    xd = x[d]
    loglik = float(eta[d].sum() - np.sum(np.log(s0) + m))
    score = xd.sum(0) - means.sum(0)
    info = v.sum(0)
    if g is None:
        return loglik, score, info
    gj = g[k_of]
    u2 = (gj[:, None] * (xd - means)).sum(0)
    i12 = (gj[:, None, None] * v).sum(0)
    i22 = ((gj**2)[:, None, None] * v).sum(0)
    mean_of_means = np.add.reduceat(means, first, axis=0) / counts[:, None]
    schoen = xd - mean_of_means[k_of]
    return loglik, score, info, u2, i12, i22, schoen


def _weighted_efron_terms(beta: np.ndarray, data: _CoxData):
    """Log partial likelihood, score and information with case weights (R ``agfit4.c``).

    Sums over risk sets are weighted by the case weights; the ``d`` tied events of a risk
    set each count with their mean weight ``meanwt`` and the j-th sees the risk set less
    ``j / d`` of the (weighted) tied events. Also returns, per death, the quantities the
    score residuals need: ``frac`` (j / d), the denominators, means and hazard increments.
    """
    x, cw = data.x, data.case_weights
    p = x.shape[1]
    eta = x @ beta
    m = eta.max()
    d, k_of, counts = data.death_idx, data.death_set, data.death_counts
    first = np.cumsum(counts) - counts
    values = _risk_values(x, eta - m) * cw[:, None]
    risk = data.risk_sums(values)
    dead = np.add.reduceat(values[d], first, axis=0)
    meanwt = np.add.reduceat(cw[d], first) / counts  # (K,)
    frac = (np.arange(len(d)) - first[k_of]) / counts[k_of]
    s = risk[k_of] - frac[:, None] * dead[k_of]
    s0 = s[:, 0]
    means = s[:, 1 : 1 + p] / s0[:, None]
    v = s[:, 1 + p :].reshape(-1, p, p) / s0[:, None, None] - means[:, :, None] * means[:, None, :]
    mw = meanwt[k_of]
    loglik = float(np.sum(cw[d] * eta[d]) - np.sum(mw * (np.log(s0) + m)))
    score = (cw[d, None] * x[d]).sum(0) - (mw[:, None] * means).sum(0)
    info = (mw[:, None, None] * v).sum(0)
    return loglik, score, info, eta - m, frac, mw / s0, means


def _score_residuals(beta: np.ndarray, data: _CoxData) -> np.ndarray:
    """Efron score residuals of every row, unweighted (R ``agscore2.c``); shape (n, p).

    For tied events ``j = 0..d-1`` of a risk set with hazard increments ``dh_j`` (mean
    weight over the j-th denominator) and means ``xbar_j``: a row at risk but not dying
    there gets ``-r (x T1 - M1)``, a dying row ``x - M3 - r x T2 + r M2``, with
    ``T1 = sum dh_j``, ``T2 = sum (1 - j/d) dh_j``, ``M1 = sum xbar_j dh_j``,
    ``M2 = sum (1 - j/d) xbar_j dh_j``, ``M3 = mean of xbar_j`` and ``r = exp(x beta)``
    (scaled, as the denominators are). Sums over the risk sets a row is in are differences
    of prefix sums over the sets of its stratum, which are contiguous and in time order.
    """
    x, entry, exit_ = data.x, data.entry, data.exit
    n, p = x.shape
    _, _, _, eta, frac, hazard, means = _weighted_efron_terms(beta, data)
    r = np.exp(eta)
    k_of, counts = data.death_set, data.death_counts
    first = np.cumsum(counts) - counts
    per_set = lambda a: np.add.reduceat(a, first, axis=0)  # noqa: E731
    t1 = per_set(hazard)
    t2 = per_set((1 - frac) * hazard)
    m1 = per_set(means * hazard[:, None])
    m2 = per_set(means * ((1 - frac) * hazard)[:, None])
    m3 = per_set(means) / counts[:, None]
    prefix = np.zeros((len(counts) + 1, 1 + p))
    prefix[1:] = np.cumsum(np.column_stack([t1, m1]), axis=0)
    lo, hi = np.zeros(n, int), np.zeros(n, int)
    for rows, _, _, _, sets in data.blocks:
        if len(sets) == 0:  # a stratum without events: its rows are in no risk set
            continue
        times = data.times[sets]
        lo[rows] = sets[0] + np.searchsorted(times, entry[rows], side="right")
        hi[rows] = sets[0] + np.searchsorted(times, exit_[rows], side="right")
    at_risk = prefix[hi] - prefix[lo]  # sum of (T1, M1) over the sets each row is in
    resid = -r[:, None] * (x * at_risk[:, :1] - at_risk[:, 1:])
    d = data.death_idx
    k = k_of
    # a dying row: the death term replaces the at-risk term of its own risk set
    resid[d] += (x[d] - m3[k] - r[d, None] * x[d] * t2[k, None] + r[d, None] * m2[k]
                 + r[d, None] * (x[d] * t1[k, None] - m1[k]))
    return resid


def _robust_variance(beta, vcov, data: _CoxData, cluster_codes, n_clusters):
    """``D'D``: weighted score residuals summed per cluster, times the naive variance."""
    resid = _score_residuals(beta, data) * data.case_weights[:, None]
    collapsed = np.column_stack([np.bincount(cluster_codes, resid[:, j], minlength=n_clusters)
                                 for j in range(resid.shape[1])])
    dfbeta = collapsed @ vcov
    return dfbeta.T @ dfbeta, collapsed


# --------------------------------------------------------------------------- fitting
def fit_cox(
    entry,
    exit,
    event,
    covariates: pd.DataFrame | np.ndarray,
    formula: str | None = None,
    *,
    strata=None,
    reference: dict[str, str] | None = None,
    max_iter: int = 50,
    weights=None,
    cluster=None,
    robust: bool | None = None,
) -> CoxFit:
    """Fit a Cox model to counting-process data ``(entry, exit]`` with Efron ties.

    Parameters
    ----------
    entry, exit : array_like
        Ages (years) at start of observation and at event/censoring; ``exit > entry``.
    event : array_like of bool or int
        Nonzero-one coding: ``event == 1`` (or True) is an event, anything else censors.
    covariates : DataFrame or ndarray
        With ``formula`` (``"smn2_copies + sex"``) a DataFrame whose columns are named in
        it; without, all its columns (a DataFrame) or the columns of an ndarray (named
        ``x1, x2, ...``) enter as they are.
    strata : array_like, optional
        Stratum labels: separate baseline hazards (R ``strata()``).
    reference : dict, optional
        Reference level per categorical column; default the first sorted level.
    weights : array_like, optional
        Non-negative case weights (R ``weights =``). Rows of weight 0 are left out (R
        refuses them; this is R's fit on the other rows).
    cluster : array_like, optional
        Patient (cluster) of each row, for the robust variance (R ``cluster =``).
    robust : bool, optional
        Robust (sandwich) variance, clustered on ``cluster`` (each row its own cluster
        without one). Default as R: robust when ``cluster`` is given or some weight is not
        a whole number.

    Returns
    -------
    CoxFit

    Raises
    ------
    ModelError
        No events, constant or collinear columns, missing values, bad intervals, or a
        diverging coefficient (complete separation, e.g. a level without events).

    Examples
    --------
    >>> df = pd.DataFrame({"entry": [0, 0, 1, 0, 2, 0], "exit": [1, 2, 3, 4, 5, 6],
    ...                    "event": [1, 1, 0, 1, 1, 0], "g": list("ababab")})
    >>> fit = fit_cox(df.entry, df.exit, df.event, df, "g")
    >>> fit.columns, fit.reference
    (['gb'], {'g': 'a'})
    """
    entry, exit_, status = _check_times(entry, exit, event)
    design = _design(covariates, formula, reference, len(entry))
    x = design.matrix
    strata_codes = _strata_codes(strata, len(entry))
    case_weights, cluster_of, robust = _weights_and_clusters(weights, cluster, robust, len(entry))
    if case_weights is not None:
        used = case_weights > 0
        if not used.all():  # R refuses weight 0; without those rows it is R's fit
            entry, exit_, status, x, strata_codes, case_weights, cluster_of = (
                a[used] for a in (entry, exit_, status, x, strata_codes, case_weights,
                                  cluster_of))
            design = Design(x, design.columns, design.terms, design.reference)
    if not status.any():
        raise ModelError("no events: a Cox model needs at least one event")
    _check_columns(x, design.columns)
    x_centred = x - x.mean(0)  # as R: centring does not change the partial likelihood
    data = _risk_sets(entry, exit_, status, strata_codes, x_centred, case_weights)

    p = x.shape[1]
    beta = np.zeros(p)
    ll0, u0, i0 = _efron_terms(beta, data)
    score_chisq = float(u0 @ _solve(i0, u0, design.columns))
    beta, ll, info, iterations = _newton(
        beta, ll0, u0, i0, data, design.columns, max_iter, diverged=_diverged(x)
    )
    _check_separation(beta, x, status, design)
    if np.linalg.cond(info) > 1e12:
        raise ModelError(
            f"the information matrix is singular at the estimate for columns {design.columns}: "
            "a column is (nearly) constant among the subjects at risk"
        )
    vcov = np.linalg.inv(info)
    se = np.sqrt(np.diag(vcov))
    wald = float(beta @ info @ beta)
    lr = 2 * (ll - ll0)
    robust_vcov = robust_score = None
    if robust:
        codes = np.unique(cluster_of, return_inverse=True)[1].reshape(-1)
        n_clusters = int(codes.max()) + 1
        robust_vcov, _ = _robust_variance(beta, vcov, data, codes, n_clusters)
        wald = float(beta @ _solve(robust_vcov, beta, design.columns))
        _, at_zero = _robust_variance(np.zeros(p), vcov, data, codes, n_clusters)
        u = at_zero.sum(0)
        robust_score = _chisq(float(u @ _solve(at_zero.T @ at_zero, u, design.columns)), p)
    return CoxFit(
        columns=design.columns, terms=design.terms, reference=design.reference,
        coef=beta, se=se, vcov=vcov, loglik_null=ll0, loglik=ll,
        score_test=_chisq(score_chisq, p), wald_test=_chisq(wald, p), lr_test=_chisq(lr, p),
        n=len(entry), n_events=int(status.sum()), iterations=iterations, _data=data,
        robust_vcov=robust_vcov, robust_score_test=robust_score,
        weighted=weights is not None,
    )


def _weights_and_clusters(weights, cluster, robust, n):
    """``(case_weights or None, cluster labels, robust)``; weights all 1 when only a robust
    variance is asked for, None for the unweighted, non-robust fit (its own code path)."""
    w = None if weights is None else check_weights(weights, n)
    labels = check_cluster(cluster, n)
    if robust is None:  # R's default
        robust = labels is not None or (w is not None and bool(np.any(w != np.floor(w))))
    if not robust and labels is not None:
        raise ModelError("cluster is only used by the robust variance: drop it or set "
                         "robust=True")
    if w is not None and not robust and np.all(w == 1):
        w = None  # the unweighted fit, computed as such
    if w is None and robust:
        w = np.ones(n)
    if w is not None and not np.any(w > 0):
        raise ModelError("every weight is 0: nothing to fit")
    if labels is None:
        labels = np.arange(n)
    return w, labels, bool(robust)


def _diverged(x):
    """Whether ``beta`` is beyond the separation limit (see :func:`_check_separation`)."""
    sd = x.std(0)
    return lambda beta: bool(np.any(np.abs(beta) * sd > _SEPARATION_LIMIT))


def _newton(beta, ll, score, info, data, columns, max_iter, diverged=lambda beta: False):
    """Newton-Raphson with step halving (as R's coxph), to a relative change of 1e-12.
    A coefficient beyond the separation limit once the log-likelihood is flat to R's
    tolerance (1e-9) ends the iterations: it diverges, each step adds about 1 to it."""
    for iteration in range(1, max_iter + 1):
        try:
            step = _solve(info, score, columns)
        except ModelError:
            if iteration == 1:
                raise
            # information vanished along a diverging coefficient: let the caller say which
            return beta, ll, info, iteration
        new = beta + step
        ll_new, score_new, info_new = _efron_terms(new, data)
        halvings = 0
        while ll_new < ll - 1e-12 * abs(ll) and halvings < 30:  # overshoot: halve the step
            step /= 2
            new = beta + step
            ll_new, score_new, info_new = _efron_terms(new, data)
            halvings += 1
        converged = abs(ll_new - ll) <= 1e-12 * abs(ll) + 1e-14 and np.max(np.abs(step)) < 1e-6
        flat = abs(ll_new - ll) <= 1e-9 * abs(ll)
        beta, ll, score, info = new, ll_new, score_new, info_new
        if converged or (flat and diverged(beta)):
            return beta, ll, info, iteration
    return beta, ll, info, max_iter


def _solve(info, vec, columns):
    try:
        return np.linalg.solve(info, vec)
    except np.linalg.LinAlgError:
        raise ModelError(
            f"the information matrix is singular for columns {columns}: "
            "a column is constant among the subjects at risk, or columns are collinear"
        ) from None


def _chisq(stat: float, df: int) -> dict:
    return {"chisq": stat, "df": df, "p": float(special.chdtrc(df, stat))}


def _check_times(entry, exit_, event):
    entry, exit_, event = check_follow_up(entry, exit_, event)
    status = event == 1 if event.dtype != bool else event
    return entry, exit_, np.asarray(status, bool)


def _design(covariates, formula, reference, n) -> Design:
    if isinstance(covariates, pd.DataFrame):
        if formula is None:
            formula = " + ".join(map(str, covariates.columns))
        design = design_matrix(covariates.reset_index(drop=True), formula, reference)
    else:
        x = np.asarray(covariates, float)
        x = x.reshape(n, -1) if x.ndim <= 1 else x
        names = [f"x{j + 1}" for j in range(x.shape[1])]
        design = Design(x, names, {c: [j] for j, c in enumerate(names)})
    if design.matrix.shape[0] != n:
        raise ModelError(f"covariates have {design.matrix.shape[0]} rows, times have {n}")
    if design.matrix.shape[1] == 0:
        raise ModelError("no covariates: a Cox model needs at least one column")
    if not np.isfinite(design.matrix).all():
        raise ModelError("covariates must be finite numbers")
    return design


def _strata_codes(strata, n) -> np.ndarray:
    if strata is None:
        return np.zeros(n, int)
    strata = pd.Series(np.asarray(strata)).astype(str)
    if len(strata) != n:
        raise ModelError(f"strata has {len(strata)} values, times have {n}")
    # integer codes in sorted label order, as R's factor levels
    return pd.Categorical(strata, categories=sorted(strata.unique())).codes.astype(int)


def _check_columns(x: np.ndarray, columns: list[str]) -> None:
    """Constant and collinear columns make the model unidentifiable: say which."""
    for j, name in enumerate(columns):
        if np.ptp(x[:, j]) == 0:
            what = "has no subjects" if np.all(x[:, j] == 0) else "is constant"
            raise ModelError(f"covariate column {name!r} {what}: its effect is not identifiable")
    centred = x - x.mean(0)
    for j in range(1, len(columns)):
        if np.linalg.matrix_rank(centred[:, : j + 1]) <= j:
            raise ModelError(
                f"covariate column {columns[j]!r} is collinear with {columns[:j]} "
                "(a linear combination of them): drop one"
            )


def _check_separation(beta, x, status, design: Design) -> None:
    for j, name in enumerate(design.columns):
        if abs(beta[j]) * x[:, j].std() > _SEPARATION_LIMIT or not np.isfinite(beta[j]):
            detail = ""
            is_dummy = set(np.unique(x[:, j])) <= {0.0, 1.0}
            if is_dummy and not status[x[:, j] == 1].any():
                detail = " (that level has no events)"
            elif is_dummy and not status[x[:, j] == 0].any():
                detail = " (only that level has events)"
            raise ModelError(
                f"coefficient of {name!r} diverges (hazard ratio tends to "
                f"{'infinity' if beta[j] > 0 else 'zero'}): complete separation{detail}; "
                "merge levels or drop the column"
            )


# --------------------------------------------------------------------------- cox.zph
def _km_left(entry, exit_, status, times) -> np.ndarray:
    """Left-continuous product-limit S(t-) with delayed entry, all strata pooled."""
    event_times, n_event = np.unique(exit_[status], return_counts=True)
    n_risk = np.searchsorted(np.sort(entry), event_times, side="left") - np.searchsorted(
        np.sort(exit_), event_times, side="left"
    )
    surv = np.cumprod(1 - n_event / n_risk)
    idx = np.searchsorted(event_times, times, side="left")  # event times strictly before t
    return np.concatenate([[1.0], surv])[idx]


def cox_zph(fit: CoxFit, entry, exit, event) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test proportional hazards with scaled Schoenfeld residuals (R ``cox.zph``).

    The ``entry, exit, event`` must be those given to :func:`fit_cox`; they provide the
    Kaplan-Meier time transform ``g(t) = 1 - S(t-)`` of survival 3.x's default.

    Returns
    -------
    table : DataFrame
        ``term, chisq, df, p`` per model term and ``GLOBAL`` (score tests).
    residuals : DataFrame
        ``time, g`` and the scaled Schoenfeld residuals per term, one row per event, in
        R's order (``zph$time``, ``zph$x``, ``zph$y``). Plot against ``g`` (or time).

    Examples
    --------
    >>> df = pd.DataFrame({"entry": [0, 0, 1, 0, 2, 0, 0], "exit": [1, 2, 3, 4, 5, 6, 7],
    ...                    "event": [1, 1, 0, 1, 1, 0, 1], "x": [1., .5, .2, .1, -1., .3, 0.]})
    >>> fit = fit_cox(df.entry, df.exit, df.event, df, "x")
    >>> table, resid = cox_zph(fit, df.entry, df.exit, df.event)
    >>> table.term.tolist()
    ['x', 'GLOBAL']
    """
    entry, exit_, status = _check_times(entry, exit, event)
    data = fit._data
    if data.case_weights is not None:
        raise ModelError("cox.zph is not available for a weighted or robust Cox model")
    if len(exit_) != len(data.exit) or not np.array_equal(exit_, data.exit):
        raise ModelError("cox_zph needs the same entry, exit and event as the fit")
    event_g = 1 - _km_left(entry, exit_, status, exit_[status])
    g_per_set = 1 - _km_left(entry, exit_, status, data.times) - event_g.mean()
    _, _, i11, u2, i12, i22, schoen = _efron_terms(fit.coef, data, g_per_set)
    p = len(fit.coef)
    imat = np.block([[i11, i12], [i12.T, i22]])
    u = np.concatenate([np.zeros(p), u2])
    rows = []
    for term, cols in fit.terms.items():
        kk = list(range(p)) + [p + c for c in cols]
        chisq = float(u[kk] @ np.linalg.solve(imat[np.ix_(kk, kk)], u[kk]))
        rows.append({"term": term, **_chisq(chisq, len(cols))})
    rows.append({"term": "GLOBAL", **_chisq(float(u @ np.linalg.solve(imat, u)), p)})
    table = pd.DataFrame(rows)
    return table, _scaled_schoenfeld(fit, data, i11, schoen, g_per_set + event_g.mean())


def _scaled_schoenfeld(fit, data, i11, schoen, g_per_set) -> pd.DataFrame:
    """R's ``zph$y``: residuals times (information / events)^-1 plus the coefficient.

    Multi-column terms are combined with their coefficients, as R does; R's per-stratum
    adjustment for columns constant within a stratum is not reproduced.
    """
    p, n_events = len(fit.coef), len(data.death_idx)
    terms = list(fit.terms.items())
    combine = np.zeros((p, len(terms)))
    for i, (_, cols) in enumerate(terms):
        combine[cols, i] = 1.0 if len(cols) == 1 else fit.coef[cols]
    vmean = combine.T @ (i11 / n_events) @ combine
    resid = schoen @ combine
    scaled = np.linalg.solve(vmean, resid.T).T
    offset = np.array([fit.coef[c[0]] if len(c) == 1 else 1.0 for _, c in terms])
    scaled += offset
    # one row per event, in R's order: stratum, time, then reversed input order in ties
    idx = data.death_idx
    times = data.times[data.death_set]
    g = g_per_set[data.death_set]
    order = np.lexsort((-idx, times, data.strata[idx]))
    out = pd.DataFrame(scaled[order], columns=[t for t, _ in terms])
    out.insert(0, "g", g[order])
    out.insert(0, "time", times[order])
    return out


# --------------------------------------------------------------------------- score test
def cox_score_test(entry, exit, event, groups) -> dict:
    """Score (log-rank type) test of equal hazards across ``groups`` with delayed entry.

    The score test of R ``coxph(Surv(entry, exit, event) ~ factor(groups))`` (Efron
    ties), evaluated at beta = 0 only: no model is fitted, so a group without events
    (where the coefficient would diverge) still gives a test. ``survdiff`` has no
    delayed entry; this is its counterpart for ``(entry, exit]`` data.

    Returns
    -------
    dict
        ``{"chisq", "df", "p"}``; df = number of groups - 1.

    Examples
    --------
    >>> t = cox_score_test([0, 0, 1, 0, 2, 0], [1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0],
    ...                    list("aabbab"))
    >>> t["df"]
    1
    """
    entry, exit_, status = _check_times(entry, exit, event)
    labels = pd.Series(np.asarray(groups)).astype(str)
    levels = sorted(labels.unique())
    if len(levels) < 2:
        raise ModelError("a test across strata needs at least two strata")
    if not status.any():
        raise ModelError("no events: the test across strata needs at least one event")
    x = np.column_stack([(labels == lv).to_numpy(float) for lv in levels[1:]])
    data = _risk_sets(entry, exit_, status, np.zeros(len(entry), int), x - x.mean(0))
    _, score, info = _efron_terms(np.zeros(x.shape[1]), data)
    chisq = float(score @ np.linalg.lstsq(info, score, rcond=None)[0])
    return _chisq(chisq, len(levels) - 1)
