"""Tests of the synthetic registry simulator (smanh.synthetic.simulate).

Structure and determinism of the export, the committed sample, calibration to the published
natural history on a large untruncated birth population, the known truth, and the left
truncation that a delayed-entry analysis must handle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from conftest import REPOSITORY
from smanh.config.units import DAYS_PER_YEAR
from smanh.errors import ConfigError
from smanh.synthetic import natural_history, parameters
from smanh.synthetic import simulate as sim

REPO = REPOSITORY
CONFIG = REPO / "config" / "simulation.yaml"
SAMPLE = REPO / "data" / "sample"
DPV = "death_or_permanent_ventilation"
SMA_TYPES = {"0", "1", "1a", "1b", "1c", "2", "2a", "2b", "3", "3a", "3b", "4", "unknown"}
EVENTS = {
    "permanent_ventilation", "niv_start", "tracheostomy", "feeding_tube", "scoliosis_surgery",
    "loss_of_independent_sitting", "loss_of_independent_walking", "head_control",
    "sits_independently", "stands_independently", "walks_independently",
}
TREATMENTS = {"nusinersen", "onasemnogene_abeparvovec", "risdiplam", "other"}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    """The sample registry, as freshly generated from config/simulation.yaml."""
    params, seed = parameters.load_config(CONFIG)
    return sim.simulate_registry(params, seed)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """A large untruncated, untreated birth population (the truth's population)."""
    return natural_history.simulate_birth_population(None, 300_000, np.random.default_rng(12345))


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.replace("", None), format="%Y-%m-%d")


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
            for name in parameters.TABLE_COLUMNS}


def _group(sma_type: pd.Series) -> pd.Series:
    return sma_type.where(sma_type == "unknown", sma_type.str[0])


def _survival_data(tables, group: str, endpoint: str) -> pd.DataFrame:
    """entry/exit ages and event flag per the README's "Analysis definitions" (natural-history mode)."""
    p = tables["patients"].set_index("patient_id")
    birth = _dates(p["birth_date"])
    events, treatments = tables["events"], tables["treatments"]
    pv = events[events["event"] == "permanent_ventilation"].groupby("patient_id")["date"].min()
    first_treatment = treatments.groupby("patient_id")["start_date"].min()
    event_date = _dates(p["death_date"])
    if endpoint == DPV:
        event_date = pd.concat([event_date, _dates(pv.reindex(p.index, fill_value=""))], axis=1).min(axis=1)
    censor = pd.concat([_dates(p["last_contact_date"]),
                        _dates(first_treatment.reindex(p.index, fill_value=""))], axis=1).min(axis=1)
    event = event_date.notna() & (event_date <= censor)
    exit_date = event_date.where(event, censor)
    d = pd.DataFrame({
        "entry": (_dates(p["enrolment_date"]) - birth).dt.days / DAYS_PER_YEAR,
        "exit": (exit_date - birth).dt.days / DAYS_PER_YEAR,
        "event": event, "group": _group(p["sma_type"]),
    })
    return d[(d["group"] == group) & (d["exit"] > d["entry"])]


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    params = {"n_births": 1500}
    a = sim.write_registry(sim.simulate_registry(params, 7), tmp_path / "a")
    b = sim.write_registry(sim.simulate_registry(params, 7), tmp_path / "b")
    c = sim.write_registry(sim.simulate_registry(params, 8), tmp_path / "c")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_committed_sample_equals_regeneration(tmp_path):
    assert sim.main(["--config", str(CONFIG), "--out", str(tmp_path)]) == 0
    for name in parameters.TABLE_COLUMNS:
        committed = SAMPLE / f"{name}.csv"
        assert committed.exists(), f"{committed} missing: run `make sample`"
        assert committed.read_bytes() == (tmp_path / f"{name}.csv").read_bytes(), (
            f"{committed} differs from a regeneration from {CONFIG.name}: run `make sample`")


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="n_birth"):
        parameters.SimulationParams.from_dict({"n_birth": 10})


