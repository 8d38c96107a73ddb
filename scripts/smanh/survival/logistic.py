"""Logistic regression with case weights by Newton's method (IRLS), for large data and
for many bootstrap replicates at once.

Matches R ``glm(y ~ ..., family = binomial, weights = w)`` (coefficients, their
model-based covariance ``vcov(fit)`` with dispersion 1, ``fitted.values`` and
``deviance``). R warns about non-integer weights ("non-integer #successes") but fits the
same model; so does this. The iterations go on to machine precision (a Newton step below
``1e-10`` of the coefficients), where R's default ``glm.control(epsilon = 1e-8)`` stops
earlier; with ``epsilon = 1e-14`` the two agree to rounding.

Models that have no (finite) maximum likelihood estimate are refused with a
:class:`~smanh.errors.ModelError`: no rows, collinear or empty columns (R would set a
coefficient to NA), complete or quasi-complete separation (R warns "fitted probabilities
numerically 0 or 1 occurred" and returns coefficients that grow with its iterations).

Two entry points:

- :func:`fit_logistic`: one model, arrays in (no pandas), one pass over the data per
  Newton step.
- :func:`fit_logistic_replicates`: the same model refitted for ``B`` replicate
  frequency weights (a bootstrap over patients: one frequency per patient and replicate,
  shared by the patient's rows). All replicates take their Newton steps together, one
  pass over the rows per step, in row blocks (the ``n x B`` weights are never held in
  memory), the weighted cross-products of all replicates as one matrix product. Start
  them at the full-data estimate: they then need 3 to 5 steps.

Examples
--------
>>> import numpy as np
>>> x = np.array([0., 1., 2., 3., 4., 5.])
>>> fit = fit_logistic(x, [0, 0, 1, 0, 1, 1])
>>> fit.columns, fit.coef.round(4).tolist()
(['(Intercept)', 'x1'], [-3.0351, 1.214])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from smanh.errors import ModelError

__all__ = ["LogisticFit", "LogisticReplicates", "fit_logistic", "fit_logistic_replicates"]

# Newton converged: the last step is below this, relative to the coefficients (the error
# left is then about its square).
STEP_TOLERANCE = 1e-10
# Separation: the deviance no longer falls (relative change below this) while a step still
# moves a coefficient by more than SEPARATION_STEP and some fitted probability is within
# exp(-SEPARATION_ETA) of 0 or 1.
FLAT_DEVIANCE = 1e-10
SEPARATION_STEP = 1e-3
SEPARATION_ETA = 20.0
# Rows per block in fit_logistic_replicates: blocks of about this many (row, replicate)
# values.
BLOCK_VALUES = 1 << 21
_TINY = np.finfo(float).tiny


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic regression.

    Attributes
    ----------
    columns : list of str
        Coefficient names (``(Intercept)`` first when an intercept was added).
    coef : ndarray, shape (p,)
    vcov : ndarray, shape (p, p)
        Inverse of the weighted information ``X' diag(w mu (1 - mu)) X`` (R ``vcov``).
    fitted : ndarray, shape (n,)
        Fitted probabilities.
    deviance : float
        ``2 sum w [y log(y / mu) + (1 - y) log((1 - y) / (1 - mu))]`` (R ``deviance``).
    iterations : int
        Newton steps taken.
    converged : bool
        False when ``max_iter`` steps did not reach the tolerance.
    """

    columns: list[str]
    coef: np.ndarray
    vcov: np.ndarray
    fitted: np.ndarray
    deviance: float
    iterations: int
    converged: bool

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    @property
    def z(self) -> np.ndarray:
        return self.coef / self.se

    @property
    def p(self) -> np.ndarray:
        return 2 * special.ndtr(-np.abs(self.z))


@dataclass(frozen=True)
class LogisticReplicates:
    """Coefficients of ``B`` refits (rows of ``coef``) with their status.

    ``converged[b]`` is False for a replicate that did not converge in ``max_iter`` steps
    or whose estimate diverges (``separated[b]``: a bootstrap sample can separate even
    when the data do not); its ``coef`` row is then NaN.
    """

    columns: list[str]
    coef: np.ndarray  # (B, p)
    deviance: np.ndarray  # (B,)
    iterations: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) bool
    separated: np.ndarray  # (B,) bool


