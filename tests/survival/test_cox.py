"""Cox model (delayed entry, Efron ties) and cox.zph against R survival 3.5-3.

Reference numbers: tests/fixtures/survival/{small,sim}/cox_*.csv, written by
make_survival_reference.R from small.csv / sim.csv.
"""


import numpy as np
import pandas as pd
import pytest

from conftest import FIXTURES
from smanh.errors import ModelError
from smanh.survival.cox import cox_zph, design_matrix, fit_cox

FIXTURES = FIXTURES / "survival"
CASES = {"small": "x + group", "sim": "x + smn2_copies + sex"}
REL = 1e-4


def load(name):
    return pd.read_csv(FIXTURES / f"{name}.csv", dtype={"smn2_copies": str, "group": str, "sex": str})


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    data = load(name)
    fit = fit_cox(data.entry, data.exit, data.event, data, CASES[name])
    return name, data, fit


def test_coefficients_match_r(case):
    name, _, fit = case
    ref = pd.read_csv(FIXTURES / name / "cox_coef.csv")
    ours = fit.summary()
    assert ours.term.tolist() == ref.term.tolist()
    for col in ["coef", "se", "hr", "lo", "hi", "z", "p"]:
        np.testing.assert_allclose(ours[col], ref[col], rtol=REL, err_msg=col)


def test_likelihood_and_global_tests_match_r(case):
    name, _, fit = case
    ref = pd.read_csv(FIXTURES / name / "cox_tests.csv").iloc[0]
    assert (fit.n, fit.n_events) == (ref.n, ref.nevent)
    np.testing.assert_allclose([fit.loglik_null, fit.loglik], [ref.loglik_null, ref.loglik], rtol=1e-8)
    ours = [fit.score_test["chisq"], fit.wald_test["chisq"], fit.lr_test["chisq"]]
    np.testing.assert_allclose(ours, [ref.score, ref.wald, ref.lr], rtol=REL)
    assert fit.lr_test["df"] == ref.df


def test_cox_zph_matches_r(case):
    name, data, fit = case
    table, resid = cox_zph(fit, data.entry, data.exit, data.event)
    ref = pd.read_csv(FIXTURES / name / "cox_zph.csv")
    assert table.term.tolist() == ref.term.tolist()
    np.testing.assert_allclose(table.chisq, ref.chisq, rtol=REL)
    np.testing.assert_array_equal(table.df, ref.df)
    np.testing.assert_allclose(table.p, ref.p, rtol=REL)
    ref_resid = pd.read_csv(FIXTURES / name / "cox_zph_resid.csv")
    np.testing.assert_allclose(resid[["time", "g"]], ref_resid[["time", "g"]], atol=1e-10)
    np.testing.assert_allclose(resid.iloc[:, 2:], ref_resid.iloc[:, 2:], rtol=REL, atol=1e-8)


def test_reference_level_can_be_chosen():
    data = load("sim")
    default = fit_cox(data.entry, data.exit, data.event, data, "smn2_copies")
    other = fit_cox(data.entry, data.exit, data.event, data, "smn2_copies",
                    reference={"smn2_copies": "3"})
    assert other.columns == ["smn2_copies2", "smn2_copies4+"]
    # HR(2 vs 3) is the inverse of HR(3 vs 2)
    np.testing.assert_allclose(other.coef[0], -default.coef[0], rtol=1e-8)
    np.testing.assert_allclose(other.loglik, default.loglik, rtol=1e-10)


def test_design_matrix_treatment_contrasts():
    d = design_matrix(pd.DataFrame({"c": ["b", "a", "c"], "x": [1.0, 2.0, 3.0]}), "~ c + x")
    assert d.columns == ["cb", "cc", "x"] and d.terms == {"c": [0, 1], "x": [2]}
    np.testing.assert_array_equal(d.matrix[:, :2], [[1, 0], [0, 0], [0, 1]])


def small_frame():
    return pd.DataFrame({"entry": [0, 0, 1, 0, 2, 0, 0, 1], "exit": [1, 2, 3, 4, 5, 6, 7, 8],
                         "event": [1, 1, 0, 1, 1, 0, 1, 0],
                         "x": [1.0, 0.5, 0.2, 0.1, -1.0, 0.3, 0.0, 0.7],
                         "g": list("aabbaabb")})