# --------------------------------------------------------------------------- structure
def test_columns_vocabularies_and_formats(sample, tmp_path):
    sim.write_registry(sample, tmp_path)
    tables = _read(tmp_path)  # what a reader of the CSV files sees
    for name, columns in parameters.TABLE_COLUMNS.items():
        assert tuple(tables[name].columns) == columns
    p, e, t, a = (tables[k] for k in ("patients", "events", "treatments", "assessments"))
    assert 1800 <= len(p) <= 2200
    assert p["patient_id"].is_unique and p["patient_id"].str.fullmatch(r"P\d{5}").all()
    assert set(p["sex"]) <= {"M", "F", "U", ""} and {"M", "F", "U", ""} <= set(p["sex"])
    assert set(p["sma_type"]) == SMA_TYPES  # all codes occur, incl. bare and unknown
    copies = p["smn2_copies"]
    assert copies.eq("").any() and copies[copies != ""].astype(int).between(0, 8).all()
    assert set(e["event"]) == EVENTS
    assert set(t["treatment"]) == TREATMENTS
    assert set(a["scale"]) == set(parameters.SCALE_RANGES)
    for frame, cols in ((p, ["birth_date", "enrolment_date", "last_contact_date", "onset_date",
                             "diagnosis_date", "death_date"]), (e, ["date"]),
                        (t, ["start_date", "end_date"]), (a, ["date"])):
        for col in cols:
            values = frame[col][frame[col] != ""]
            assert values.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), col
    ids = set(p["patient_id"])
    for frame in (e, t, a):
        assert set(frame["patient_id"]) <= ids
    assert a["score"].str.fullmatch(r"\d+").all()
    for scale, (low, high) in parameters.SCALE_RANGES.items():
        s = a.loc[a["scale"] == scale, "score"].astype(int)
        assert s.between(low, high).all(), scale
    # Deterministic row order.
    assert e.equals(e.sort_values(["patient_id", "date", "event"]).reset_index(drop=True))
    assert a.equals(a.sort_values(["patient_id", "date", "scale"]).reset_index(drop=True))


def test_date_logic(sample):
    p = sample["patients"].set_index("patient_id")
    birth, onset, diag = _dates(p["birth_date"]), _dates(p["onset_date"]), _dates(p["diagnosis_date"])
    enrol, last, death = _dates(p["enrolment_date"]), _dates(p["last_contact_date"]), _dates(p["death_date"])
    cut = pd.Timestamp(parameters.SimulationParams().data_cut)
    assert (birth <= onset).where(onset.notna(), True).all()
    assert (onset <= diag).where(onset.notna() & diag.notna(), True).all()
    assert (birth <= diag).where(diag.notna(), True).all()
    assert (enrol <= last).all() and (last <= cut).all() and (enrol >= pd.Timestamp("2008-01-01")).all()
    assert (death.dropna() == last[death.notna()]).all()  # died under observation
    assert (death.dropna() > enrol[death.notna()]).all()  # alive at enrolment
    for name, date_col in (("events", "date"), ("assessments", "date"), ("treatments", "start_date")):
        frame = sample[name]
        d = _dates(frame[date_col]).to_numpy()
        pid = frame["patient_id"]
        assert (d >= birth.reindex(pid).to_numpy()).all(), name
        assert (d <= last.reindex(pid).to_numpy()).all(), name  # nothing after last contact/death
    a = sample["assessments"]
    assert (_dates(a["date"]).to_numpy() >= enrol.reindex(a["patient_id"]).to_numpy()).all()
    e = sample["events"]
    pv = e[e["event"] == "permanent_ventilation"].groupby("patient_id")["date"].min()
    assert (_dates(pv) > enrol.reindex(pv.index)).all()  # free of ventilation at enrolment
    t = sample["treatments"]
    start, end = _dates(t["start_date"]), _dates(t["end_date"])
    assert (start >= pd.Timestamp("2017-01-01")).all()
    assert (end >= start).where(end.notna(), True).all()
    gene = t[t["treatment"] == "onasemnogene_abeparvovec"]
    assert (_dates(gene["start_date"]) >= pd.Timestamp("2019-01-01")).all()