def fit_logistic(
    x,
    y,
    weights=None,
    *,
    columns: list[str] | None = None,
    intercept: bool = True,
    start=None,
    max_iter: int = 50,
) -> LogisticFit:
    """Fit ``P(y = 1) = expit(X beta)`` by weighted maximum likelihood.

    Parameters
    ----------
    x : array_like, shape (n, p) or (n,)
        Covariates (numbers; factors already coded as indicator columns).
    y : array_like, shape (n,)
        Outcomes in [0, 1] (0/1, or proportions with ``weights`` the numbers of trials).
    weights : array_like, shape (n,), optional
        Non-negative case weights (R ``weights =``); rows of weight 0 do not count.
    columns : list of str, optional
        Names of the columns of ``x`` (default ``x1, x2, ...``), used in messages.
    intercept : bool
        Add an intercept column ``(Intercept)`` first (as R's formula does).
    start : array_like, optional
        Starting coefficients (all columns, intercept first); default 0.
    max_iter : int
        Most Newton steps.

    Returns
    -------
    LogisticFit

    Raises
    ------
    ModelError
        No rows or no positive weight, outcomes outside [0, 1], non-finite values,
        an empty or collinear column, or separation.
    """
    x, y, w, names = _prepare(x, y, weights, columns, intercept)
    beta0 = _start(start, x.shape[1])
    state = _newton(x, y, _Weights(w), beta0[None, :], max_iter)
    if state.separated[0]:
        raise _separation_error(x, w, state.coef[0], names)
    beta = state.coef[0]
    return LogisticFit(
        columns=names, coef=beta, vcov=np.linalg.inv(state.information[0]),
        fitted=special.expit(x @ beta), deviance=float(state.deviance[0]),
        iterations=int(state.iterations[0]), converged=bool(state.converged[0]),
    )


def fit_logistic_replicates(
    x,
    y,
    frequencies,
    *,
    weights=None,
    row_cluster=None,
    columns: list[str] | None = None,
    intercept: bool = True,
    start=None,
    max_iter: int = 50,
) -> LogisticReplicates:
    """Refit the model of :func:`fit_logistic` for many replicate frequency weights.

    Replicate ``b`` gives row ``i`` the weight ``weights[i] * frequencies[c, b]`` with
    ``c = row_cluster[i]`` (the patient of the row, coded ``0..C-1``); without
    ``row_cluster`` ``frequencies`` has one row per data row.

    Parameters
    ----------
    x, y, weights, columns, intercept, max_iter
        As :func:`fit_logistic`.
    frequencies : array_like, shape (C, B) or (n, B)
        Non-negative replicate frequencies (bootstrap counts), per cluster or per row.
    row_cluster : array_like of int, shape (n,), optional
        Cluster code of each row, indexing the rows of ``frequencies``.
    start : array_like, shape (p,) or (B, p), optional
        Starting coefficients: the full-data estimate is a good start for all.

    Returns
    -------
    LogisticReplicates

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=200)
    >>> y = (rng.random(200) < 1 / (1 + np.exp(-x))).astype(float)
    >>> counts = rng.multinomial(200, np.full(200, 1 / 200), size=3).T  # 3 bootstraps
    >>> reps = fit_logistic_replicates(x, y, counts)
    >>> one = fit_logistic(x, y, counts[:, 1])
    >>> bool(np.allclose(reps.coef[1], one.coef, rtol=1e-12, atol=1e-12))
    True
    """
    x, y, w, names = _prepare(x, y, weights, columns, intercept)
    n, p = x.shape
    freq = np.asarray(frequencies, dtype=float)
    if freq.ndim == 1:
        freq = freq[:, None]
    if freq.ndim != 2 or not np.isfinite(freq).all() or (freq < 0).any():
        raise ModelError("frequencies must be a (clusters x replicates) array of finite "
                         "non-negative numbers")
    if row_cluster is None:
        if freq.shape[0] != n:
            raise ModelError(f"frequencies has {freq.shape[0]} rows, the data have {n} "
                             "(give row_cluster for one row per cluster)")
        cluster = None
    else:
        cluster = np.asarray(row_cluster)
        if cluster.shape != (n,) or cluster.dtype.kind not in "iu":
            raise ModelError(f"row_cluster must be {n} integer cluster codes")
        if cluster.size and (cluster.min() < 0 or cluster.max() >= freq.shape[0]):
            raise ModelError(f"row_cluster codes must lie in 0..{freq.shape[0] - 1}, the rows "
                             "of frequencies")
    n_rep = freq.shape[1]
    beta0 = np.asarray(start, dtype=float) if start is not None else np.zeros(p)
    if beta0.shape == (p,):
        beta0 = np.tile(beta0, (n_rep, 1))
    if beta0.shape != (n_rep, p) or not np.isfinite(beta0).all():
        raise ModelError(f"start must hold {p} finite coefficients (or one row per replicate)")

    state = _newton(x, y, _Weights(w, freq, cluster), beta0.copy(), max_iter)
    coef = np.where(state.converged[:, None], state.coef, np.nan)
    return LogisticReplicates(names, coef, state.deviance, state.iterations, state.converged,
                              state.separated)


