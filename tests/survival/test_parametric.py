"""Parametric fits. References: R survreg 3.5-3 without truncation (survreg has no left
truncation and flexsurv is not packaged for Debian); lifelines 0.30.3 fitters with
``entry=`` under truncation; recovery of a known Weibull truth under truncation."""

import warnings

import lifelines
import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.parametric import aic_table, fit_all, fit_parametric

SURVIVAL = FIXTURES / "survival"
REL = 1e-4
LIFELINES = {"weibull": lifelines.WeibullFitter, "lognormal": lifelines.LogNormalFitter,
             "loglogistic": lifelines.LogLogisticFitter,
             "gengamma": lifelines.GeneralizedGammaFitter}


def load(name):
    return pd.read_csv(SURVIVAL / f"{name}.csv")


@pytest.mark.parametrize("name", ["small", "sim"])
def test_matches_survreg_without_truncation(name):
    data = load(name)
    for _, ref in pd.read_csv(SURVIVAL / name / "survreg.csv").iterrows():
        fit = fit_parametric(None, data.exit, data.event, ref.dist)
        np.testing.assert_allclose([fit.params["mu"], fit.params["log_sigma"]],
                                   [ref.mu, ref.log_sigma], rtol=REL)
        np.testing.assert_allclose([fit.se["mu"], fit.se["log_sigma"], fit.vcov[0, 1]],
                                   [ref.se_mu, ref.se_log_sigma, ref["cov"]], rtol=REL)
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-8)


@pytest.mark.parametrize("dist", list(LIFELINES))
def test_matches_lifelines_with_delayed_entry(dist):
    data = load("sim")
    fit = fit_parametric(data.entry, data.exit, data.event, dist)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LIFELINES[dist]().fit(data.exit, data.event == 1, entry=data.entry)
    # lifelines stops its optimiser earlier: ours is at least as high, within 1e-6
    assert ref.log_likelihood_ - 1e-9 <= fit.loglik <= ref.log_likelihood_ + 1e-6
    ages = [0.5, 1, 2, 5, 10, 20, 40]
    np.testing.assert_allclose(fit.survival(ages).surv, ref.survival_function_at_times(ages),
                               atol=2e-5)
    if dist == "gengamma":  # same parameterisation (lambda_ = Q, ln_sigma_)
        np.testing.assert_allclose(fit.theta, ref.params_.to_numpy(), rtol=1e-3)
        np.testing.assert_allclose(list(fit.se.values()), ref.summary["se(coef)"], rtol=1e-3)


def test_recovers_weibull_truth_under_truncation():
    rng = np.random.default_rng(7)
    n = 4000
    t = 6.0 * rng.weibull(1.5, size=3 * n)
    entry = rng.uniform(0, 4, size=3 * n)
    seen = t > entry  # left truncation
    t, entry = t[seen][:n], entry[seen][:n]
    censor = entry + rng.uniform(0, 10, size=n)
    exit_, event = np.minimum(t, censor), (t <= censor).astype(int)
    fit = fit_parametric(entry, exit_, event, "weibull")
    truth = {"mu": np.log(6.0), "log_sigma": np.log(1 / 1.5)}
    for key, value in truth.items():
        assert abs(fit.params[key] - value) < 4 * fit.se[key]
    naive = fit_parametric(None, exit_, event, "weibull")  # ignoring truncation is biased
    assert abs(naive.params["mu"] - truth["mu"]) > 4 * naive.se["mu"]
    # the generalized gamma nests the Weibull at Q = 1
    gg = fit_parametric(entry, exit_, event, "gengamma")
    assert abs(gg.params["Q"] - 1.0) < 4 * gg.se["Q"]
    assert gg.loglik >= fit.loglik - 1e-6


def test_survival_ci_and_aic_table():
    data = load("sim")
    fits = fit_all(data.entry, data.exit, data.event)
    table = aic_table(fits)
    assert table.dist.tolist()[0] == table.loc[table.aic.idxmin(), "dist"]
    assert set(table.dist) == {"weibull", "lognormal", "loglogistic", "gengamma"}
    curve = fits[0].survival([1, 5, 30, 60])  # 30 and 60: extrapolation
    assert np.all(curve.lo < curve.surv) and np.all(curve.surv < curve.hi)
    assert np.all(np.diff(curve.surv) < 0)


def test_errors():
    with pytest.raises(ModelError, match="unknown distribution"):
        fit_parametric(None, [1, 2], [1, 1], "gompertz")
    with pytest.raises(ModelError, match="at least 2"):
        fit_parametric(None, [1, 2, 3], [1, 0, 0], "weibull")
    with pytest.raises(ModelError, match="later than entry"):
        fit_parametric([2, 0], [1, 2], [1, 1], "weibull")