def test_history_before_enrolment_and_treated_before_enrolment_exist(sample):
    p = sample["patients"].set_index("patient_id")
    e, t = sample["events"], sample["treatments"]
    enrol = _dates(p["enrolment_date"])
    assert (_dates(e["date"]).to_numpy() < enrol.reindex(e["patient_id"]).to_numpy()).mean() > 0.2
    first = _dates(t.groupby("patient_id")["start_date"].min())
    assert (first < enrol.reindex(first.index)).sum() >= 20
    lost = (_dates(p["last_contact_date"]) < pd.Timestamp("2024-06-30")) & (p["death_date"] == "")
    assert lost.mean() > 0.05


def test_milestones_consistent_with_type(sample):
    p = sample["patients"].set_index("patient_id")
    e = sample["events"]
    group = _group(p["sma_type"]).reindex(e["patient_id"]).to_numpy()
    walkers = e["event"].isin(["walks_independently", "stands_independently"])
    assert set(group[walkers.to_numpy()]) <= {"3", "4", "unknown"}
    assert set(group[(e["event"] == "loss_of_independent_walking").to_numpy()]) <= {"3", "4", "unknown"}


def test_enough_type1_patients(sample):
    group = _group(sample["patients"]["sma_type"])
    assert (group == "1").sum() >= 400
    assert {"0", "1", "2", "3", "4", "unknown"} <= set(group)


# --------------------------------------------------------------------------- calibration
def test_type1_death_or_ventilation_matches_finkel_2014(population):
    t = population.loc[population["type_group"] == "1", DPV] * 12
    assert np.median(t) == pytest.approx(13.5, abs=0.5)
    assert np.quantile(t, 0.25) == pytest.approx(8.1, abs=0.5)
    assert np.quantile(t, 0.75) == pytest.approx(22.0, abs=1.0)


@pytest.mark.parametrize("group, ages, targets, tol", [
    ("1", [2, 4, 10], [0.32, 0.18, 0.08], 0.02),  # Zerres & Rudnik-Schoeneborn 1995
    ("2", [10, 20], [0.98, 0.77], 0.01),
])
def test_survival_matches_zerres_1995(population, group, ages, targets, tol):
    death = population.loc[population["type_group"] == group, "death"].to_numpy()
    for age, target in zip(ages, targets):
        assert (death > age).mean() == pytest.approx(target, abs=tol)


@pytest.mark.parametrize("subtype, targets", [("3a", (0.703, 0.220)), ("3b", (0.967, 0.587))])
def test_walking_matches_zerres_1997(population, subtype, targets):
    sub = population[population["subtype"] == subtype]
    years_walking = sub["loss_of_independent_walking"] - sub["onset"]
    assert (years_walking > 10).mean() == pytest.approx(targets[0], abs=0.015)
    assert (years_walking > 40).mean() == pytest.approx(targets[1], abs=0.015)


def test_smn2_copies_match_calucho_2018(population):
    t1 = population.loc[population["type_group"] == "1", "smn2_copies"].value_counts(normalize=True)
    assert t1[2] == pytest.approx(0.73, abs=0.01) and t1[1] == pytest.approx(0.07, abs=0.01)
    t3 = population.loc[population["type_group"] == "3", "smn2_copies"].value_counts(normalize=True)
    assert t3[4] == pytest.approx(0.44, abs=0.01)


def test_life_histories_are_ordered(population):
    pop = population
    assert (pop["onset"] >= 0).all()
    ventilated = np.isfinite(pop["permanent_ventilation"])
    assert (pop.loc[ventilated, "permanent_ventilation"] <= pop.loc[ventilated, "death"]).all()
    assert (pop["niv_start"] < pop[DPV]).where(np.isfinite(pop["niv_start"]), True).all()
    walk = np.isfinite(pop["walks_independently"])
    assert (pop.loc[walk, "walks_independently"] < pop.loc[walk, "loss_of_independent_walking"]).all()
    assert not np.isfinite(pop.loc[pop["type_group"].isin(["0", "1", "2"]), "walks_independently"]).any()