# --------------------------------------------------------------------------- internals
class _Weights:
    """Row weights of the replicates being fitted: ``w`` times the replicate frequency of
    the row's cluster (no frequencies: ``w``, one replicate)."""

    def __init__(self, w, freq=None, cluster=None):
        self.w, self.freq, self.cluster = w, freq, cluster
        self.live = None if np.all(w > 0) else w > 0

    def for_replicates(self, reps):
        """A function of a row slice giving the (rows, len(reps)) weights."""
        if self.freq is None:
            return lambda rows: self.w[rows, None]
        table = self.freq[:, reps] if len(reps) < self.freq.shape[1] else self.freq
        if self.cluster is None:
            return lambda rows: table[rows] * self.w[rows, None]
        return lambda rows: np.take(table, self.cluster[rows], axis=0) * self.w[rows, None]


@dataclass
class _State:
    coef: np.ndarray  # (B, p) accepted coefficients
    deviance: np.ndarray  # (B,)
    information: np.ndarray  # (B, p, p) at coef
    iterations: np.ndarray
    converged: np.ndarray
    separated: np.ndarray


def _prepare(x, y, weights, columns, intercept):
    """Checked float arrays ``(x with intercept, y, w, names)``."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(y, dtype=float)
    n = y.shape[0] if y.ndim == 1 else -1
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != n:
        raise ModelError(f"x must have one row per outcome: x is {x.shape}, y {y.shape}")
    if n == 0:
        raise ModelError("no rows: a logistic model needs data")
    names = list(columns) if columns is not None else [f"x{j + 1}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise ModelError(f"{len(names)} column names for {x.shape[1]} columns")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ModelError(f"covariates must be finite numbers; row {bad[0]} is not "
                         f"({bad.size} such rows)")
    bad = np.flatnonzero(~((y >= 0) & (y <= 1)))
    if bad.size:
        raise ModelError(f"outcomes must lie in [0, 1]; row {bad[0]} has {y[bad[0]]} "
                         f"({bad.size} such rows)")
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (n,):
            raise ModelError(f"weights has {w.size} values for {n} rows")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ModelError(f"weights must be finite and non-negative; row {bad[0]} has "
                             f"{w[bad[0]]} ({bad.size} such rows)")
    if not np.any(w > 0):
        raise ModelError("every weight is 0: nothing to fit")
    if intercept:
        x = np.column_stack([np.ones(n), x])
        names = ["(Intercept)", *names]
    if x.shape[1] == 0:
        raise ModelError("no columns: nothing to fit")
    _check_rank(x, w, names)
    return x, y, w, names


def _check_rank(x, w, names) -> None:
    """Empty or collinear columns (among the rows of positive weight): say which."""
    gram = x.T @ (x * w[:, None])
    scale = np.sqrt(np.diag(gram))
    for j, name in enumerate(names):
        if scale[j] == 0:
            raise ModelError(f"column {name!r} is 0 on every row of positive weight: its "
                             "coefficient is not identifiable")
    corr = gram / np.outer(scale, scale)
    for j in range(1, len(names)):
        eigen = np.linalg.eigvalsh(corr[: j + 1, : j + 1])
        if eigen[0] <= 1e-10 * eigen[-1]:
            raise ModelError(f"column {names[j]!r} is collinear with {names[:j]} (a linear "
                             "combination of them): drop one")


def _start(start, p):
    if start is None:
        return np.zeros(p)
    beta = np.asarray(start, dtype=float)
    if beta.shape != (p,) or not np.isfinite(beta).all():
        raise ModelError(f"start must hold {p} finite coefficients")
    return beta


def _evaluate(x, y, own, weights: _Weights, beta, reps):
    """Deviance, score, information and max |eta| of the replicates ``reps`` at ``beta``
    (shape (len(reps), p)): one pass over the rows, in blocks. ``own`` is the outcomes'
    own part of the deviance (0 for 0/1 outcomes); max |eta| is over rows of positive
    weight ``w`` (any replicate)."""
    n, p = x.shape
    k = len(reps)
    weight_of = weights.for_replicates(reps)
    deviance = np.zeros(k)
    score = np.zeros((k, p))
    upper = np.triu_indices(p)
    info_upper = np.zeros((len(upper[0]), k))
    info = np.zeros((k, p, p))
    max_eta = np.zeros(k)
    block = max(1, min(n, BLOCK_VALUES // k))
    for lo in range(0, n, block):
        rows = slice(lo, min(n, lo + block))
        xb, yb = x[rows], y[rows]
        wb = weight_of(rows)  # (m, k)
        eta = xb @ beta.T  # (m, k)
        mu = special.expit(eta)
        # deviance / 2 per row = own - log likelihood = own - log(mu) + (1 - y) eta; mu is
        # kept above the smallest double so that log(mu) stays finite (|eta| < 708)
        terms = (1 - yb)[:, None] * eta - np.log(np.maximum(mu, _TINY)) + own[rows, None]
        deviance += 2 * np.einsum("ij,ij->j", wb, terms)
        abs_eta = np.abs(eta)
        score += (wb * (yb[:, None] - mu)).T @ xb
        working = wb * mu * (1 - mu)
        if k == 1:
            info[0] += xb.T @ (xb * working)
        else:  # all replicates in one product: (pairs of columns) x (replicates)
            info_upper += (xb[:, upper[0]] * xb[:, upper[1]]).T @ working
        if weights.live is not None:
            abs_eta = abs_eta[weights.live[rows]]
        if abs_eta.size:
            max_eta = np.maximum(max_eta, abs_eta.max(axis=0))
    if k > 1:
        info[:, upper[0], upper[1]] = info_upper.T
        info[:, upper[1], upper[0]] = info_upper.T
    return deviance, score, info, max_eta


def _newton(x, y, weights: _Weights, beta, max_iter) -> _State:
    """Newton's method with step halving for every replicate (rows of ``beta``) at once.

    A replicate stops when its step is below ``STEP_TOLERANCE`` (converged), when its
    deviance is flat while its coefficients still run away with fitted probabilities at
    0 or 1 (separated), or after ``max_iter`` steps (not converged).
    """
    n_rep, p = beta.shape
    own = special.xlogy(y, y) + special.xlogy(1 - y, 1 - y)
    coef = beta.copy()  # last accepted
    trial = beta.copy()  # to evaluate next
    step = np.zeros((n_rep, p))
    deviance = np.full(n_rep, np.inf)
    information = np.zeros((n_rep, p, p))
    iterations = np.zeros(n_rep, dtype=int)
    halvings = np.zeros(n_rep, dtype=int)
    converged = np.zeros(n_rep, dtype=bool)
    separated = np.zeros(n_rep, dtype=bool)
    active = np.arange(n_rep)
    for _ in range(max_iter + 1):
        if active.size == 0:
            break
        dev, score, info, max_eta = _evaluate(x, y, own, weights, trial[active], active)
        previous = deviance[active]
        worse = np.isfinite(previous) & (dev > previous + 1e-12 * np.abs(previous))
        halve = active[worse & (halvings[active] < 30)]
        step[halve] /= 2
        trial[halve] = coef[halve] + step[halve]
        halvings[halve] += 1
        stuck = active[worse & (halvings[active] >= 30)]  # no descent direction: give up
        accept = ~worse
        acc = active[accept]
        flat = (previous[accept] - dev[accept]) <= FLAT_DEVIANCE * (np.abs(dev[accept]) + 0.1)
        coef[acc], deviance[acc], information[acc] = trial[acc], dev[accept], info[accept]
        halvings[acc] = 0
        new_step, singular = _solve_all(info[accept], score[accept])
        size = np.max(np.abs(new_step), axis=1)
        done = ~singular & (size <= STEP_TOLERANCE * (1 + np.max(np.abs(coef[acc]), axis=1)))
        diverging = ~done & (singular | (flat & (size > SEPARATION_STEP)
                                         & (max_eta[accept] > SEPARATION_ETA)))
        converged[acc[done]] = True
        separated[acc[diverging]] = True
        go = acc[~done & ~diverging]
        step[go] = new_step[~done & ~diverging]
        trial[go] = coef[go] + step[go]
        iterations[go] += 1
        ended = np.concatenate([acc[done | diverging], stuck])
        active = np.setdiff1d(active, ended)
    return _State(coef, deviance, information, iterations, converged, separated)


def _solve_all(info, score):
    """Newton steps ``info^-1 score`` per replicate, and which informations are singular."""
    steps = np.zeros_like(score)
    singular = np.zeros(len(score), dtype=bool)
    try:
        steps = np.linalg.solve(info, score[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        for b in range(len(score)):
            try:
                steps[b] = np.linalg.solve(info[b], score[b])
            except np.linalg.LinAlgError:
                singular[b] = True
    singular |= ~np.isfinite(steps).all(axis=1)
    return np.where(singular[:, None], 0.0, steps), singular


def _separation_error(x, w, beta, names) -> ModelError:
    eta = x @ beta
    extreme = int(np.sum((w > 0) & (np.abs(eta) > SEPARATION_ETA)))
    j = int(np.argmax(np.abs(beta) * x.std(0)))
    return ModelError(
        f"the outcome is separated by the covariates: fitted probabilities are numerically "
        f"0 or 1 for {extreme} rows and the coefficients diverge (largest: {names[j]!r} at "
        f"{beta[j]:.3g}); merge sparse levels or drop the separating column"
    )
