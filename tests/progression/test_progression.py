"""Motor-score progression: natural-history selection, mixed models per stratum (against the
engine and lme4 fixtures), knots and stratum interactions (lme4), 12-month change (by hand,
scipy, statsmodels), degenerate strata, and the workflow's tables (one job per scale)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import FIXTURES, REPOSITORY, SAMPLE, patient, write_export
from smanh.config.scales import ScaleOptions, change_threshold, scale_options
from smanh.config.validation import validate_config
from smanh.errors import ConfigError
from smanh.ingest.registry import read_registry
from smanh.progression.change import (
    CHANGE_COLUMNS,
    baseline_age_bands,
    change_pairs,
    change_table,
    proportion_ci,
    summarise_change,
)
from smanh.progression.floor_ceiling import FLOOR_CEILING_COLUMNS, floor_ceiling
from smanh.progression.lmm import fit_lmm
from smanh.progression.models import (
    SLOPE_COLUMNS,
    ProgressionOptions,
    analyse_scale,
    no_range_note,
    not_modelled_note,
)
from smanh.progression.scale import progression_scale
from smanh.progression.selection import natural_history_assessments

FIXTURES = FIXTURES / "lmm"


def options(**changes) -> ProgressionOptions:
    """The default options (as the schema sets them), stratified by SMA type."""
    progression = validate_config({"registry": {"path": "."}})["progression"]
    values = dict(stratify_by=["sma_type"], min_patients=progression["min_patients"],
                  confidence_level=0.95, trajectory_step=progression["trajectory_step"], birth_eras=None)
    return ProgressionOptions(**{**values, **changes})
LME4 = pd.read_csv(FIXTURES / "lme4_reference.csv")
LME4_MODELS = pd.read_csv(FIXTURES / "progression_lme4_reference.csv", keep_default_na=False)
RTOL = 1e-4


def _lme4(dataset: str, quantity: str, reml: bool = True) -> float:
    rows = LME4[(LME4["dataset"] == dataset) & (LME4["reml"] == reml) & (LME4["quantity"] == quantity)]
    return float(rows["value"].item())


def _fixture(name: str, type_group: str) -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / f"{name}.csv", dtype={"patient_id": str})
    return data.assign(sma_type_group=type_group)


# --------------------------------------------------------------------------- natural history


def test_natural_history_assessments_by_hand(tmp_path):
    export = write_export(
        tmp_path / "export",
        patients=[patient("P1", birth_date="2010-01-01"), patient("P2", birth_date="2009-07-01")],
        treatments=[
            {"patient_id": "P1", "treatment": "risdiplam", "start_date": "2016-01-01"},
            {"patient_id": "P1", "treatment": "nusinersen", "start_date": "2015-06-01"},
        ],
        assessments=[
            {"patient_id": "P1", "date": "2014-06-01", "scale": "HFMSE", "score": 30},
            {"patient_id": "P1", "date": "2015-05-31", "scale": "HFMSE", "score": 29},
            {"patient_id": "P1", "date": "2015-06-01", "scale": "HFMSE", "score": 28},  # on treatment day
            {"patient_id": "P1", "date": "2015-09-01", "scale": "HFMSE", "score": 31},
            {"patient_id": "P1", "date": "2014-06-01", "scale": "RULM", "score": 20},
            {"patient_id": "P2", "date": "2019-07-01", "scale": "HFMSE", "score": 12},  # untreated
        ],
    )
    reg = read_registry(export)
    data = natural_history_assessments(reg.patients, reg.treatments, reg.assessments, "HFMSE")
    assert data["patient_id"].tolist() == ["P1", "P1", "P2"]
    assert data["score"].tolist() == [30.0, 29.0, 12.0]
    expected_age = [
        (pd.Timestamp("2014-06-01") - pd.Timestamp("2010-01-01")).days / 365.25,
        (pd.Timestamp("2015-05-31") - pd.Timestamp("2010-01-01")).days / 365.25,
        (pd.Timestamp("2019-07-01") - pd.Timestamp("2009-07-01")).days / 365.25,
    ]
    np.testing.assert_allclose(data["age"], expected_age, rtol=0, atol=1e-12)
    assert data["sma_type_group"].tolist() == ["2", "2", "2"]


def test_natural_history_assessments_equal_a_plain_pandas_join():
    """The position-based lookup equals the obvious joins (and sort) on the sample registry,
    where patients are not in id order and many are treated; the export is shuffled so
    that neither table arrives sorted."""
    from smanh.cohort.dataset import DAYS_PER_YEAR
    from smanh.progression.selection import patient_covariates

    reg = read_registry(SAMPLE)
    patients = reg.patients.sample(frac=1.0, random_state=1)
    assessments = reg.assessments.sample(frac=1.0, random_state=2)
    for scale in ("HFMSE", None):
        got = natural_history_assessments(patients, reg.treatments, assessments, scale)
        rows = assessments if scale is None else assessments[assessments["scale"] == scale]
        covariates = patient_covariates(patients)
        start = rows["patient_id"].map(reg.treatments.groupby("patient_id")["start_date"].min())
        rows = rows[(start.isna() | (rows["date"] < start)).to_numpy()]
        expected = rows[["patient_id", "scale", "date", "score"]].join(covariates, on="patient_id")
        expected["age"] = (expected["date"] - expected["birth_date"]).dt.days / DAYS_PER_YEAR
        expected["score"] = expected["score"].astype(float)
        expected = expected.sort_values(["patient_id", "date"], kind="mergesort").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected[got.columns], check_exact=True)
        assert len(got) > 1000


def test_floor_and_ceiling_counts_by_hand():
    data = pd.DataFrame({
        "patient_id": ["A", "A", "B", "B", "C"], "age": [1, 2, 1, 2, 3.0],
        "score": [0, 0, 66, 40, 0.0], "sma_type_group": ["2", "2", "3", "3", "3"],
    })
    table = floor_ceiling(data, "HFMSE", ["all", "sma_type"])
    assert table.columns.tolist() == FLOOR_CEILING_COLUMNS
    overall = table.iloc[0]
    assert (overall["n_at_floor"], overall["n_at_ceiling"], overall["n_patients_ever_at_floor"]) == (3, 1, 2)
    assert overall["share_at_floor"] == pytest.approx(0.6)
    type3 = table[table["stratum"] == "3"].iloc[0]
    assert (type3["n_assessments"], type3["n_at_floor"], type3["n_at_ceiling"]) == (3, 1, 1)
    walk = floor_ceiling(data, "6MWT", ["all"]).iloc[0]
    assert pd.isna(walk["ceiling"]) and pd.isna(walk["n_at_ceiling"])  # no ceiling


# The age time scale, not centred: the models of the lme4 fixtures made before centring.
UNCENTRED_AGE = ScaleOptions("HFMSE", time_scales=("age",), centre=0.0)


# --------------------------------------------------------------------------- models vs lme4


@pytest.mark.parametrize("type_group", ["2", "3"])
def test_stratum_fit_is_the_engine_fit_and_agrees_with_lme4(type_group):
    data = _fixture(f"sample_hfmse_type{type_group}", type_group)
    tables = analyse_scale(data, UNCENTRED_AGE, options())
    slope = tables["lmm_slopes"].iloc[0]
    fit = fit_lmm(data, "score", ["age"], ["age"], "patient_id")
    assert slope["slope_per_year"] == fit.params_["age"] and slope["se"] == fit.bse_["age"]
    name = f"sample_hfmse_type{type_group}"
    assert slope["slope_per_year"] == pytest.approx(_lme4(name, "beta_age"), rel=RTOL)
    assert slope["se"] == pytest.approx(_lme4(name, "se_age"), rel=RTOL)
    vc = tables["lmm_variance_components"].iloc[0]
    for ours, theirs in [("var_intercept", "var_intercept"), ("var_age", "var_age"),
                         ("cov_intercept_age", "cov"), ("sigma2", "sigma2"), ("loglik", "loglik")]:
        assert vc[ours] == pytest.approx(_lme4(name, theirs), rel=RTOL), ours
    assert vc["status"] == "fitted" and vc["converged"] and not vc["singular"]


def _reference(model: str, reml: bool) -> tuple[dict, dict, dict]:
    rows = LME4_MODELS[(LME4_MODELS["model"] == model) & (LME4_MODELS["reml"] == reml)]
    est = {r.term: float(r.value) for r in rows[rows["quantity"] == "estimate"].itertuples()}
    se = {r.term: float(r.value) for r in rows[rows["quantity"] == "se"].itertuples()}
    other = {r.quantity: float(r.value) for r in rows[rows["term"] == ""].itertuples()}
    return est, se, other


R_TERMS = {"(Intercept)": "(Intercept)", "age": "age", "age_after_5": "age_after_5",
           "stratum[3]": "type3", "age:stratum[3]": "age:type3",
           "age_after_5:stratum[3]": "age_after_5:type3"}


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(
    "model_name, model, types",
    [
        ("knot5_type2", ScaleOptions("HFMSE", knots=(5.0,)), ["2"]),
        ("pooled_types23", ScaleOptions("HFMSE", stratum_interaction=True), ["2", "3"]),
        ("pooled_knot5_types23", ScaleOptions("HFMSE", knots=(5.0,), stratum_interaction=True),
         ["2", "3"]),
    ],
)
def test_knots_and_stratum_interactions_agree_with_lme4(model_name, model, types, reml):
    model = ScaleOptions(model.name, model.knots, model.terms, model.stratum_interaction, reml,
                         time_scales=("age",), centre=0.0)  # as the uncentred lme4 fixture
    data = pd.concat([_fixture(f"sample_hfmse_type{t}", t) for t in types], ignore_index=True)
    tables = analyse_scale(data, model, options())
    est, se, other = _reference(model_name, reml)
    coefs = tables["lmm_fixed_effects"]
    coefs = coefs[coefs["kind"] == "coefficient"].set_index("term")
    assert sorted(R_TERMS[t] for t in coefs.index) == sorted(est)
    for term, row in coefs.iterrows():
        assert row["estimate"] == pytest.approx(est[R_TERMS[term]], rel=RTOL), term
        assert row["se"] == pytest.approx(se[R_TERMS[term]], rel=RTOL), term
    vc = tables["lmm_variance_components"].iloc[0]
    for ours, theirs in [("var_intercept", "var_intercept"), ("var_age", "var_age"),
                         ("cov_intercept_age", "cov"), ("sigma2", "sigma2"), ("loglik", "loglik")]:
        assert vc[ours] == pytest.approx(other[theirs], rel=RTOL), ours
    # lmm_slopes: the slope before the first knot; type 3 = age + age:type3 in a pooled model
    slopes = tables["lmm_slopes"].set_index("stratum")["slope_per_year"]
    assert slopes["2"] == pytest.approx(est["age"], rel=RTOL)
    if "3" in types:
        assert slopes["3"] == pytest.approx(est["age"] + est["age:type3"], rel=RTOL)
    if model.knots:
        segments = tables["lmm_fixed_effects"].query("kind == 'segment_slope' and stratum == '2'")
        after = segments.set_index("term").loc["slope_after_5", "estimate"]
        assert after == pytest.approx(est["age"] + est["age_after_5"], rel=RTOL)


def test_statsmodels_cross_check_of_a_knot_model():
    smf = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(7)
    pid = np.repeat(np.arange(150), 6)
    age = rng.uniform(1, 6, 150)[pid] + np.tile(np.arange(6) * 0.7, 150)
    b = rng.multivariate_normal([0, 0], [[16, -0.5], [-0.5, 0.3]], 150)
    score = 30 + b[pid, 0] + (-0.4 + b[pid, 1]) * age + 0.6 * np.maximum(age - 5, 0)
    data = pd.DataFrame({"patient_id": pid.astype(str), "age": age,
                         "score": score + rng.normal(0, 1.5, pid.size), "sma_type_group": "2"})
    data["age_after_5"] = np.maximum(data["age"] - 5, 0)
    res = smf.mixedlm("score ~ age + age_after_5", data, groups="patient_id",
                      re_formula="~age").fit(reml=True, method="lbfgs")
    tables = analyse_scale(data, ScaleOptions("HFMSE", knots=(5.0,), time_scales=("age",), centre=0.0),
                           options())
    coefs = tables["lmm_fixed_effects"].query("kind == 'coefficient'").set_index("term")
    np.testing.assert_allclose(coefs["estimate"].to_numpy(), res.fe_params.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(coefs["se"].to_numpy(), res.bse_fe.to_numpy(), rtol=1e-3)


def test_trajectories_are_the_fixed_effect_prediction():
    data = _fixture("sample_hfmse_type2", "2")
    tables = analyse_scale(data, UNCENTRED_AGE, options())
    fit = fit_lmm(data, "score", ["age"], ["age"], "patient_id")
    traj = tables["lmm_trajectories"]
    # only where at least min_patients (10) patients have data: a patient's span, first to
    # last assessment widened by half a grid step, holds the age (counted by hand)
    spans = data.groupby("patient_id")["age"].agg(["min", "max"])
    step = 0.25
    # the grid: multiples of the step within half a step of the ages (no patient's own age)
    grid = [k * step for k in range(0, 400) if data["age"].min() - step / 2 <= k * step <= data["age"].max() + step / 2]
    enough = [g for g in grid
              if ((spans["min"] - step / 2 <= g) & (g <= spans["max"] + step / 2)).sum() >= 10]
    assert traj["age_years"].min() == min(enough) and traj["age_years"].max() == max(enough)
    assert data["age"].max() > max(enough)  # the oldest ages have fewer than 10 patients
    slope = tables["lmm_slopes"].iloc[0]
    assert (slope["range_from"], slope["range_to"]) == (min(enough), max(enough))
    x = np.column_stack([np.ones(len(traj)), traj["age_years"]])
    np.testing.assert_allclose(traj["predicted"], x @ fit.params_.to_numpy(), rtol=1e-12)
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, fit.cov_params_.to_numpy(), x))
    df = np.array([fit.contrast(row)["df"] for row in x])  # Satterthwaite, per age
    np.testing.assert_allclose(traj["hi"] - traj["predicted"], stats.t.ppf(0.975, df) * se, rtol=1e-10)


# --------------------------------------------------------------------------- degenerate strata


def _patients(n, visits, slope=-0.5, seed=0, type_group="2"):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        start = rng.uniform(3, 10)
        for v in range(visits if np.isscalar(visits) else visits[i]):
            rows.append({"patient_id": f"{type_group}-{i}", "age": start + v * 0.5,
                         "score": 30 + rng.normal(0, 5) * 0 + slope * v * 0.5 + rng.normal(0, 1),
                         "sma_type_group": type_group})
    return pd.DataFrame(rows)


def test_degenerate_strata_have_documented_outcomes():
    small = _patients(3, 4, type_group="3")                  # a stratum of three patients
    single = _patients(12, 1, type_group="1")                 # one assessment per patient
    flat = _patients(12, 3, type_group="4").assign(score=20.0)  # zero variance
    sparse = _patients(12, [1] * 6 + [2] * 6, type_group="0")  # 18 obs <= 12 x 2: no random slope
    data = pd.concat([_patients(30, 4), small, single, flat, sparse], ignore_index=True)
    tables = analyse_scale(data, UNCENTRED_AGE,
                           options(min_patients=10))
    vc = tables["lmm_variance_components"].set_index("stratum")
    slopes = tables["lmm_slopes"].set_index("stratum")
    assert vc.loc["2", "status"] == "fitted"
    assert vc.loc["3", "status"] == "not_modelled"
    assert vc.loc["3", "note"] == slopes.loc["3", "note"] == not_modelled_note(10)
    assert vc.loc["1", "status"] == "not_modelled" and "not separable" in vc.loc["1", "note"]
    assert vc.loc["4", "status"] == "not_modelled" and "zero variance" in vc.loc["4", "note"]
    assert vc.loc["0", "status"] == "random_intercept_only"
    assert "random intercept only" in vc.loc["0", "note"] and pd.isna(vc.loc["0", "var_age"])
    for stratum in ("3", "1", "4"):
        assert slopes.loc[stratum, ["slope_per_year", "se", "lo", "hi"]].isna().all()
        assert slopes.loc[stratum, "n_patients"] > 0  # reported, not modelled
    coefs = tables["lmm_fixed_effects"].query("stratum == '0' and kind == 'coefficient'")
    assert coefs.set_index("term").loc["age", "estimate"] == pytest.approx(
        fit_lmm(sparse, "score", ["age"], [], "patient_id").params_["age"], rel=1e-12)
    # its patients' spans (one or two visits 6 months apart, from 3 to 10 years) never
    # overlap 10 at a time: no age range with min_patients, so no slope
    assert np.isnan(slopes.loc["0", "slope_per_year"])
    assert slopes.loc["0", "note"].endswith(no_range_note(10))
    # three patients, allowed by min_patients: fitted, with the engine's warning in the note
    aligned = small.assign(age=small["age"] - small.groupby("patient_id")["age"].transform("min") + 5)
    few = analyse_scale(aligned, UNCENTRED_AGE, options(min_patients=3))  # spans overlap
    assert "only 3 groups" in few["lmm_variance_components"].iloc[0]["note"]
    assert np.isfinite(few["lmm_slopes"].iloc[0]["slope_per_year"])


# --------------------------------------------------------------------------- 12-month change


def test_change_pairs_by_hand():
    day = 1 / 365.25
    rows = pd.DataFrame({
        "patient_id": ["A"] * 5 + ["B"] * 3 + ["C"] * 2,
        # A: partners of the first at 11 and 13 months (equally close): the earlier wins
        # B: the first has no partner within 9-15 months, the second has one
        # C: 16 months apart: no pair
        "age": [2.0, 2.5, 2.0 + 335 * day, 2.0 + 396 * day, 4.0,
                5.0, 5.0 + 60 * day, 5.0 + 60 * day + 400 * day,
                1.0, 1.0 + 487 * day],
        "score": [20, 21, 18, 17, 15, 40, 41, 38, 10, 9],
        "sma_type_group": ["2"] * 5 + ["3"] * 3 + ["3"] * 2,
    })
    pairs = change_pairs(rows, 12, 3)
    assert pairs["patient_id"].tolist() == ["A", "B"]
    assert pairs["change"].tolist() == [-2.0, -3.0]
    assert pairs["interval_months"].round(6).tolist() == [round(335 / 365.25 * 12, 6), round(400 / 365.25 * 12, 6)]
    assert pairs["sma_type_group"].tolist() == ["2", "3"]
    # window edges are inclusive: exactly 9 months and 15 months
    edge = pd.DataFrame({"patient_id": ["E", "E"], "age": [1.0, 1.0 + 0.75], "score": [1, 2]})
    assert len(change_pairs(edge, 12, 3)) == 1
    assert len(change_pairs(edge.assign(age=[1.0, 1.0 + 0.75 - 2 * day]), 12, 3)) == 0


def test_change_summary_by_hand_and_against_references():
    changes = np.array([-5.0, -2.0, -1.9, 0.0, 1.0, 2.0, 3.0, -4.0, 0.5, 2.5, -0.5, 1.5])
    s = summarise_change(changes, threshold=2, confidence_level=0.95, method="clopper_pearson")
    n = changes.size
    assert s["mean"] == pytest.approx(changes.sum() / n)
    assert s["sd"] == pytest.approx(np.sqrt(((changes - changes.mean()) ** 2).sum() / (n - 1)))
    half = stats.t.ppf(0.975, n - 1) * s["sd"] / np.sqrt(n)
    assert (s["mean_lo"], s["mean_hi"]) == pytest.approx((s["mean"] - half, s["mean"] + half))
    assert (s["n_declined"], s["n_stable"], s["n_improved"]) == (3, 6, 3)  # -2 declined, 2 improved
    for kind in ("declined", "stable", "improved"):
        ci = stats.binomtest(s[f"n_{kind}"], n).proportion_ci(0.95, method="exact")
        assert (s[f"{kind}_lo"], s[f"{kind}_hi"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    for k in (0, 3, 6, 12):
        assert proportion_ci(k, 12, 0.95, "wilson") == pytest.approx(
            proportion.proportion_confint(k, 12, 0.05, method="wilson"), rel=1e-10, abs=1e-12)
    # Wilson by hand: k = 3, n = 10
    z, p = stats.norm.ppf(0.975), 0.3
    centre = (p + z**2 / 20) / (1 + z**2 / 10)
    half = z / (1 + z**2 / 10) * np.sqrt(p * 0.7 / 10 + z**2 / 400)
    assert proportion_ci(3, 10, method="wilson") == pytest.approx((centre - half, centre + half))


def test_change_table_reports_small_strata_without_estimates():
    pairs = pd.DataFrame({"patient_id": list("ABCDE"), "change": [1.0, -3, 0, 2, -1],
                          "interval_months": [12.0, 9, 15, 12, 12],
                          "baseline_age": [1.0, 4.0, 19.0, 2.0, 30.0],
                          "sma_type_group": ["2", "2", "2", "3", "3"]})
    from smanh.progression.selection import strata_of

    table = change_table(pairs, "HFMSE", [("sma_type", *strata_of(pairs, "sma_type")),
                                          ("baseline_age_band", *baseline_age_bands(pairs, [2, 18]))],
                         min_patients=2, threshold=3, threshold_source="a paper")
    assert table.columns.tolist() == CHANGE_COLUMNS
    type2, type3 = table.iloc[0], table.iloc[1]
    assert type2["n_pairs"] == 3 and type2["mean"] == pytest.approx(-2 / 3)
    # annualised: 1/1, -3/0.75, 0/1.25 per year; t interval with 2 df, by hand
    rates = np.array([1.0, -4.0, 0.0])
    assert type2["annualised_mean"] == pytest.approx(-1.0)
    assert type2["annualised_sd"] == pytest.approx(rates.std(ddof=1))
    half = stats.t.ppf(0.975, 2) * rates.std(ddof=1) / np.sqrt(3)
    assert (type2["annualised_lo"], type2["annualised_hi"]) == pytest.approx((-1 - half, -1 + half))
    assert (type2["threshold"], type2["threshold_source"]) == (3, "a paper")
    assert type3["n_pairs"] == 2
    # bands <2, 2-18, >=18 of the baseline ages 1, 4, 19, 2, 30: 1, 2 (4 and 2), 2 (19, 30)
    bands = table[table["stratify_by"] == "baseline_age_band"].set_index("stratum")
    assert bands.index.tolist() == ["<2", "2–18", "≥18"]
    assert bands["n_pairs"].tolist() == [1, 2, 2]
    assert "not estimated" in bands.loc["<2", "note"] and pd.isna(bands.loc["<2", "mean"])
    assert bands.loc["2–18", "mean"] == pytest.approx((-3 + 2) / 2)


# --------------------------------------------------------------------------- config


def test_progression_config_defaults_and_per_scale_overrides():
    config = validate_config({"registry": {"path": "x"}})["progression"]
    assert config["scales"] == ["HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT"]
    assert config["stratify_by"] == ["sma_type"] and config["min_patients"] == 10
    assert {k: v for k, v in config["change"].items() if k != "thresholds"} == {
        "window_months": 12, "tolerance_months": 3, "age_bands": [2, 5, 12, 18],
        "proportion_ci": "clopper_pearson"}
    assert config["time_scale"] == "both" and config["centre"] == "median"
    # per-scale thresholds with their sources; the earlier single threshold overrides them;
    # a scale's own threshold overrides both
    thresholds = {s: change_threshold(config, s)[0] for s in config["scales"]}
    assert thresholds == {"HFMSE": 3, "RULM": 2, "CHOP_INTEND": 4, "HINE2": 2, "6MWT": 30, "FVC_PCT": 2}
    assert "CHERISH" in change_threshold(config, "HFMSE")[1]
    legacy = validate_config({"registry": {"path": "x"}, "progression": {
        "change": {"threshold": 2.5}, "scales": ["HFMSE", {"name": "6MWT", "threshold": 30}]}})
    assert change_threshold(legacy["progression"], "HFMSE") == (2.5, "progression.change.threshold")
    assert change_threshold(legacy["progression"], "6MWT") == (30, "progression.scales")
    override = validate_config({"registry": {"path": "x"}, "progression": {
        "change": {"thresholds": {"HFMSE": {"value": 4}}}}})["progression"]
    assert change_threshold(override, "HFMSE") == (4, "study configuration")
    assert change_threshold(override, "CHOP_INTEND")[0] == 4
    models = scale_options({**config, "knots": [5], "scales": ["HFMSE", {"name": "RULM", "knots": [],
                                                                          "threshold": 1}]})
    assert models["HFMSE"].knots == (5.0,) and models["RULM"].knots == ()
    assert models["RULM"].threshold == 1.0
    with pytest.raises(ConfigError, match="scale HFMSE given twice"):
        scale_options({"scales": ["HFMSE", {"name": "HFMSE"}]})


# --------------------------------------------------------------------------- the workflow

WORKFLOW = pytest.mark.workflow


def _table(run_dir, name):
    return pd.read_csv(run_dir / "results" / "tables" / name, keep_default_na=False, na_values=[""])


@WORKFLOW
def test_workflow_tables_follow_the_contract_and_hold_the_engine_numbers(sample_run):
    slopes = _table(sample_run, "lmm_slopes.csv")
    assert slopes.columns.tolist() == SLOPE_COLUMNS
    assert set(slopes["scale"]) == {"HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT"}
    assert set(slopes["time_scale"]) == {"age", "baseline_age_and_time"}  # both by default
    reference = pd.read_csv(FIXTURES.parent / "progression" / "time_scale_reference.csv",
                            keep_default_na=False)
    for type_group in ("2", "3"):
        fixture = _fixture(f"sample_hfmse_type{type_group}", type_group)
        name = f"sample_hfmse_type{type_group}"
        for time_scale, term in [("age", "age_c"), ("baseline_age_and_time", "years")]:
            row = slopes[(slopes["scale"] == "HFMSE") & (slopes["stratum"].astype(str) == type_group)
                         & (slopes["time_scale"] == time_scale)].iloc[0]
            assert row["n_assessments"] == len(fixture)  # the independent natural-history selection
            assert row["n_patients"] == fixture["patient_id"].nunique()
            assert row["natural_history_rate"] == (time_scale == "baseline_age_and_time")
            ref = reference[(reference["dataset"] == name) & (reference["model"] == time_scale)
                            & (reference["term"] == term)].set_index("quantity")["value"].astype(float)
            for column, quantity in [("slope_per_year", "estimate"), ("se", "se"), ("df", "df"),
                                     ("lo", "lower"), ("hi", "upper")]:
                assert row[column] == pytest.approx(ref[quantity], rel=RTOL), column
    change = _table(sample_run, "change_12m.csv")
    assert change.columns.tolist() == CHANGE_COLUMNS
    assert (change["n_pairs"] == change["n_patients"]).all()
    assert _table(sample_run, "scale_floor_ceiling.csv").columns.tolist() == FLOOR_CEILING_COLUMNS
    for name in ("lmm_fixed_effects.csv", "lmm_variance_components.csv", "lmm_trajectories.csv"):
        assert len(_table(sample_run, name)) > 0
    for name in ("lmm_slopes.csv", "change_12m.csv", "lmm_fixed_effects.csv"):
        text = (sample_run / "results" / "tables" / name).read_text()
        assert "inf" not in text and "nan" not in text.lower()
        assert not re.search(r"\bP\d{5}\b", text)  # no identifiers in the tables


@WORKFLOW
def test_workflow_matches_the_package_on_the_sample(sample_run):
    export = read_registry(SAMPLE)
    config = validate_config({"registry": {"path": str(SAMPLE)}})
    tables = progression_scale(
        export.patients, export.treatments, export.assessments, "RULM", config["progression"],
        figures=False).tables
    for name in ("lmm_slopes", "change_12m"):
        got = _table(sample_run, f"{name}.csv")
        got = got[got["scale"] == "RULM"].reset_index(drop=True)
        expected = tables[name].reset_index(drop=True)
        if "note" in got:  # empty fields are read back as missing
            got["note"], expected["note"] = got["note"].fillna(""), expected["note"].fillna("")
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)


@WORKFLOW
def test_one_job_per_scale_and_figures_and_report(sample_run):
    bench = sample_run / "logs" / "benchmarks" / "progression_scale"
    assert sorted(p.stem for p in bench.glob("*.tsv")) == sorted(
        ["HFMSE", "RULM", "CHOP_INTEND", "HINE2", "6MWT", "FVC_PCT"])
    figures = sample_run / "results" / "figures"
    for scale in ("HFMSE", "CHOP_INTEND"):
        assert (figures / f"progression_{scale}.png").stat().st_size > 10_000
        assert (figures / f"progression_{scale}.svg").exists()
        assert (figures / f"change_12m_{scale}.png").exists()
    html = (sample_run / "results" / "report" / "report.html").read_text()
    assert ">5. Motor progression<" in html and "12-month change" in html


def test_dry_run_schedules_one_job_per_configured_scale(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "my.yaml").write_text(
        f"registry:\n  path: {SAMPLE}\nprogression:\n  scales: [HFMSE, {{name: RULM, knots: [5]}}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(REPOSITORY / "Snakefile"),
         "--directory", str(run_dir), "--configfile", str(run_dir / "my.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    assert counts["progression_scale"] == "2" and "progression_figures" not in counts
    assert counts["gather_progression"] == "1"


def test_change_pairs_by_search_equal_the_loop():
    """The binary-search pairing (whole days) picks exactly the pairs of the plain loop:
    first baseline with a follow-up in the window, the nearest to 12 months, earlier on
    ties, repeated days included."""
    from smanh.progression.change import _pairs_by_loop, _pairs_by_search

    rng = np.random.default_rng(0)
    for _ in range(2000):
        codes = pd.factorize(np.sort(rng.integers(0, 5, int(rng.integers(1, 30)))))[0]
        days = np.concatenate([np.sort(rng.integers(0, 2000, (codes == c).sum()))
                               for c in np.unique(codes)]).astype(float)
        if rng.random() < 0.5:  # quarterly visits: gaps on the window's edges and ties
            days = np.round(np.round(days / 91.3125) * 91.3125)
        window = (273.9375, 456.5625, 365.25)
        assert _pairs_by_search(codes, days, *window) == _pairs_by_loop(codes, days, *window)
    assert _pairs_by_search(np.zeros(2, int), np.array([0.0, 365.5]), *window) is None  # not whole days