@pytest.mark.parametrize("dist", ["weibull", "lognormal", "loglogistic"])
def test_no_maximum_at_a_boundary_of_the_family_is_an_error(dist):
    """Late entrants with a hazard 0.5 / age (Pareto from entry): the likelihood of these
    families rises without bound towards mu -> -infinity; a fit must say so rather than
    report the parameters where the iterations stopped."""
    rng = np.random.default_rng(3)
    entry = rng.uniform(1, 10, 3000)
    exit_ = entry * rng.random(3000) ** (-1 / 0.5)
    event = exit_ <= entry + 5
    with pytest.raises(ModelError, match="no maximum.*limit of the family"):
        fit_parametric(entry, np.minimum(exit_, entry + 5), event, dist)


def test_gengamma_is_smooth_and_fits_near_q_zero():
    """Near Q = 0 (log-normal) scipy's incomplete gamma at shape Q^-2 is inaccurate; the
    likelihood must still be smooth there, and a log-normal sample must fit without
    stalling (it used to end 'did not converge' after 100 BFGS steps)."""
    from smanh.survival.parametric import _loglik

    rng = np.random.default_rng(11)
    entry = rng.uniform(0, 5, 4000)
    exit_ = np.exp(rng.normal(2.5, 0.6, 4000))
    keep = exit_ > entry
    entry, exit_ = entry[keep], exit_[keep]
    event = exit_ < entry + 15
    exit_ = np.minimum(exit_, entry + 15)
    theta = [2.5, np.log(0.6)]
    limit = _loglik("lognormal", np.array(theta), entry, exit_, event)
    for q in (1e-9, 1e-7, 1e-6, 1e-5, -1e-6):
        assert _loglik("gengamma", np.array([*theta, q]), entry, exit_, event) == pytest.approx(limit, abs=0.05)
    fit = fit_parametric(entry, exit_, event, "gengamma")
    assert abs(fit.params["Q"]) < 0.3 and fit.params["mu"] == pytest.approx(2.5, abs=0.1)


def test_upper_gamma_q_against_mpmath():
    """The vectorised series behind the generalized gamma's survival function, against
    40-digit mpmath values (tests/fixtures/parametric/make_upper_gamma.py); scipy's
    element-wise gammaincc, which it replaces for u <= 1.1, is held to the same bound."""
    from scipy import special

    from smanh.survival.parametric import upper_gamma_q

    ref = pd.read_csv(FIXTURES / "parametric" / "upper_gamma_mpmath.csv",
                      float_precision="round_trip")
    ours = np.array([upper_gamma_q(a, np.array([u]))[0] for a, u in zip(ref["a"], ref["u"])])
    assert (ref["u"] <= 1.1).sum() >= 400  # most points on the series
    assert np.max(np.abs(ours / ref["q"] - 1)) < 1e-14
    assert np.max(np.abs(special.gammaincc(ref["a"], ref["u"]) / ref["q"] - 1)) < 1e-14
    # Many ages at once, as the fits call it: the same values, NaN, 0 and infinity included.
    a = 1 / 3.5**2
    u = np.concatenate([ref["u"].to_numpy(), [0.0, np.inf, np.nan]])
    np.testing.assert_allclose(upper_gamma_q(a, u)[:-1], special.gammaincc(a, u[:-1]), rtol=1e-14)
    assert np.isnan(upper_gamma_q(a, u)[-1])


def test_median_is_the_root_of_model_survival():
    """The closed-form medians (standardised median per family, the incomplete gamma's
    inverse for the generalized gamma) against a root search on the fitted survival."""
    from scipy import optimize

    from smanh.survival.parametric import ParametricFit, _log_surv

    thetas = {
        "weibull": [(0.5, -0.3)], "lognormal": [(1.2, 0.4)], "loglogistic": [(-0.7, -1.1)],
        "gengamma": [(1.0, -0.2, 1.7), (1.0, -0.2, 0.4), (0.3, 0.5, -2.5), (2.0, -1.0, 5e-4),
                     (2.0, -1.0, -5e-4), (0.1, 0.1, 12.0)],
    }
    for dist, cases in thetas.items():
        for theta in cases:
            names = ["mu", "log_sigma", "Q"][: len(theta)]
            fit = ParametricFit(dist, dict(zip(names, theta)), np.eye(len(theta)), 0.0, 10, 5)
            root = optimize.brentq(
                lambda log_t: _log_surv(dist, np.array(theta), np.exp([log_t]))[0] + np.log(2), -20, 20,
                xtol=1e-14)
            assert fit.median() == pytest.approx(np.exp(root), rel=1e-10), (dist, theta)
            assert np.exp(_log_surv(dist, np.array(theta), np.array([fit.median()]))[0]) == pytest.approx(0.5, rel=1e-10)
    far = ParametricFit("weibull", {"mu": 25.0, "log_sigma": 0.0}, np.eye(2), 0.0, 10, 5)
    assert np.isnan(far.median())
