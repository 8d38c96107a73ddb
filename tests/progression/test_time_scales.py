"""Both time scales of the progression models, centred, against lme4 (REML, tight
convergence) and lmerTest (Satterthwaite df, t intervals, p-values): fixtures made by
tests/fixtures/progression/make_time_scale_reference.R on the sample registry's
natural-history HFMSE and on a second simulated registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.config.scales import ScaleOptions
from smanh.progression.models import ProgressionOptions, analyse_scale

REFERENCE = pd.read_csv(FIXTURES / "progression" / "time_scale_reference.csv", keep_default_na=False)
# lme4's fit and the engine's agree to 1e-6 relative; lmerTest's inference to 1e-4
RTOL_FIT, RTOL_INFERENCE = 1e-6, 1e-4
R_TERMS = {"(Intercept)": "(Intercept)", "age": "age_c", "baseline_age": "baseline_age_c",
           "years": "years", "age_after_5": "age_after_5", "years_after_1": "years_after_1"}
MODELS = {
    "age": ScaleOptions("HFMSE", time_scales=("age",)),
    "baseline_age_and_time": ScaleOptions("HFMSE", time_scales=("baseline_age_and_time",)),
    "age_knot5": ScaleOptions("HFMSE", knots=(5.0,), time_scales=("age",)),
    "baseline_knot1": ScaleOptions("HFMSE", knots=(1.0,), time_scales=("baseline_age_and_time",)),
}
CASES = sorted(set(zip(REFERENCE["dataset"], REFERENCE["model"])))


def _data(name: str) -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "lmm" / f"{name}.csv", dtype={"patient_id": str})
    return data.assign(sma_type_group=name[-1])


def _options() -> ProgressionOptions:
    return ProgressionOptions(stratify_by=["sma_type"], min_patients=10, confidence_level=0.95,
                              trajectory_step=0.25, birth_eras=None)


def _assert_p(ours: float, theirs: float) -> None:
    """p-values to 1e-4 relative; below 1e-8 (t beyond ~6) their logarithms, because the
    relative error of a tail probability grows like t^2 times that of t."""
    if theirs > 1e-8:
        assert ours == pytest.approx(theirs, rel=RTOL_INFERENCE)
    else:
        assert np.log(ours) == pytest.approx(np.log(theirs), rel=RTOL_INFERENCE)


def _reference(dataset: str, model: str) -> pd.DataFrame:
    return REFERENCE[(REFERENCE["dataset"] == dataset) & (REFERENCE["model"] == model)]


@pytest.mark.parametrize("dataset, model", CASES)
def test_time_scales_agree_with_lme4_and_lmertest(dataset, model):
    tables = analyse_scale(_data(dataset), MODELS[model], _options())
    ref = _reference(dataset, model)
    other = {r.quantity: float(r.value) for r in ref[ref["term"] == ""].itertuples()}
    coefs = tables["lmm_fixed_effects"].query("kind == 'coefficient'").set_index("term")
    assert sorted(R_TERMS[t] for t in coefs.index) == sorted(set(ref["term"]) - {""})
    np.testing.assert_allclose(coefs["centre"].to_numpy(float), other["centre"], rtol=1e-12)
    for term, row in coefs.iterrows():
        theirs = {r.quantity: float(r.value) for r in ref[ref["term"] == R_TERMS[term]].itertuples()}
        for column, quantity, rtol in [("estimate", "estimate", RTOL_FIT), ("se", "se", RTOL_FIT),
                                       ("df", "df", RTOL_INFERENCE), ("t", "t", RTOL_INFERENCE),
                                       ("lo", "lower", RTOL_INFERENCE), ("hi", "upper", RTOL_INFERENCE)]:
            assert row[column] == pytest.approx(theirs[quantity], rel=rtol), (term, column)
        _assert_p(row["p"], theirs["p"])
    vc = tables["lmm_variance_components"].iloc[0]
    assert vc["status"] == "fitted" and vc["converged"] and vc["centre"] == pytest.approx(other["centre"])
    for ours, theirs in [("var_intercept", "var_intercept"), ("var_age", "var_slope"),
                         ("sigma2", "sigma2"), ("loglik", "loglik")]:
        assert vc[ours] == pytest.approx(other[theirs], rel=RTOL_FIT), ours
    # a covariance relative to its scale, sqrt(var_intercept var_slope) (it can be near 0)
    scale = np.sqrt(other["var_intercept"] * other["var_slope"])
    assert abs(vc["cov_intercept_age"] - other["cov"]) <= RTOL_FIT * scale
    # lmm_slopes: the slope of the time term (age, or years since baseline) with its
    # Satterthwaite df and t interval, and the row's time scale
    slope = tables["lmm_slopes"].iloc[0]
    time = "years" if MODELS[model].time_scales == ("baseline_age_and_time",) else "age_c"
    theirs = {r.quantity: float(r.value) for r in ref[ref["term"] == time].itertuples()}
    assert slope["time_scale"] == MODELS[model].time_scales[0]
    assert slope["slope_per_year"] == pytest.approx(theirs["estimate"], rel=RTOL_FIT)
    for column, quantity in [("df", "df"), ("lo", "lower"), ("hi", "upper")]:
        assert slope[column] == pytest.approx(theirs[quantity], rel=RTOL_INFERENCE), column
    _assert_p(slope["p"], theirs["p"])


def test_both_time_scales_by_default_and_the_longitudinal_slope_is_the_rate():
    data = _data("sample_hfmse_type2")
    tables = analyse_scale(data, ScaleOptions("HFMSE"), _options())
    slopes = tables["lmm_slopes"].set_index("time_scale")
    assert list(slopes.index) == ["age", "baseline_age_and_time"]
    assert slopes["natural_history_rate"].tolist() == [False, True]
    for time_scale, model in [("age", "age"), ("baseline_age_and_time", "baseline_age_and_time")]:
        ref = _reference("sample_hfmse_type2", model)
        term = "years" if model != "age" else "age_c"
        estimate = float(ref[(ref["term"] == term) & (ref["quantity"] == "estimate")]["value"].item())
        assert slopes.loc[time_scale, "slope_per_year"] == pytest.approx(estimate, rel=RTOL_FIT)
    # the longitudinal trajectory starts at the median baseline age, in years since then
    traj = tables["lmm_trajectories"].query("time_scale == 'baseline_age_and_time'")
    centre = slopes.loc["baseline_age_and_time", "centre"]
    np.testing.assert_allclose(traj["age_years"], centre + traj["years_since_baseline"], rtol=1e-12)
    assert traj["years_since_baseline"].min() == 0.0