def test_hfmse_and_chop_intend_slopes(sample):
    """Untreated 12-month HFMSE change (Mercuri 2016) and CHOP INTEND decline (Finkel 2014)."""
    p = sample["patients"].set_index("patient_id")
    a = sample["assessments"].copy()
    a["day"] = _dates(a["date"])
    first = _dates(sample["treatments"].groupby("patient_id")["start_date"].min())
    start = first.reindex(a["patient_id"]).to_numpy()
    a = a[pd.isna(start) | (a["day"].to_numpy() < start)]
    a["group"] = _group(p["sma_type"]).reindex(a["patient_id"]).to_numpy()
    a["score"] = a["score"].astype(int)
    h = a[(a["scale"] == "HFMSE") & a["group"].isin(["2", "3"])].sort_values(["patient_id", "day"])
    nxt = h.groupby("patient_id")[["day", "score"]].shift(-1)
    gap = (nxt["day"] - h["day"]).dt.days / DAYS_PER_YEAR
    change = ((nxt["score"] - h["score"]) / gap)[gap.between(0.85, 1.15)]
    assert len(change) > 300
    assert change.mean() == pytest.approx(-0.56, abs=0.2)
    assert change.std() == pytest.approx(2.72, abs=0.4)
    c = a[(a["scale"] == "CHOP_INTEND") & (a["group"] == "1")].copy()
    c["age"] = (c["day"] - _dates(p["birth_date"]).reindex(c["patient_id"]).to_numpy()).dt.days / 365.25
    # Within-patient slope (fixed-effects regression) approximates the mean slope.
    centred = c[["age", "score"]] - c.groupby("patient_id")[["age", "score"]].transform("mean")
    slope = (centred["age"] * centred["score"]).sum() / (centred["age"] ** 2).sum()
    assert slope == pytest.approx(-1.27, abs=0.3)


def test_treatment_improves_chop_intend(sample):
    a, t = sample["assessments"], sample["treatments"]
    first = _dates(t.groupby("patient_id")["start_date"].min())
    c = a[a["scale"] == "CHOP_INTEND"].copy()
    c["day"], c["score"] = _dates(c["date"]), c["score"].astype(int)
    c = c[c["patient_id"].isin(first.index)]
    after = c[c["day"].to_numpy() > first.reindex(c["patient_id"]).to_numpy()]
    change = after.groupby("patient_id")["score"].agg(lambda s: s.iloc[-1] - s.iloc[0])
    assert len(change) > 50 and change.mean() > 3


# --------------------------------------------------------------------------- known truth
@pytest.mark.parametrize("endpoint", parameters.ENDPOINTS)
@pytest.mark.parametrize("group", parameters.TYPE_GROUPS)
def test_true_survival_agrees_with_simulated_population(population, endpoint, group):
    times = population.loc[population["type_group"] == group, endpoint].to_numpy()
    ages = np.quantile(times, [0.05, 0.25, 0.5, 0.75, 0.95])
    empirical = (times[None, :] > ages[:, None]).mean(axis=1)
    se = np.sqrt(empirical * (1 - empirical) / len(times))
    assert np.all(np.abs(natural_history.true_survival(endpoint, group, ages) - empirical) < 4 * se + 2e-3)
    assert natural_history.true_survival(endpoint, group, np.array([0.0]))[0] == 1.0
    assert natural_history.true_median(endpoint, group) == pytest.approx(np.median(times), rel=0.02)


def test_true_median_type1_is_finkel():
    assert natural_history.true_median(DPV, "1") * 12 == pytest.approx(13.5, abs=0.3)
    with pytest.raises(ValueError):
        natural_history.true_survival("walking", "1", np.array([1.0]))


def test_delayed_entry_km_recovers_truth_naive_km_is_biased(sample):
    d = _survival_data(sample, "1", DPV)
    assert len(d) >= 400 and d["event"].sum() >= 200
    km = KaplanMeierFitter().fit(d["exit"], d["event"], entry=d["entry"])
    naive = KaplanMeierFitter().fit(d["exit"], d["event"])
    truth = natural_history.true_median(DPV, "1")
    lo, hi = median_survival_times(km.confidence_interval_survival_function_).iloc[0]
    assert lo <= truth <= hi
    ci = km.confidence_interval_survival_function_
    at_one = ci.iloc[ci.index.searchsorted(1.0, side="right") - 1]
    assert at_one.iloc[0] <= natural_history.true_survival(DPV, "1", np.array([1.0]))[0] <= at_one.iloc[1]
    assert naive.median_survival_time_ > hi  # ignoring delayed entry overestimates survival
