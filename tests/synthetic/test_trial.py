"""The simulated single-arm trial (smanh.synthetic.trial): the committed sample regenerates
byte for byte, its patients meet the trial's criteria, and its treatment effect is the
known hazard ratio against the registry simulator's own natural history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import REPOSITORY
from smanh.config.units import DAYS_PER_YEAR
from smanh.errors import ConfigError
from smanh.survival.cox import fit_cox
from smanh.synthetic.natural_history import simulate_birth_population
from smanh.synthetic.simulate import write_registry
from smanh.synthetic.trial import TrialParams, load_trial_config, simulate_trial

CONFIG = REPOSITORY / "config" / "simulation_trial.yaml"
SAMPLE_TRIAL = REPOSITORY / "data" / "sample_trial"


def test_the_committed_sample_trial_regenerates_byte_for_byte(tmp_path):
    params, seed = load_trial_config(CONFIG)
    written = write_registry(simulate_trial(params, seed), tmp_path)
    for path in written:
        assert path.read_bytes() == (SAMPLE_TRIAL / path.name).read_bytes(), path.name


def test_trial_patients_meet_the_trial_criteria():
    tables = {t: pd.read_csv(SAMPLE_TRIAL / f"{t}.csv", dtype=str, keep_default_na=False)
              for t in ("patients", "treatments")}
    patients = tables["patients"]
    assert len(patients) == 40 and set(patients["smn2_copies"]) == {"2"}
    assert set(patients["sma_type"]) <= {"1a", "1b", "1c"}
    dosing = pd.to_datetime(tables["treatments"].set_index("patient_id")["start_date"]).reindex(patients["patient_id"])
    age = (dosing.to_numpy() - pd.to_datetime(patients["birth_date"]).to_numpy()) / np.timedelta64(1, "D")
    assert (age / DAYS_PER_YEAR <= 0.5).all()
    assert (pd.to_datetime(patients["enrolment_date"]).to_numpy() <= dosing.to_numpy()).all()


def test_unknown_parameters_are_refused():
    with pytest.raises(ConfigError, match="unknown key"):
        TrialParams.from_dict({"seed": 1, "hazard_ration": 0.2})


def test_the_treatment_effect_is_the_known_hazard_ratio():
    """3,000 simulated trial patients against untreated infants of the registry simulator
    (type 1, two copies), entering at the same ages: the Cox hazard ratio on the age scale
    with delayed entry covers 0.2."""
    trial = simulate_trial(TrialParams(n_patients=3000, data_cut="2030-12-31"), seed=3)
    patients = trial["patients"].set_index("patient_id")
    birth = pd.to_datetime(patients["birth_date"])
    dosing = pd.to_datetime(trial["treatments"].set_index("patient_id")["start_date"])
    events = trial["events"].set_index("patient_id")["date"].reindex(patients.index)
    first = pd.to_datetime(patients["death_date"].replace("", None)).combine(
        pd.to_datetime(events.replace("", None)), lambda a, b: min(x for x in (a, b) if pd.notna(x))
        if pd.notna(a) or pd.notna(b) else pd.NaT)
    last = pd.to_datetime(patients["last_contact_date"])
    years = lambda d: ((d - birth).dt.days / DAYS_PER_YEAR).to_numpy()  # noqa: E731
    entry, end = years(dosing.reindex(patients.index)), years(first.fillna(last))
    event = first.notna().to_numpy().astype(int)
    # an event within a day of dosing falls on the dosing day: no time at risk (the analysis
    # leaves such a patient out, "died or permanently ventilated on or before dosing")
    at_risk = end > entry
    entry, end, event = entry[at_risk], end[at_risk], event[at_risk]
    # untreated infants from the registry simulator, entering at the trial's dosing ages
    natural = simulate_birth_population(None, 60_000, np.random.default_rng(4))
    natural = natural[(natural["type_group"] == "1") & (natural["smn2_copies"] == 2)]
    rng = np.random.default_rng(5)
    control_entry = rng.choice(entry, len(natural))
    dpv = natural["death_or_permanent_ventilation"].to_numpy()
    alive = dpv > control_entry
    data = pd.DataFrame({
        "entry": np.r_[entry, control_entry[alive]], "exit": np.r_[end, dpv[alive]],
        "event": np.r_[event, np.ones(alive.sum(), int)], "trial": np.r_[np.ones(len(entry)), np.zeros(alive.sum())]})
    fit = fit_cox(data["entry"], data["exit"], data["event"], data[["trial"]])
    assert fit.hr_lower[0] < 0.2 < fit.hr_upper[0]
    assert abs(fit.hr[0] - 0.2) < 0.02