@pytest.mark.parametrize(
    ("change", "formula", "message"),
    [
        (lambda d: d.assign(c=1.0), "x + c", "'c' is constant"),
        (lambda d: d.assign(x2=2 * d.x + 1), "x + x2", "collinear"),
        (lambda d: d.assign(event=0), "x", "no events"),
        (lambda d: d.assign(exit=d.entry), "x", "later than entry"),
        (lambda d: d.assign(x=np.nan), "x", "missing"),
        (lambda d: d, "x * g", "only"),
        (lambda d: d, "nope", "not a column"),
        (lambda d: d.assign(g=np.where(d.event == 1, "a", "b")), "g", "diverges"),
    ],
)
def test_clear_errors(change, formula, message):
    d = change(small_frame())
    with pytest.raises(ModelError, match=message):
        fit_cox(d.entry, d.exit, d.event, d, formula)


def test_separation_names_level_without_events():
    d = small_frame().assign(g=lambda d: np.where(d.event == 1, "a", "b"))
    with pytest.raises(ModelError, match="level has no events"):
        fit_cox(d.entry, d.exit, d.event, d, "g")


def test_risk_sums_without_cancellation_under_huge_late_entrant_weights():
    """Late entrants with weights e^40 above those at risk make the suffix-sum difference
    pure rounding noise; the risk sums must still be the sums over {entry < t <= exit}."""
    from smanh.survival.cox import _risk_sets

    rng = np.random.default_rng(7)
    n = 400
    entry = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(5, 10, n))
    exit_ = entry + rng.uniform(0.1, 10, n)
    status = rng.random(n) < 0.4
    x = np.where(entry > 0, 1.0, 0.0)[:, None]  # late entrants: the heavy class
    data = _risk_sets(entry, exit_, status, np.zeros(n, int), x)
    eta = 40.0 * x[:, 0] + rng.normal(0, 2, n)
    w = np.exp(eta - eta.max())
    values = np.column_stack([w, x * w[:, None]])
    got = data.risk_sums(values)
    at_risk = (entry[None, :] < data.times[:, None]) & (exit_[None, :] >= data.times[:, None])
    expected = at_risk.astype(float) @ values
    early = data.times <= 5  # only light subjects at risk: the case that cancels
    assert early.any() and (expected[early, 0] < 1e-12 * w.sum()).all()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)


def test_categorical_design_by_patterns_equals_subject_sums(monkeypatch):
    """Factor-only designs sum over risk sets by covariate pattern; the fit must equal
    the subject-by-subject sums (the path continuous covariates take)."""
    import smanh.survival.cox

    d = load("sim")
    by_pattern = fit_cox(d.entry, d.exit, d.event, d, "smn2_copies + sex")
    monkeypatch.setattr(smanh.survival.cox, "_MAX_PATTERNS", 0)
    by_subject = fit_cox(d.entry, d.exit, d.event, d, "smn2_copies + sex")
    np.testing.assert_allclose(by_pattern.coef, by_subject.coef, rtol=1e-10)
    np.testing.assert_allclose(by_pattern.se, by_subject.se, rtol=1e-10)
    assert by_pattern.loglik == pytest.approx(by_subject.loglik, rel=1e-12)
    zph = [cox_zph(f, d.entry, d.exit, d.event)[0]["p"].to_numpy() for f in (by_pattern, by_subject)]
    np.testing.assert_allclose(zph[0], zph[1], rtol=1e-8)


def test_patterns_are_numpys_distinct_rows():
    from smanh.survival.cox import _MAX_PATTERNS, _patterns

    rng = np.random.default_rng(0)
    for _ in range(300):
        x = rng.integers(0, 3, (rng.integers(1, 200), rng.integers(1, 5))).astype(float) - 0.37
        rows, inverse = np.unique(x, axis=0, return_inverse=True)
        found = _patterns(x)
        if len(rows) > _MAX_PATTERNS:
            assert found is None
        else:
            np.testing.assert_array_equal(found[0], rows)
            np.testing.assert_array_equal(found[1], inverse.reshape(-1))
