"""Tests of smanh.progression.lmm against lme4 reference numbers, statsmodels, and the simulation truth.

The lme4 numbers come from tests/fixtures/lmm/make_lmm_reference.R (committed output
lme4_reference.csv); R is not needed here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.progression import lmm
from smanh.progression.lmm import fit_lmm, fit_lmm_arrays

FIXTURES = FIXTURES / "lmm"
REFERENCE = pd.read_csv(FIXTURES / "lme4_reference.csv")
CASES = sorted(set(zip(REFERENCE["dataset"], REFERENCE["reml"])))
# lme4 (bobyqa) stops at a boundary local optimum here; the engine finds the interior one
# with a higher REML log-likelihood (see test_lme4_local_optimum_is_beaten).
LME4_LOCAL_OPTIMUM = {("sim_bimodal", True)}
COMPARED = [
    "beta_intercept",
    "beta_age",
    "se_intercept",
    "se_age",
    "var_intercept",
    "var_age",
    "cov",
    "sigma2",
    "loglik",
]


def _load(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv", dtype={"patient_id": str})


def _as_lme4(fit: lmm.LMMFit) -> dict[str, float]:
    """Our estimates under the quantity names of lme4_reference.csv."""
    return {
        "beta_intercept": fit.params_["(Intercept)"],
        "beta_age": fit.params_["age"],
        "se_intercept": fit.bse_["(Intercept)"],
        "se_age": fit.bse_["age"],
        "var_intercept": fit.cov_re_.loc["(Intercept)", "(Intercept)"],
        "var_age": fit.cov_re_.loc["age", "age"],
        "cov": fit.cov_re_.loc["(Intercept)", "age"],
        "corr": fit.corr_re_.loc["(Intercept)", "age"],
        "sigma2": fit.sigma2_,
        "loglik": fit.loglik_,
        "n_obs": fit.n_obs,
        "n_groups": fit.n_groups,
    }


@pytest.fixture(scope="module")
def fits() -> dict[tuple[str, bool], lmm.LMMFit]:
    """Every (data set, REML) case of the reference, fitted once."""
    return {
        (name, reml): fit_lmm(_load(name), "score", ["age"], ["age"], "patient_id", reml=reml)
        for name, reml in CASES
    }


def _expected(name: str, reml: bool) -> dict[str, float]:
    ref = REFERENCE[(REFERENCE["dataset"] == name) & (REFERENCE["reml"] == reml)]
    return dict(zip(ref["quantity"], ref["value"]))


@pytest.mark.parametrize(("name", "reml"), sorted(set(CASES) - LME4_LOCAL_OPTIMUM))
def test_agrees_with_lme4(fits, name, reml):
    expected = _expected(name, reml)
    fit = fits[(name, reml)]
    ours = _as_lme4(fit)
    assert fit.converged_, fit.messages_
    assert ours["n_obs"] == expected["n_obs"] and ours["n_groups"] == expected["n_groups"]
    assert fit.singular_ == bool(expected["singular"])
    for quantity in COMPARED:
        assert ours[quantity] == pytest.approx(expected[quantity], rel=1e-4, abs=1e-8), quantity
    # The correlation is +-1 for a singular 2x2 G and only defined up to rounding there.
    assert ours["corr"] == pytest.approx(expected["corr"], rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(("name", "reml"), CASES)
def test_deviance_at_lme4_theta_is_lme4_loglik(name, reml):
    """Our profiled deviance, evaluated at lme4's theta, reproduces lme4's logLik."""
    expected = _expected(name, reml)
    data = _load(name)
    x = np.column_stack([np.ones(len(data)), data["age"]])
    codes, _ = pd.factorize(data["patient_id"])
    cp = lmm._cross_products(data["score"].to_numpy(), x, x, codes, codes.max() + 1)
    theta = np.array([expected["theta1"], expected["theta2"], expected["theta3"]])
    deviance = lmm._profile(theta, cp, reml, gradient=False).deviance
    assert -0.5 * deviance == pytest.approx(expected["loglik"], rel=1e-10)


@pytest.mark.parametrize(("name", "reml"), sorted(LME4_LOCAL_OPTIMUM))
def test_lme4_local_optimum_is_beaten(fits, name, reml):
    fit = fits[(name, reml)]
    assert fit.converged_ and not fit.singular_
    assert fit.loglik_ > _expected(name, reml)["loglik"] + 1e-2


def test_singular_fit_is_flagged_and_keeps_fixed_effects(fits):
    fit = fits[("sim_near_singular", True)]
    assert fit.singular_
    assert any("singular fit" in m for m in fit.messages_)
    assert 0.0 <= fit.theta_[2] < lmm.SINGULAR_TOL
    assert np.all(np.abs(fit.params_) > 0.1)  # never statsmodels#10239's silent 0.0
    assert np.all(np.isfinite(fit.bse_)) and np.all(fit.bse_ > 0)


def test_three_patient_stratum_fits_with_warning(fits):
    fit = fits[("sim_three_patients", True)]
    assert fit.n_groups == 3
    assert any("only 3 groups" in m for m in fit.messages_)


def test_cross_check_statsmodels():
    smf = pytest.importorskip("statsmodels.formula.api")
    data = _load("sim_typical")
    ours = fit_lmm(data, "score", ["age"], ["age"], "patient_id")
    model = smf.mixedlm("score ~ age", data, groups="patient_id", re_formula="~age")
    theirs = model.fit(reml=True, method="lbfgs")
    np.testing.assert_allclose(ours.params_.to_numpy(), theirs.fe_params.to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(ours.bse_.to_numpy(), theirs.bse_fe.to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(ours.cov_re_.to_numpy(), theirs.cov_re.to_numpy(), rtol=1e-3)
    assert ours.sigma2_ == pytest.approx(theirs.scale, rel=1e-3)


def _simulate(n_patients, seed, beta=(45.0, -1.2), g=((64.0, -2.0), (-2.0, 0.5)), sigma=2.5):
    rng = np.random.default_rng(seed)
    visits = rng.integers(2, 12, n_patients)
    pid = np.repeat(np.arange(n_patients), visits)
    age = rng.uniform(2, 16, n_patients)[pid] + rng.uniform(0, 6, pid.size)
    b = rng.multivariate_normal([0, 0], np.asarray(g), n_patients)
    score = beta[0] + b[pid, 0] + (beta[1] + b[pid, 1]) * age + rng.normal(0, sigma, pid.size)
    return pd.DataFrame({"patient_id": pid, "age": age, "score": score})


def test_recovers_truth_on_large_simulation():
    fit = fit_lmm(_simulate(4000, seed=11), "score", ["age"], ["age"], "patient_id")
    assert fit.converged_ and not fit.singular_
    assert fit.params_["(Intercept)"] == pytest.approx(45.0, abs=4 * fit.bse_["(Intercept)"])
    assert fit.params_["age"] == pytest.approx(-1.2, abs=4 * fit.bse_["age"])
    np.testing.assert_allclose(
        fit.cov_re_.to_numpy(), [[64.0, -2.0], [-2.0, 0.5]], rtol=0.1, atol=0.25
    )
    assert fit.sigma2_ == pytest.approx(6.25, rel=0.03)
    assert fit.conf_int().loc["age", "lower"] < -1.2 < fit.conf_int().loc["age", "upper"]


def test_gradient_matches_finite_differences():
    data = _simulate(150, seed=3)
    x = np.column_stack([np.ones(len(data)), data["age"]])
    codes, _ = pd.factorize(data["patient_id"])
    cp = lmm._cross_products(data["score"].to_numpy(), x, x, codes, codes.max() + 1)
    theta = np.array([1.3, -0.2, 0.4])
    for reml in (True, False):
        grad = lmm._profile(theta, cp, reml, gradient=True).gradient
        fd = [
            (
                lmm._profile(theta + e, cp, reml, False).deviance
                - lmm._profile(theta - e, cp, reml, False).deviance
            )
            / 2e-6
            for e in np.eye(3) * 1e-6
        ]
        np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_random_intercept_only_and_general_q():
    data = _simulate(300, seed=5)
    data["age2"] = (data["age"] - 9.0) ** 2 / 10
    ri = fit_lmm(data, "score", ["age"], [], "patient_id")
    assert ri.cov_re_.shape == (1, 1) and ri.theta_.size == 1
    q3 = fit_lmm(data, "score", ["age", "age2"], ["age", "age2"], "patient_id")
    assert q3.cov_re_.shape == (3, 3) and q3.theta_.size == 6 and q3.converged_
    assert np.all(np.linalg.eigvalsh(q3.cov_re_.to_numpy()) > -1e-10)


def test_input_order_and_group_labels_do_not_matter():
    data = _load("sim_typical")
    fit = fit_lmm(data, "score")
    shuffled = data.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled["patient_id"] = "x" + shuffled["patient_id"]
    again = fit_lmm(shuffled, "score")
    np.testing.assert_allclose(again.params_, fit.params_, rtol=1e-9)
    assert again.loglik_ == pytest.approx(fit.loglik_, rel=1e-12)


def test_random_effects_are_blups():
    data = _load("sim_typical")
    fit = fit_lmm(data, "score")
    blups = fit.random_effects_
    assert blups.shape == (fit.n_groups, 2)
    assert abs(blups.mean()).max() < 0.5  # conditional modes are centred


# --------------------------------------------------------------------------- refusals


def test_refuses_one_assessment_per_patient_with_slope():
    data = _simulate(200, seed=2).groupby("patient_id").head(1)
    with pytest.raises(ModelError, match="not identifiable"):
        fit_lmm(data, "score", ["age"], ["age"], "patient_id")
    with pytest.raises(ModelError, match="not separable"):  # lme4 refuses n <= nRE too
        fit_lmm(data, "score", ["age"], [], "patient_id")


def test_refuses_zero_variance_response():
    data = _simulate(50, seed=2).assign(score=33.0)
    with pytest.raises(ModelError, match="zero variance"):
        fit_lmm(data, "score")


def test_refuses_non_finite_values():
    data = _simulate(50, seed=2)
    data.loc[7, "age"] = np.nan
    with pytest.raises(ModelError, match="non-finite"):
        fit_lmm(data, "score")


def test_refuses_single_group():
    data = _simulate(50, seed=2).assign(patient_id=1)
    with pytest.raises(ModelError, match="at least 2 groups"):
        fit_lmm(data, "score")


def test_refuses_rank_deficient_fixed_design():
    data = _simulate(50, seed=2)
    data["age_months"] = data["age"] * 12
    with pytest.raises(ModelError, match="rank deficient"):
        fit_lmm(data, "score", ["age", "age_months"], ["age"])


def test_refuses_too_few_observations():
    data = pd.DataFrame(
        {"patient_id": [1, 1, 2, 2], "age": [1.0, 2.0, 1.0, 3.0], "score": [1.0, 2.0, 2.0, 5.0]}
    )
    with pytest.raises(ModelError, match="not identifiable"):
        fit_lmm(data, "score")


def test_refuses_slope_constant_within_patients():
    data = _simulate(60, seed=2)
    data["age"] = data.groupby("patient_id")["age"].transform("first")
    with pytest.raises(ModelError, match="not identifiable"):
        fit_lmm(data, "score")


def test_refuses_nobs_not_above_number_of_random_effects():
    data = _simulate(100, seed=4).groupby("patient_id").head(2)
    with pytest.raises(ModelError, match="not separable"):
        fit_lmm(data, "score")


def test_refuses_missing_column():
    with pytest.raises(ModelError, match="not in the data"):
        fit_lmm(_simulate(20, seed=1), "hfmse")


def test_truth_file_matches_datasets():
    truth = json.loads((FIXTURES / "truth.json").read_text())
    assert set(truth) <= set(REFERENCE["dataset"])


def test_array_api_matches_dataframe_api():
    data = _load("sim_correlated")
    x = np.column_stack([np.ones(len(data)), data["age"]])
    fit = fit_lmm_arrays(data["score"], x, x, data["patient_id"], reml=False)
    ref = fit_lmm(data, "score", reml=False)
    np.testing.assert_allclose(fit.params_.to_numpy(), ref.params_.to_numpy(), rtol=1e-10)
    assert list(fit.params_.index) == ["x0", "x1"] and fit.loglik_ == pytest.approx(ref.loglik_)
