"""Satterthwaite degrees of freedom of smanh.progression.lmm against lmerTest 3.1.3, hand computations
and simulation.

References (no R needed here):

* tests/fixtures/lmm/satterthwaite_reference.csv, made by make_satterthwaite_reference.R
  (lme4 1.1.31 fitted to tight convergence, lmerTest 3.1.3's ``contest``/``summary``) on the
  data sets of make_satterthwaite_inputs.py: the sample registry's natural-history HFMSE of
  SMA types 2 and 3, three small strata of it (10-15 patients) and a second simulated
  registry; models with age centred at the stratum median, on the baseline-age-and-time
  scale, with a knot at 5 years (contrast: the slope after the knot) and with a random
  intercept only, REML and ML.
* balanced designs, where the REML fixed effects are means of per-patient least-squares
  fits and the Satterthwaite intervals are exactly one-sample t intervals with G - 1 df;
* 200 simulated small strata with a known slope (coverage of the 95% t interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.progression import lmm
from smanh.progression.lmm import fit_lmm

FIXTURES = FIXTURES / "lmm"
REFERENCE = pd.read_csv(FIXTURES / "satterthwaite_reference.csv", keep_default_na=False)
REFERENCE["value"] = REFERENCE["value"].astype(float)
CASES = sorted(set(zip(REFERENCE["dataset"], REFERENCE["model"], REFERENCE["reml"])))

#: fixed terms, random slopes and the named contrast of each model of the R script
MODELS = {
    "age": (["age"], ["age"], "mean_at_age_5", {"(Intercept)": 1, "age": 5}),
    "age_c": (["age_c"], ["age_c"], "mean_5y_above_median", {"(Intercept)": 1, "age_c": 5}),
    "age_c_intercept": (["age_c"], [], "mean_5y_above_median", {"(Intercept)": 1, "age_c": 5}),
    "baseline": (
        ["baseline_age_c", "years_since_baseline"], ["years_since_baseline"],
        "mean_5y_after_median_baseline", {"(Intercept)": 1, "years_since_baseline": 5},
    ),
    "knot5": (["age", "age_after_5"], ["age"], "slope_after_5", {"age": 1, "age_after_5": 1}),
}
LME4_RTOL = 1e-6
LMERTEST_RTOL = 1e-4
#: below this, a p-value's relative error is dominated by the ~1e-6 numerical error of
#: lmerTest's own df (numDeriv, default steps): d log p / d df is large far in the tail
#: (1e-6 in df moved p = 4e-166 by 1e-4); those p-values are compared on the log scale
TINY_P = 1e-100


def derived(data: pd.DataFrame) -> pd.DataFrame:
    """The variables of the R script, computed independently here."""
    data = data.copy()
    data["age_c"] = data["age"] - data["age"].median()
    first = data.groupby("patient_id")["age"].transform("min")
    data["baseline_age_c"] = first - data.groupby("patient_id")["age"].min().median()
    data["years_since_baseline"] = data["age"] - first
    data["age_after_5"] = np.maximum(data["age"] - 5.0, 0.0)
    return data


@pytest.fixture(scope="module")
def fits() -> dict:
    """Every (data set, model, REML) case of the reference, fitted once."""
    data = {
        name: derived(pd.read_csv(FIXTURES / f"{name}.csv", dtype={"patient_id": str}))
        for name in REFERENCE["dataset"].unique()
    }
    out = {}
    for name, model, reml in CASES:
        fixed, random, _, _ = MODELS[model]
        out[(name, model, reml)] = fit_lmm(data[name], "score", fixed, random, reml=reml)
    return out


def _reference(name, model, reml) -> pd.DataFrame:
    rows = REFERENCE[
        (REFERENCE["dataset"] == name) & (REFERENCE["model"] == model)
        & (REFERENCE["reml"] == reml)
    ]
    return rows.pivot(index="term", columns="quantity", values="value")


def _inference_table(fit: lmm.LMMFit, model: str) -> pd.DataFrame:
    """Every coefficient (summary) and the model's contrast, as lmerTest's rows."""
    _, _, contrast_name, weights = MODELS[model]
    table = fit.summary(ddf="satterthwaite")
    table.loc[contrast_name] = fit.contrast(weights)
    return table


@pytest.mark.parametrize(("name", "model", "reml"), CASES)
def test_fit_agrees_with_lme4(fits, name, model, reml):
    fit, ref = fits[(name, model, reml)], _reference(name, model, reml)
    ours = _inference_table(fit, model)
    whole = ref.loc[""]
    assert fit.converged_ and fit.singular_ == bool(whole["singular"]), fit.messages_
    for term in ours.index:
        for quantity in ("estimate", "se"):
            assert ours.loc[term, quantity] == pytest.approx(
                ref.loc[term, quantity], rel=LME4_RTOL), (term, quantity)
    g = fit.cov_re_
    for effect in g.index:
        assert g.loc[effect, effect] == pytest.approx(whole[f"var_{effect}"], rel=LME4_RTOL)
    if g.shape[0] > 1:
        assert g.iloc[0, 1] == pytest.approx(whole["cov"], rel=LME4_RTOL)
    assert fit.sigma2_ == pytest.approx(whole["sigma2"], rel=LME4_RTOL)
    assert fit.loglik_ == pytest.approx(whole["loglik"], rel=LME4_RTOL)
    theta = [whole[f"theta{j + 1}"] for j in range(fit.theta_.size)]
    # a collapsed component is 0 in lme4 (bound) and ~1e-20 here (unbounded optimiser)
    np.testing.assert_allclose(fit.theta_, theta, rtol=LME4_RTOL,
                               atol=LME4_RTOL * np.abs(theta).max())
    assert (fit.n_obs, fit.n_groups) == (whole["n_obs"], whole["n_groups"])


@pytest.mark.parametrize(("name", "model", "reml"), CASES)
def test_satterthwaite_agrees_with_lmertest(fits, name, model, reml):
    fit, ref = fits[(name, model, reml)], _reference(name, model, reml)
    ours = _inference_table(fit, model)
    for term in ours.index:
        for quantity in ("df", "t", "lower", "upper"):
            assert ours.loc[term, quantity] == pytest.approx(
                ref.loc[term, quantity], rel=LMERTEST_RTOL), (term, quantity)
        p_ours, p_ref = ours.loc[term, "p"], ref.loc[term, "p"]
        if p_ref >= TINY_P:
            assert p_ours == pytest.approx(p_ref, rel=LMERTEST_RTOL), term
        elif p_ref > 0:
            assert np.log(p_ours) == pytest.approx(np.log(p_ref), rel=1e-6), term
        else:  # both underflow (|t| ~ 100 with hundreds of df)
            assert p_ours == 0.0, term


@pytest.mark.parametrize(("name", "model", "reml"), CASES)
def test_satterthwaite_df_is_exact(fits, name, model, reml):
    """lmerTest's df, recomputed from its own functions with larger Richardson steps
    (df_fine), agree with the engine to 1e-6: the engine's derivatives are exact up to
    rounding (analytic, and central differences of the analytic gradient)."""
    fit, ref = fits[(name, model, reml)], _reference(name, model, reml)
    ours = _inference_table(fit, model)
    np.testing.assert_allclose(ours["df"], ref.loc[ours.index, "df_fine"], rtol=1e-6)


@pytest.mark.parametrize(("name", "model", "reml"), CASES)
def test_vcov_varpar_agrees_with_lmertest(fits, name, model, reml):
    fit, ref = fits[(name, model, reml)], _reference(name, model, reml)
    k = fit.theta_.size + 1
    theirs = np.array(
        [[ref.loc["", f"vcov_varpar_{i + 1}_{j + 1}"] for j in range(k)] for i in range(k)]
    )
    ours = fit.vcov_varpar_.to_numpy()
    assert list(fit.vcov_varpar_.index) == [f"theta{j + 1}" for j in range(k - 1)] + ["sigma"]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=LMERTEST_RTOL * np.abs(theirs).max())


def test_small_strata_are_small():
    """The small-stratum cases have 10-15 patients, as a sparse registry stratum."""
    small = [n for n in REFERENCE["dataset"].unique() if "smn2" in n]
    groups = REFERENCE[(REFERENCE["dataset"].isin(small)) & (REFERENCE["quantity"] == "n_groups")]
    assert len(small) == 3 and groups["value"].between(10, 15).all()


# --------------------------------------------------------------------------- by hand


def _balanced(n_patients: int, seed: int) -> pd.DataFrame:
    """Every patient assessed at the same six ages: per-patient least squares suffice."""
    rng = np.random.default_rng(seed)
    ages = np.arange(6.0) - 2.5
    pid = np.repeat(np.arange(n_patients), ages.size)
    age = np.tile(ages, n_patients)
    b = rng.multivariate_normal([0.0, 0.0], [[16.0, 1.0], [1.0, 1.0]], n_patients)
    score = 30.0 + b[pid, 0] + (-1.0 + b[pid, 1]) * age + rng.normal(0.0, 1.5, pid.size)
    return pd.DataFrame({"patient_id": pid, "age": age, "score": score})


def test_balanced_random_slope_is_a_one_sample_t_interval():
    """Balanced design, random intercept and slope, interior REML fit: the fixed slope is
    the mean of the patients' least-squares slopes, its variance estimate their sample
    variance / G, so the Satterthwaite df is exactly G - 1 and the interval is the
    one-sample t interval (scipy.stats). ML: the variance uses divisor G, df = G."""
    data = _balanced(12, seed=7)
    slopes = np.array([np.polyfit(g["age"], g["score"], 1) for _, g in data.groupby("patient_id")])
    fit = fit_lmm(data, "score", ["age"], ["age"])
    assert not fit.singular_
    row = fit.summary(ddf="satterthwaite").loc["age"]
    test = stats.ttest_1samp(slopes[:, 0], 0.0)
    lo, hi = stats.t.interval(0.95, 11, loc=slopes[:, 0].mean(), scale=stats.sem(slopes[:, 0]))
    assert row["estimate"] == pytest.approx(slopes[:, 0].mean(), rel=1e-10)
    assert row["se"] == pytest.approx(stats.sem(slopes[:, 0]), rel=1e-8)
    assert row["df"] == pytest.approx(11.0, rel=1e-8)
    assert row["t"] == pytest.approx(test.statistic, rel=1e-8)
    assert row["p"] == pytest.approx(test.pvalue, rel=1e-7)
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi), rel=1e-8)
    intercept = fit.summary(ddf="satterthwaite").loc["(Intercept)"]
    assert intercept["df"] == pytest.approx(11.0, rel=1e-8)
    ml = fit_lmm(data, "score", ["age"], ["age"], reml=False)
    np.testing.assert_allclose(ml.df_satterthwaite_, [12.0, 12.0], rtol=1e-8)


def test_balanced_random_intercept_within_patient_df():
    """Random intercept only, balanced: the slope is a within-patient contrast, df =
    G (n - 1) - 1 (the within-patient residual df); the mean is a between-patient one,
    df = G - 1 (REML)."""
    data = _balanced(12, seed=7)
    fit = fit_lmm(data, "score", ["age"], [])
    np.testing.assert_allclose(fit.df_satterthwaite_, [11.0, 12 * 5 - 1.0], rtol=1e-8)


def _engine_terms(data, fixed, random, reml):
    x = np.column_stack([np.ones(len(data)), data[fixed].to_numpy(float)])
    z = np.column_stack([np.ones(len(data)), data[random].to_numpy(float)])
    codes, labels = pd.factorize(data["patient_id"], sort=True)
    return lmm._cross_products(data["score"].to_numpy(float), x, z, codes, len(labels))


@pytest.mark.parametrize("reml", [True, False])
def test_cov_params_jacobian_matches_finite_differences(reml):
    """The analytic d vcov(beta) / d(theta, sigma) against five-point central differences
    of sigma^2 (X'V^-1 X)^-1 recomputed by the profile at perturbed theta."""
    data = derived(pd.read_csv(FIXTURES / "sample_hfmse_type3_smn2_2.csv"))
    fit = fit_lmm(data, "score", ["age_c"], ["age_c"], reml=reml)
    cp = _engine_terms(data, ["age_c"], ["age_c"], reml)

    def cov_params(theta):
        return fit.sigma2_ * lmm._profile(theta, cp, reml, False).a_inv

    for j in range(fit.theta_.size):
        h = np.zeros(fit.theta_.size)
        h[j] = 1e-3
        numeric = (
            8 * (cov_params(fit.theta_ + h) - cov_params(fit.theta_ - h))
            - (cov_params(fit.theta_ + 2 * h) - cov_params(fit.theta_ - 2 * h))
        ) / 12e-3
        np.testing.assert_allclose(fit.jac_cov_params_[j], numeric, rtol=1e-7)
    sigma = np.sqrt(fit.sigma2_)
    np.testing.assert_allclose(fit.jac_cov_params_[-1], 2.0 * fit.cov_params_ / sigma, rtol=1e-12)


# --------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def knot_fit() -> lmm.LMMFit:
    data = derived(pd.read_csv(FIXTURES / "sample_hfmse_type2_smn2_4_early.csv"))
    return fit_lmm(data, "score", ["age", "age_after_5"], ["age"])


def test_contrast_by_name_vector_and_matrix_agree(knot_fit):
    by_name = knot_fit.contrast({"age": 1, "age_after_5": 1})
    by_vector = knot_fit.contrast([0.0, 1.0, 1.0])
    pd.testing.assert_series_equal(by_name, by_vector)
    assert list(by_name.index) == ["estimate", "se", "df", "t", "p", "lower", "upper"]
    assert by_name["estimate"] == pytest.approx(
        knot_fit.params_["age"] + knot_fit.params_["age_after_5"], rel=1e-14)
    matrix = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(
        knot_fit.satterthwaite_df(matrix),
        [by_name["df"], knot_fit.df_satterthwaite_["age"]], rtol=1e-14,
    )
    half = special.stdtrit(by_name["df"], 0.975) * by_name["se"]
    assert by_name["upper"] - by_name["estimate"] == pytest.approx(half, rel=1e-12)
    assert by_name["p"] == pytest.approx(
        2 * stats.t.sf(abs(by_name["t"]), by_name["df"]), rel=1e-10)


def test_wald_is_unchanged_and_available_for_contrasts(knot_fit):
    """conf_int() and summary() keep their Wald defaults; ddf="wald" in contrast() gives
    the normal interval (df = inf)."""
    z = stats.norm.ppf(0.975)
    ci = knot_fit.conf_int()
    np.testing.assert_allclose(ci["lower"], knot_fit.params_ - z * knot_fit.bse_, rtol=1e-14)
    assert list(knot_fit.summary().columns) == ["estimate", "se", "z", "lower", "upper"]
    wald = knot_fit.contrast({"age": 1, "age_after_5": 1}, ddf="wald")
    assert wald["df"] == np.inf
    assert wald["lower"] == pytest.approx(wald["estimate"] - z * wald["se"], rel=1e-14)
    assert wald["p"] == pytest.approx(2 * stats.norm.sf(abs(wald["t"])), rel=1e-12)
    t_ci = knot_fit.conf_int(0.9, ddf="satterthwaite")
    table = knot_fit.summary(ddf="satterthwaite", confidence_level=0.9)
    pd.testing.assert_frame_equal(t_ci, table[["lower", "upper"]])


def test_t_intervals_are_wider_than_wald_in_a_small_stratum(knot_fit):
    wald = knot_fit.conf_int()
    t = knot_fit.conf_int(ddf="satterthwaite")
    assert ((t["upper"] - t["lower"]) > (wald["upper"] - wald["lower"])).all()
    assert (knot_fit.df_satterthwaite_ < 50).all()


def test_contrast_errors_name_the_problem(knot_fit):
    with pytest.raises(ModelError, match="not coefficients of the model"):
        knot_fit.contrast({"age_after_3": 1})
    with pytest.raises(ModelError, match="does not match the 3 coefficients"):
        knot_fit.contrast([1.0, 1.0])
    with pytest.raises(ModelError, match="one contrast at a time"):
        knot_fit.contrast(np.eye(3))
    with pytest.raises(ModelError, match="ddf='kenward-roger'"):
        knot_fit.summary(ddf="kenward-roger")


def test_satterthwaite_can_be_skipped():
    data = derived(pd.read_csv(FIXTURES / "sample_hfmse_type3_smn2_5.csv"))
    full = fit_lmm(data, "score", ["age_c"], ["age_c"])
    plain = fit_lmm(data, "score", ["age_c"], ["age_c"], satterthwaite=False)
    assert plain.vcov_varpar_ is None and plain.jac_cov_params_ is None
    pd.testing.assert_series_equal(plain.params_, full.params_)
    pd.testing.assert_frame_equal(plain.summary(), full.summary())
    with pytest.raises(ModelError, match="satterthwaite=False"):
        plain.summary(ddf="satterthwaite")



@pytest.mark.parametrize("rows", [0, 1])
def test_empty_and_one_row_tables_are_refused_clearly(rows):
    data = pd.DataFrame({"patient_id": ["P1"], "age": [3.0], "score": [20.0]}).head(rows)
    with pytest.raises(ModelError, match="no observations" if rows == 0 else "at least 2 groups"):
        fit_lmm(data, "score")

# --------------------------------------------------------------------------- coverage

COVERAGE_REPLICATIONS = 200
TRUE_SLOPE = -0.8


def _small_stratum(rng: np.random.Generator, n_patients: int = 15) -> pd.DataFrame:
    """15 patients, 4-8 assessments each over 3-6 years, a random intercept and slope whose
    variance is well identified (few singular fits: there the slope variance is estimated
    as 0 and the df are too large, as in lmerTest)."""
    visits = rng.integers(4, 9, n_patients)
    pid = np.repeat(np.arange(n_patients), visits)
    start = rng.uniform(3.0, 15.0, n_patients)
    span = rng.uniform(3.0, 6.0, n_patients)
    age = start[pid] + span[pid] * rng.uniform(0.0, 1.0, pid.size)
    b = rng.multivariate_normal([0.0, 0.0], [[25.0, -0.5], [-0.5, 1.0]], n_patients)
    score = (35.0 + b[pid, 0] + (TRUE_SLOPE + b[pid, 1]) * (age - 9.0)
             + rng.normal(0.0, 1.5, pid.size))
    return pd.DataFrame({"patient_id": pid, "age": age - 9.0, "score": score})


def test_coverage_of_satterthwaite_t_interval_in_small_strata():
    """200 seeded strata of 15 patients: the 95% Satterthwaite t interval of the age slope
    covers the true slope in 93-97% of them; the Wald z interval (reported beside it)
    covers less often, since it ignores the uncertainty of the variance components."""
    rng = np.random.default_rng(20260517)
    covered = {"satterthwaite": 0, "wald": 0}
    dfs = []
    for _ in range(COVERAGE_REPLICATIONS):
        fit = fit_lmm(_small_stratum(rng), "score", ["age"], ["age"])
        for ddf in covered:
            row = fit.contrast({"age": 1.0}, ddf=ddf)
            covered[ddf] += row["lower"] <= TRUE_SLOPE <= row["upper"]
        dfs.append(fit.df_satterthwaite_["age"])
    share = {k: v / COVERAGE_REPLICATIONS for k, v in covered.items()}
    print(f"coverage of the true slope: {share}; median Satterthwaite df {np.median(dfs):.1f}")
    assert 0.93 <= share["satterthwaite"] <= 0.97
    assert share["wald"] < share["satterthwaite"]
    assert 10.0 < np.median(dfs) < 15.0  # about G - 1 = 14 for a between-patient contrast

