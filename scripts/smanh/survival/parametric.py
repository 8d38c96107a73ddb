"""Parametric survival models with delayed entry: Weibull, log-normal, log-logistic and
generalized gamma (intercept only, one fit per stratum).

Location-scale parameterisation on log age, as R ``survreg`` (and ``flexsurv`` for the
generalized gamma): with ``w = (log t - mu) / sigma``

* Weibull: ``S = exp(-e^w)`` (shape ``1/sigma``, scale ``e^mu``),
* log-normal: ``S = 1 - Phi(w)``, log-logistic: ``S = 1 / (1 + e^w)``,
* generalized gamma (Prentice; flexsurv ``gengamma``, lifelines
  ``GeneralizedGammaFitter`` with ``lambda_ = Q``): ``S = 1 - P(Q^-2, Q^-2 e^{Qw})`` for
  ``Q > 0`` (``P`` the regularised lower incomplete gamma), ``P(...)`` for ``Q < 0`` and
  log-normal at ``Q = 0`` (for ``|Q| < 1e-3`` taken linearly in Q between the two, where
  scipy's incomplete gamma is inaccurate); ``Q = 1`` is the Weibull.

Free parameters are ``mu, log_sigma`` (and ``Q``). The left-truncated likelihood is
``sum_events log f(exit) + sum_censored log S(exit) - sum log S(entry)``. Weibull,
log-normal and log-logistic: Newton-Raphson with step halving on the analytic gradient
and Hessian (vectorised), covariance the inverse analytic observed information. The
generalized gamma starts from the Weibull fit (``Q = 1``) and takes Newton steps on
derivatives exact in ``mu`` and ``log_sigma`` (``Q`` by central differences of them),
declaring "no maximum" when ``Q`` drifts outwards over several Newton steps or beyond
``|Q| = 20`` (BFGS only as a last resort); its covariance is the inverse of that
observed information. Survival CIs use the delta method on ``log(-log S)``.
Log-likelihoods are on the age scale (they include the ``-log t`` Jacobian), as
``survreg``, ``flexsurv`` and lifelines report them.

Validation (tests/test_parametric.py): ``survreg`` without truncation (R has no left
truncation in ``survreg``; ``flexsurv`` is not packaged for Debian), lifelines' fitters
with ``entry=`` under truncation, and recovery of a known Weibull truth under truncation.

Examples
--------
>>> fit = fit_parametric([0, 0, 1, 0, 2, 0], [1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], "weibull")
>>> sorted(fit.params)
['log_sigma', 'mu']
>>> fit.survival([1.0, 10.0]).columns.tolist()
['age', 'surv', 'lo', 'hi']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from smanh.errors import ModelError
from smanh.survival.followup import check_follow_up

__all__ = ["DISTRIBUTIONS", "ParametricFit", "fit_parametric", "fit_all", "aic_table"]

DISTRIBUTIONS = ("weibull", "lognormal", "loglogistic", "gengamma")
_PARAMS = {d: ["mu", "log_sigma"] for d in DISTRIBUTIONS[:3]} | {
    "gengamma": ["mu", "log_sigma", "Q"]
}


_LOG_SQRT_2PI = float(np.log(np.sqrt(2 * np.pi)))
# A generalized gamma whose Newton steps end beyond |Q| = 20 unconverged is on a ridge
# towards Q -> +-infinity: no maximum-likelihood estimate exists.
_Q_RIDGE = 20.0
# ... and one whose Q moves outwards beyond |Q| = 3 by steps that do not shrink, over
# several Newton steps, is on such a ridge too (see _drifting).
_Q_DRIFT = 3.0
_GG_MAX_ITER = 60
# Beyond these the fit describes no cohort of ages between days and a century (|mu| > 20:
# a time scale e^20 years or e^-20 years; sigma > e^3 = 20 on the log-age scale: a Weibull
# shape below 0.05): it is heading for a boundary of the family (e.g. a hazard ~ 1/age,
# which pooled strata with late entry can favour), where the likelihood keeps rising but
# has no maximum.
_MU_LIMIT = 20.0
_LOG_SIGMA_LIMIT = 3.0
# Near Q = 0 the incomplete gamma function at shape Q^-2 (10^6 and more) loses accuracy in
# scipy (a log-likelihood off by 1.5 at |Q| = 1e-6, measured), and Newton steps stall in the
# noise. For |Q| < _Q_SMALL the generalized gamma is taken linearly in Q between its limit,
# the log-normal (Q = 0), and Q = +-_Q_SMALL: the likelihood is smooth in Q, so that differs
# from the exact one by about curvature * Q (_Q_SMALL - Q) / 2 (2e-4 on 1,800 events).
_Q_SMALL = 1e-3


def _q_edge(theta: np.ndarray) -> np.ndarray:
    """``theta`` with Q moved out to +-_Q_SMALL (its sign kept)."""
    return np.array([theta[0], theta[1], np.copysign(_Q_SMALL, theta[2])])


def _blend(q: float, at_limit, at_edge):
    """The interpolation in Q described at _Q_SMALL."""
    share = abs(q) / _Q_SMALL
    return (1 - share) * at_limit + share * at_edge


def _near_zero_q(function, dist: str, theta: np.ndarray, *args):
    """``function(dist, theta, *args)`` for ``|Q| < _Q_SMALL``."""
    return _blend(theta[2], function("lognormal", theta[:2], *args), function(dist, _q_edge(theta), *args))


# --------------------------------------------------------------------------- densities
def _log_surv(dist: str, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    w = (np.log(t) - theta[0]) / np.exp(theta[1])
    if dist == "weibull":
        return -np.exp(w)
    if dist == "loglogistic":
        return -np.logaddexp(0.0, w)
    if dist == "lognormal":
        return special.log_ndtr(-w)
    if abs(theta[2]) < _Q_SMALL:
        return _near_zero_q(_log_surv, dist, theta, t)
    q = theta[2]
    a = q**-2
    u = a * np.exp(q * w)
    with np.errstate(divide="ignore"):
        return np.log(upper_gamma_q(a, u) if q > 0 else special.gammainc(a, u))


def _log_dens(dist: str, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    log_t = np.log(t)
    w = (log_t - theta[0]) / np.exp(theta[1])
    jac = -theta[1] - log_t  # d w / d t = 1 / (sigma t)
    if dist == "weibull":
        return w - np.exp(w) + jac
    if dist == "loglogistic":
        return w - 2 * np.logaddexp(0.0, w) + jac
    if dist == "lognormal":
        return -(w**2) / 2 - _LOG_SQRT_2PI + jac
    if abs(theta[2]) < _Q_SMALL:
        return _near_zero_q(_log_dens, dist, theta, t)
    q = theta[2]
    a = q**-2
    return np.log(abs(q)) + a * np.log(a) - special.gammaln(a) + a * (q * w - np.exp(q * w)) + jac


def _loglik(dist, theta, entry, exit_, status) -> float:
    ll = _log_dens(dist, theta, exit_[status]).sum() + _log_surv(dist, theta, exit_[~status]).sum()
    truncated = entry > 0
    ll -= _log_surv(dist, theta, entry[truncated]).sum()
    return float(ll) if np.isfinite(ll) else -np.inf


# --------------------------------------------------------------------------- analytic
def _phi(dist: str, w: np.ndarray, kind: str):
    """``(phi, phi', phi'')`` in ``w`` of ``log f0`` (kind "dens") or ``log S0`` ("surv")
    of the standard Weibull (extreme value), normal and logistic distributions."""
    if dist == "weibull":
        e = np.exp(w)
        if kind == "dens":
            return w - e, 1 - e, -e
        return -e, -e, -e
    if dist == "loglogistic":
        prob = special.expit(w)
        if kind == "dens":
            return w - 2 * np.logaddexp(0.0, w), 1 - 2 * prob, -2 * prob * (1 - prob)
        return -np.logaddexp(0.0, w), -prob, -prob * (1 - prob)
    if kind == "dens":  # lognormal
        return -(w**2) / 2 - _LOG_SQRT_2PI, -w, -np.ones_like(w)
    log_s = special.log_ndtr(-w)
    hazard = np.exp(-(w**2) / 2 - _LOG_SQRT_2PI - log_s)
    return log_s, -hazard, -hazard * (hazard - w)


@dataclass(frozen=True)
class _Sample:
    """The three parts of the left-truncated likelihood (``log f(exit)`` of events,
    ``log S(exit)`` of censored subjects, ``-log S(entry)`` of late entries), each as the
    distinct log ages with their multiplicities. Ages come from dates (whole days), so a
    large registry repeats each age many times (100,000 subjects: about 20,000 distinct
    ages): every distinct age is evaluated once, and counted as often as it occurs."""

    parts: tuple[tuple[np.ndarray, np.ndarray, str, float], ...]

    @classmethod
    def of(cls, entry, exit_, status) -> "_Sample":
        def distinct(ages):
            values, counts = np.unique(ages, return_counts=True)
            return np.log(values), counts.astype(float)

        return cls((
            (*distinct(exit_[status]), "dens", 1.0),
            (*distinct(exit_[~status]), "surv", 1.0),
            (*distinct(entry[entry > 0]), "surv", -1.0),
        ))


def _loglik_derivatives(dist, theta, sample: _Sample):
    """Log-likelihood, gradient and Hessian in ``(mu, log_sigma)`` (closed forms)."""
    mu, log_sigma = theta
    ll, grad, hess = _location_scale_derivatives(
        lambda w, kind: _phi(dist, w, kind), mu, log_sigma, sample
    )
    return (-np.inf if not np.isfinite(ll) else ll), grad, hess


def _location_scale_derivatives(phi, mu, log_sigma, sample: _Sample):
    """Log-likelihood with left truncation of a location-scale model on log age, and its
    gradient and Hessian in ``(mu, log_sigma)``, from ``phi(w, kind)`` = (log f or log S of
    the standardised residual ``w``, and its first two derivatives in ``w``)."""
    sigma = np.exp(log_sigma)
    ll, grad, hess = 0.0, np.zeros(2), np.zeros((2, 2))
    for y, n, kind, sign in sample.parts:
        if y.size == 0:
            continue
        w = (y - mu) / sigma
        f, d1, d2 = phi(w, kind)
        d1w = d1 * w
        ll += sign * (n @ f)
        grad += sign * np.array([-(n @ d1) / sigma, -(n @ d1w)])
        h_mm = (n @ d2) / sigma**2
        h_ms = (n @ (d2 * w + d1)) / sigma
        h_ss = n @ ((d2 * w + d1) * w)
        hess += sign * np.array([[h_mm, h_ms], [h_ms, h_ss]])
        if kind == "dens":  # Jacobian -log sigma - log t of the density on the age scale
            ll -= n.sum() * log_sigma + n @ y
            grad[1] -= n.sum()
    return float(ll), grad, hess


def _fit_closed_form(dist, entry, exit_, status, start, max_iter=200):
    """Newton-Raphson with step halving on the analytic derivatives; gradient ascent
    steps where the Hessian is not negative definite (far from the maximum)."""
    sample = _Sample.of(entry, exit_, status)
    theta = np.asarray(start, float)
    ll, grad, hess = _loglik_derivatives(dist, theta, sample)
    outside = 0  # consecutive iterations outside the region of real ages
    for _ in range(max_iter):
        try:
            np.linalg.cholesky(-hess)
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            step = grad / max(1.0, np.abs(grad).max())
        for _ in range(60):
            new = theta + step
            ll_new, grad_new, hess_new = _loglik_derivatives(dist, new, sample)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        else:
            break
        converged = np.max(np.abs(step)) < 1e-10 or abs(ll_new - ll) <= 1e-15 * abs(ll)
        theta, ll, grad, hess = new, ll_new, grad_new, hess_new
        outside = outside + 1 if _outside(theta) else 0
        if outside >= 5:  # not an excursion: a way out to the boundary
            break
        if converged and np.max(np.abs(grad)) < 1e-6 * max(1.0, len(exit_) ** 0.5):
            break
    _check_bounded(dist, theta, status)
    return theta, ll, hess


def _outside(theta) -> bool:
    return abs(theta[0]) > _MU_LIMIT or theta[1] > _LOG_SIGMA_LIMIT


def _check_bounded(dist, theta, status) -> None:
    """A :class:`ModelError` where ``mu`` or ``sigma`` are outside the region of real ages."""
    if _outside(theta):
        which = f"mu = {theta[0]:.3g}" if abs(theta[0]) > _MU_LIMIT else f"sigma = {np.exp(theta[1]):.3g}"
        raise ModelError(
            f"{dist} fit has no maximum ({int(status.sum())} events): the likelihood keeps "
            f"rising towards a limit of the family ({which}; e.g. a hazard ~ 1/age, in "
            "pooled strata with late entry); see the other distributions"
        )


# --------------------------------------------------------------------------- gengamma
def _phi_gengamma(w: np.ndarray, q: float, kind: str):
    """``(phi, phi', phi'')`` in ``w`` of ``log f0`` or ``log S0`` of the standardised
    generalized gamma with shape ``q != 0`` (Prentice): ``u = q^-2 e^{qw}``."""
    a = q**-2
    qw = q * w
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(qw)
        if kind == "dens":
            f = np.log(abs(q)) + a * np.log(a) - special.gammaln(a) + a * (qw - e)
            return f, (1 - e) / q, -e
        u = a * e
        s = upper_gamma_q(a, u) if q > 0 else special.gammainc(a, u)
        log_s = np.log(s)
        # d log S / dw = -|q| u^a e^-u / (Gamma(a) S)
        d1 = -abs(q) * np.exp(a * np.log(u) - u - special.gammaln(a) - log_s)
        d2 = d1 * ((a - u) * q - d1)
    return log_s, d1, d2


def upper_gamma_q(a: float, u: np.ndarray) -> np.ndarray:
    """``Q(a, u) = Gamma(a, u) / Gamma(a)`` (``scipy.special.gammaincc``) for one shape
    ``a`` and many ``u``. For ``a < 1`` and ``u <= 1.1`` by the series scipy itself uses
    there (DLMF 8.7.3: ``Q = -expm1(a log u - lgam1p(a)) - u^a / Gamma(a) *
    sum_{n>=1} (-u)^n / (n! (a + n))``), but vectorised over ``u``: scipy evaluates it
    element by element at 1-3 us each, which was most of a generalized gamma fit with
    |Q| > 1. Accuracy as scipy's (tests/test_parametric.py: against mpmath, within 1e-14)."""
    if a >= 1:
        return special.gammaincc(a, u)
    u = np.asarray(u, dtype=float)
    q = np.empty_like(u)
    series = u <= 1.1  # False for NaN
    q[~series] = special.gammaincc(a, u[~series])
    x = u[series]
    factor, total = np.ones_like(x), np.zeros_like(x)
    for n in range(1, 100):
        factor *= -x / n
        term = factor / (a + n)
        total += term
        if np.all(np.abs(term) <= 1.1e-16 * np.abs(total)):
            break
    with np.errstate(divide="ignore"):  # u = 0: Q = 1
        a_log_x = a * np.log(x)
    q[series] = -np.expm1(a_log_x - _lgam1p(a)) - np.exp(a_log_x - special.gammaln(a)) * total
    return q


# log Gamma(1 + a) = -euler_gamma a + sum_k (-1)^k zeta(k) a^k / k (|a| < 1): exact to the
# last bit for small a, where gammaln(1 + a) loses the digits of a to the rounding of 1 + a.
_LGAM1P_SERIES = np.array([(-1) ** k * special.zeta(k) / k for k in range(2, 60)])


def _lgam1p(a: float) -> float:
    if a >= 0.5:
        return float(special.gammaln(1.0 + a))
    powers = a ** np.arange(2, 60)
    return float(-np.euler_gamma * a + _LGAM1P_SERIES @ powers)


def _gengamma_mls(theta, sample: _Sample):
    """Log-likelihood, gradient and Hessian in ``(mu, log_sigma)`` at fixed ``Q``."""
    mu, log_sigma, q = theta
    if abs(q) < _Q_SMALL:  # see _Q_SMALL
        limit = _loglik_derivatives("lognormal", theta[:2], sample)
        edge = _gengamma_mls(_q_edge(theta), sample)
        if not (np.isfinite(limit[0]) and np.isfinite(edge[0])):
            return -np.inf, limit[1], limit[2]
        return tuple(_blend(q, a, b) for a, b in zip(limit, edge))
    ll, grad, hess = _location_scale_derivatives(
        lambda w, kind: _phi_gengamma(w, q, kind), mu, log_sigma, sample
    )
    if not (np.isfinite(ll) and np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
        return -np.inf, grad, hess
    return float(ll), grad, hess


def _gengamma_derivatives(theta, sample: _Sample):
    """Log-likelihood, gradient and Hessian in ``(mu, log_sigma, Q)``: exact in ``mu`` and
    ``log_sigma``; in ``Q`` central differences of the exact ones (three evaluations)."""
    ll, g2, h2 = _gengamma_mls(theta, sample)
    q = theta[2]
    step = 1e-4 * max(1.0, abs(q))
    if abs(q) < 2 * step:  # keep both sides of the difference on one side of Q = 0
        step = max(abs(q) / 2, 1e-7) if q != 0 else 1e-4
    up = theta + np.array([0.0, 0.0, step])
    down = theta - np.array([0.0, 0.0, step])
    ll_up, g_up, _ = _gengamma_mls(up, sample)
    ll_down, g_down, _ = _gengamma_mls(down, sample)
    grad = np.append(g2, (ll_up - ll_down) / (2 * step))
    hess = np.zeros((3, 3))
    hess[:2, :2] = h2
    hess[:2, 2] = hess[2, :2] = (g_up - g_down) / (2 * step)
    hess[2, 2] = (ll_up - 2 * ll + ll_down) / step**2
    ok = np.isfinite(ll) and np.isfinite(ll_up) and np.isfinite(ll_down)
    return (ll if ok else -np.inf), grad, hess


# --------------------------------------------------------------------------- fitting
@dataclass
class ParametricFit:
    """A fitted parametric survival distribution (age scale, years).

    Attributes
    ----------
    dist : str
    params : dict of str to float
        ``mu``, ``log_sigma`` (and ``Q``).
    vcov : ndarray
        Covariance of the free parameters (inverse observed information).
    loglik, aic, bic : float
        BIC uses the number of subjects.
    n, n_events : int
    """

    dist: str
    params: dict[str, float]
    vcov: np.ndarray
    loglik: float
    n: int
    n_events: int

    @property
    def theta(self) -> np.ndarray:
        return np.array(list(self.params.values()))

    @property
    def se(self) -> dict[str, float]:
        return dict(zip(self.params, np.sqrt(np.diag(self.vcov))))

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.n) * self.n_params

    def median(self) -> float:
        """Age at which model survival is 0.5: ``exp(mu + sigma w)`` with ``w`` the median
        of the standardised distribution (log log 2 for the Weibull, 0 for the symmetric
        log-normal and log-logistic, ``log(u / a) / Q`` with ``u`` the incomplete gamma
        function's inverse at 0.5 for the generalized gamma; near ``Q = 0``, where the
        likelihood is interpolated, the root of that same survival function). NaN beyond
        e^20 years either way."""
        mu, log_sigma = self.theta[:2]
        if self.dist == "gengamma" and abs(self.theta[2]) < _Q_SMALL:
            from scipy import optimize  # a slow import, needed only here

            f = lambda log_t: _log_surv(self.dist, self.theta, np.exp([log_t]))[0] + np.log(2.0)  # noqa: E731
            log_t = optimize.brentq(f, -20.0, 20.0, xtol=1e-12) if f(-20.0) > 0 > f(20.0) else np.nan
        else:
            w = {"weibull": np.log(np.log(2.0)), "lognormal": 0.0, "loglogistic": 0.0}.get(self.dist)
            if w is None:
                q = self.theta[2]
                a = q**-2
                u = special.gammainccinv(a, 0.5) if q > 0 else special.gammaincinv(a, 0.5)
                w = np.log(u / a) / q
            log_t = mu + np.exp(log_sigma) * w
        return float(np.exp(log_t)) if abs(log_t) < 20.0 else float("nan")

    def conditional_survival(self, ages, from_age: float, confidence_level: float = 0.95) -> pd.DataFrame:
        """Model survival at ``ages`` (>= ``from_age``) given event-free at ``from_age``:
        ``S(t) / S(from_age)``, pointwise CIs by the delta method on ``log(H(t) - H(from_age))``
        (``H = -log S``), central differences in the parameters; ``from_age = 0`` gives
        :meth:`survival`.

        Examples
        --------
        >>> fit = fit_parametric(None, [1, 2, 3, 4, 5], [1, 1, 1, 0, 1], "weibull")
        >>> bool(np.isclose(fit.conditional_survival([3.0], 2.0).surv[0],
        ...                 fit.survival([3.0]).surv[0] / fit.survival([2.0]).surv[0]))
        True
        """
        if from_age <= 0:
            return self.survival(ages, confidence_level)
        ages = np.asarray(ages, float)
        if np.any(ages < from_age):
            raise ModelError(f"conditional survival is defined from age {from_age} on")
        z = special.ndtri(0.5 + confidence_level / 2)
        theta = self.theta

        def log_cum_hazard(th):
            with np.errstate(divide="ignore"):
                return np.log(_log_surv(self.dist, th, np.array([from_age]))[0] - _log_surv(self.dist, th, ages))

        value = log_cum_hazard(theta)
        grad = np.empty((len(ages), len(theta)))
        for i in range(len(theta)):
            e = np.zeros_like(theta)
            e[i] = 1e-5 * max(1.0, abs(theta[i]))
            grad[:, i] = (log_cum_hazard(theta + e) - log_cum_hazard(theta - e)) / (2 * e[i])
        se = np.sqrt(np.einsum("ij,jk,ik->i", grad, self.vcov, grad))
        surv = np.exp(-np.exp(value))
        lower, upper = np.exp(-np.exp(value + z * se)), np.exp(-np.exp(value - z * se))
        return pd.DataFrame({"age": ages, "surv": surv, "lo": lower, "hi": upper})

    def conditional_median(self, from_age: float) -> float:
        """Age by which half of those event-free at ``from_age`` have had the event:
        ``S(t) = S(from_age) / 2``, by bisection on log age; NaN beyond e^20 years."""
        if from_age <= 0:
            return self.median()
        target = _log_surv(self.dist, self.theta, np.array([from_age]))[0] - np.log(2.0)
        low, high = np.log(from_age), 20.0
        if _log_surv(self.dist, self.theta, np.exp([high]))[0] > target:
            return float("nan")
        for _ in range(200):  # log S decreases in age: halve the bracket of the root
            middle = (low + high) / 2
            if _log_surv(self.dist, self.theta, np.exp([middle]))[0] > target:
                low = middle
            else:
                high = middle
            if high - low < 1e-13:
                break
        return float(np.exp((low + high) / 2))

    def survival(self, ages, confidence_level: float = 0.95) -> pd.DataFrame:
        """Model survival from age 0 at ``ages`` (any ages: extrapolation is allowed).

        Pointwise CIs by the delta method on ``log(-log S)``, which keeps them in (0, 1).

        Examples
        --------
        >>> fit = fit_parametric(None, [1, 2, 3, 4, 5], [1, 1, 1, 0, 1], "lognormal")
        >>> fit.survival([0.5, 20]).surv.round(3).tolist()
        [0.995, 0.002]
        """
        ages = np.asarray(ages, float)
        if np.any(ages <= 0):
            raise ModelError("survival ages must be positive")
        z = special.ndtri(0.5 + confidence_level / 2)
        theta = self.theta
        value = np.log(-_log_surv(self.dist, theta, ages))
        if self.dist == "gengamma":  # central differences, all ages at once
            grad = np.empty((len(ages), len(theta)))
            for i in range(len(theta)):
                e = np.zeros_like(theta)
                e[i] = 1e-5 * max(1.0, abs(theta[i]))
                grad[:, i] = (
                    np.log(-_log_surv(self.dist, theta + e, ages))
                    - np.log(-_log_surv(self.dist, theta - e, ages))
                ) / (2 * e[i])
        else:  # d log(-log S0(w)) = (log S0)'(w) / log S0(w) dw, dw = (-1/sigma, -w)
            w = (np.log(ages) - theta[0]) / np.exp(theta[1])
            log_s, d1, _ = _phi(self.dist, w, "surv")
            ratio = d1 / log_s
            grad = np.column_stack([-ratio / np.exp(theta[1]), -ratio * w])
        se = np.sqrt(np.einsum("ij,jk,ik->i", grad, self.vcov, grad))
        surv = np.exp(-np.exp(value))
        # larger log(-log S) means lower survival
        lower, upper = np.exp(-np.exp(value + z * se)), np.exp(-np.exp(value - z * se))
        return pd.DataFrame({"age": ages, "surv": surv, "lo": lower, "hi": upper})


def fit_parametric(entry, exit, event, dist: str = "weibull", start=None) -> ParametricFit:
    """Maximum-likelihood fit of one distribution to ``(entry, exit]`` data.

    Parameters
    ----------
    entry : array_like or None
        Age at start of observation (left truncation); ``None`` or 0 means from birth.
    exit : array_like
        Age at event or censoring, ``exit > entry``.
    event : array_like
        ``event == 1`` (or True) is an event; other codes censor.
    dist : {"weibull", "lognormal", "loglogistic", "gengamma"}
    start : array_like, optional
        Starting parameters (for the generalized gamma: ``mu, log_sigma`` of a Weibull
        fit to the same data, which saves refitting it).

    Returns
    -------
    ParametricFit

    Examples
    --------
    >>> fit = fit_parametric(None, [1, 2, 3, 4, 5], [1, 1, 1, 0, 1], "weibull")
    >>> round(fit.params["mu"], 3)
    1.309
    """
    if dist not in DISTRIBUTIONS:
        raise ModelError(f"unknown distribution {dist!r}; choose one of {DISTRIBUTIONS}")
    entry, exit_, status = _check(entry, exit, event)
    nll = lambda th: -_loglik(dist, th, entry, exit_, status)  # noqa: E731
    if dist == "gengamma":
        theta, hess = _fit_gengamma(entry, exit_, status, start)
        hess = -hess
    else:
        start = _start(dist, entry, exit_, status) if start is None else start
        theta, _, hess = _fit_closed_form(dist, entry, exit_, status, start)
        hess = -hess
    try:
        vcov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        vcov = None
    if vcov is None or not np.all(np.isfinite(vcov)) or np.any(np.diag(vcov) <= 0):
        raise ModelError(
            f"{dist} fit did not converge to a maximum ({int(status.sum())} events): "
            "the likelihood is flat or unbounded; too few events for this model"
        )
    params = dict(zip(_PARAMS[dist], map(float, theta)))
    return ParametricFit(dist, params, vcov, -nll(theta), len(exit_), int(status.sum()))


def _start(dist, entry, exit_, status) -> np.ndarray:
    """Log-time moments (location-scale families)."""
    log_t = np.log(exit_)
    return np.array([log_t.mean() + 0.5, np.log(max(log_t.std(), 0.1))])


_GG_FALLBACK_ITER = 100


def _fit_gengamma(entry, exit_, status, weibull_theta=None):
    """Newton-Raphson from the Weibull fit (``Q = 1``) on :func:`_gengamma_derivatives`,
    with step halving and a shifted Hessian where it is not negative definite. Returns
    ``theta`` and the Hessian of the log-likelihood there.

    On a ridge (typically pooled strata of different shapes) the likelihood keeps rising
    as ``|Q|`` grows: Newton's steps then all move ``Q`` the same way without shrinking as
    they do near a maximum. Several such steps beyond ``|Q| = _Q_DRIFT`` end the fit with
    a :class:`ModelError` ("no maximum"), as does ``|Q| > _Q_RIDGE``."""
    if weibull_theta is None:
        try:
            weibull_theta = fit_parametric(entry, exit_, status, "weibull").theta
        except ModelError:  # no Weibull maximum: start from the log-age moments
            weibull_theta = _start("weibull", entry, exit_, status)
    sample = _Sample.of(entry, exit_, status)
    derivs = lambda th: _gengamma_derivatives(th, sample)  # noqa: E731
    theta = np.append(np.asarray(weibull_theta, float)[:2], 1.0)
    ll, grad, hess = derivs(theta)
    tol = 1e-6 * max(1.0, len(exit_) ** 0.5)
    q_steps: list[float] = []
    converged = False
    outside = 0  # as in _fit_closed_form
    for _ in range(_GG_MAX_ITER):
        if not np.all(np.isfinite(grad)) or not np.all(np.isfinite(hess)):
            break
        info = -hess
        lowest = np.linalg.eigvalsh(info)[0]
        if lowest <= 0:  # modified Newton far from the maximum
            info = info + (1e-3 * max(1.0, np.abs(info).max()) - lowest) * np.eye(3)
        step = np.linalg.solve(info, grad)
        # the Newton step in Q; 0 where the Hessian was shifted or the step capped
        q_steps.append(step[2] if lowest > 0 and np.abs(step).max() <= 2.0 else 0.0)
        if np.abs(step).max() > 2.0:  # no leaps into overflow
            step = step * (2.0 / np.abs(step).max())
        for _ in range(40):
            new = theta + step
            ll_new, grad_new, hess_new = derivs(new)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        else:
            break
        small = np.abs(step).max() < 1e-10 or abs(ll_new - ll) <= 1e-14 * abs(ll)
        theta, ll, grad, hess = new, ll_new, grad_new, hess_new
        outside = outside + 1 if _outside(theta) else 0
        if outside >= 5:
            break
        if np.abs(grad).max() < tol and (small or np.linalg.eigvalsh(-hess)[0] > 0):
            converged = True
            break
        if _drifting(theta[2], q_steps) or abs(theta[2]) > _Q_RIDGE:
            raise ModelError(
                f"gengamma fit has no maximum ({int(status.sum())} events): the likelihood "
                f"keeps rising as Q moves beyond {theta[2]:.1f} (a limit of the family, "
                "e.g. pooled strata of different shapes); see the other distributions"
            )
    _check_bounded("gengamma", theta, status)
    if not converged:
        from scipy import optimize  # a slow import, needed only here

        def objective(th):  # value and gradient from one pass over the distinct ages
            value, gradient, _ = derivs(th)
            return -value, -gradient

        # Bounded: each iteration costs a pass over every distinct age.
        res = optimize.minimize(objective, theta, jac=True, method="BFGS",
                                options={"gtol": tol, "maxiter": _GG_FALLBACK_ITER})
        if not res.success:
            raise ModelError(
                f"gengamma fit did not converge ({int(status.sum())} events; Newton, then "
                f"{_GG_FALLBACK_ITER} BFGS iterations, ended at Q = {res.x[2]:.2f}); see the "
                "other distributions"
            )
        theta = res.x
        _check_bounded("gengamma", theta, status)
        ll, grad, hess = derivs(theta)
    return theta, hess


def _drifting(q: float, q_steps: list[float], run: int = 6) -> bool:
    """Whether Newton's steps in ``Q`` pointed outwards (away from 0) ``run`` times in a
    row, none less than 0.8 times the one before, with ``|Q| > _Q_DRIFT``. Near a maximum
    Newton's steps shrink quadratically; on a ridge ``l(Q) ~ c - k / Q`` they are about
    ``Q / 2`` and grow, on a plateau in ``Q`` they shrink only linearly, slowly. Steps on
    a shifted (not negative definite) Hessian and capped steps are recorded as 0 and
    break the run."""
    if abs(q) <= _Q_DRIFT or len(q_steps) < run:
        return False
    last = np.array(q_steps[-run:])
    outward = bool(np.all(np.sign(last) == np.sign(q)) and np.all(last != 0))
    return outward and bool(np.all(np.abs(last[1:]) >= 0.8 * np.abs(last[:-1])))


def _check(entry, exit_, event):
    entry, exit_, event = check_follow_up(entry, exit_, event)
    if np.any(entry < 0):
        raise ModelError("entry must be >= 0: the models are on the (log) age scale")
    status = event if event.dtype == bool else event == 1
    if status.sum() < 2:
        raise ModelError(f"{int(status.sum())} events: a parametric fit needs at least 2")
    return entry, exit_, np.asarray(status, bool)


def fit_all(entry, exit, event, dists=DISTRIBUTIONS) -> list[ParametricFit]:
    """Fit several distributions (a :class:`ModelError` names the one that failed)."""
    fits: list[ParametricFit] = []
    for dist in dists:
        weibull = [f.theta for f in fits if f.dist == "weibull"]
        start = weibull[0] if dist == "gengamma" and weibull else None
        fits.append(fit_parametric(entry, exit, event, dist, start))
    return fits


def aic_table(fits: list[ParametricFit]) -> pd.DataFrame:
    """``dist, k, loglik, aic, bic, delta_aic`` sorted by AIC (best first).

    Examples
    --------
    >>> fits = fit_all(None, [1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1], ["weibull", "lognormal"])
    >>> aic_table(fits).columns.tolist()
    ['dist', 'k', 'loglik', 'aic', 'bic', 'delta_aic']
    """
    table = pd.DataFrame(
        [{"dist": f.dist, "k": f.n_params, "loglik": f.loglik, "aic": f.aic, "bic": f.bic}
         for f in fits]
    ).sort_values("aic", ignore_index=True)
    table["delta_aic"] = table["aic"] - table["aic"].min()
    return table
