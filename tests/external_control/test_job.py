"""The external_control job on the sample registry and the simulated trial: its tables,
their determinism and disclosure, clear messages for a bad trial arm, and an analysis whose
criteria leave no registry patient."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from conftest import REPOSITORY, SAMPLE, patient, write_export
from smanh.config.external_control import EXTERNAL_CONTROL_TABLES, external_control_options
from smanh.config.validation import validate_config
from smanh.errors import ConfigError
from smanh.external_control.evalue import evalues_hazard_ratio
from smanh.external_control.job import TrialArmError, external_control, read_trial_arm
from smanh.ingest.export import RegistryExport
from smanh.ingest.registry import read_registry
from smanh.jobs.files import as_written
from smanh.report.external_control import external_control_context, external_control_warnings, primary_interval

TRIAL = REPOSITORY / "data" / "sample_trial"


def options(replicates=60, **eligibility):
    criteria = {"sma_types": ["1"], "smn2_copies": [2], "age_at_time_zero_years": [0, 0.5],
                "onset_age_years": [0, 0.5], "baseline_score": {"scale": "CHOP_INTEND"}, **eligibility}
    return external_control_options(validate_config({"registry": {"path": str(SAMPLE)}, "external_control": {
        "trial": {"path": str(TRIAL), "data_cutoff": "2023-06-30"}, "eligibility": criteria,
        "motor": {"scale": "CHOP_INTEND"}, "bootstrap": {"replicates": replicates, "seed": 5}}}))


@pytest.fixture(scope="module")
def registry():
    return read_registry(SAMPLE)


@pytest.fixture(scope="module")
def trial():
    return read_trial_arm(TRIAL, "2023-06-30")


@pytest.fixture(scope="module")
def result(registry, trial):
    return external_control(registry, trial, options(), min_cell_count=5)


def test_every_table_is_written_with_rows(result):
    assert list(result.tables) == list(EXTERNAL_CONTROL_TABLES)
    for name, table in result.tables.items():
        assert len(table), name
    effects = result.tables["external_control_effects"]
    assert set(effects["method"]) == {"unadjusted", "weighting", "matching"}
    assert set(effects["model"]) == {"none", "primary", "without_baseline_score"}
    assert (effects["boot_replicates"] > 50).all()
    hr = effects[effects["measure"] == "hazard_ratio"]
    assert (hr["boot_lo"] < hr["estimate"]).all() and (hr["estimate"] < hr["boot_hi"]).all()
    assert (hr["evalue_estimate"] > hr["evalue_limit"]).all() and (hr["evalue_limit"] > 1).all()
    assert set(result.figures) == {"external_control_km_death_or_permanent_ventilation", "external_control_love",
                                   "external_control_overlap"}
    assert list(result.trial_sources["table"]) == ["patients", "events", "treatments", "assessments"]


def test_no_identifier_leaves_the_job(result, trial, registry):
    ids = set(trial.patients["patient_id"]) | set(registry.patients["patient_id"])
    for name, table in result.tables.items():
        text = as_written(table).to_csv(index=False)
        assert not ids & set(re.findall(r"[A-Za-z0-9]+", text)), name


def test_two_runs_write_identical_tables(result, registry, trial):
    again = external_control(registry, trial, options(), min_cell_count=5)
    for name, table in result.tables.items():
        pd.testing.assert_frame_equal(as_written(table), as_written(again.tables[name]), check_exact=True)


def test_the_report_shows_trial_counts_only_through_suppression(result):
    tables = {name: as_written(t) for name, t in result.tables.items()}
    context = external_control_context(tables, [], min_cell_count=5)
    balance = context["balance"]
    matched = balance[(balance["sample"] == "matching") & (balance["model"] == "primary")]
    # 39 of 40 trial patients matched: 39 would give away the one left out
    assert set(matched["n trial"]) == {"≈40"}
    flow = context["flow"]
    assert set(flow.loc[(flow["arm"] == "trial") & (flow["step"] == "excluded"), "n"]) == {"<5"}
    warnings = external_control_warnings(tables, 5)
    assert any("within the caliper" in w for w in warnings)
    assert not any(re.search(r"\b[1-4] trial patients", w) for w in warnings)


def test_a_bad_trial_arm_is_named_in_a_clear_message(tmp_path):
    with pytest.raises(TrialArmError, match=r"trial arm \(external_control.trial.path '.*nowhere'\): export "
                                            r"'.*nowhere' does not exist"):
        read_trial_arm(tmp_path / "nowhere")
    folder = write_export(tmp_path / "bad", patients=[patient("T1", sma_type="7")])
    with pytest.raises(TrialArmError, match=r"trial arm .*: its export has 1 problem\(s\):\n  - patients.csv, "
                                            r"line 2, column 'sma_type', value '7'"):
        read_trial_arm(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrialArmError, match="patients.csv: required file is missing"):
        read_trial_arm(tmp_path / "empty")


def test_criteria_that_leave_no_registry_patient_give_tables_that_say_so(registry, trial):
    o = options(sma_types=["0"])  # no trial patient either: the trial arm is type 1
    result = external_control(registry, trial, o, min_cell_count=5)
    effects = result.tables["external_control_effects"]
    assert len(effects) == 1 and effects["note"].str.contains("no trial patient meets").all()
    others = registry.patients["sma_type"].str[0] != "1"
    no_type_1 = RegistryExport(registry.patients[others], registry.events, registry.treatments,
                               registry.assessments)
    result = external_control(no_type_1, trial, options(), min_cell_count=5)
    flow = result.tables["external_control_flow"]
    assert flow.loc[(flow["arm"] == "registry") & (flow["step"] == "eligible"), "n"].item() == 0
    assert flow.loc[(flow["arm"] == "trial") & (flow["step"] == "eligible"), "n"].item() == 40
    effects = result.tables["external_control_effects"]
    assert effects["estimate"].isna().all()
    assert effects["note"].eq("no registry patient meets the eligibility criteria: nothing to compare").all()
    for name in ("external_control_curves", "external_control_at_risk"):
        assert result.tables[name].empty
    assert result.tables["external_control_balance"]["note"].str.contains("nothing to compare").all()
    context = external_control_context({n: as_written(t) for n, t in result.tables.items()}, [], 5)
    assert "no registry patient" in context["nothing_to_compare"]
    assert all(f.axes for f in result.figures.values())  # labelled panels, never blank


@pytest.mark.parametrize("n_registry", [0, 1, 3])
def test_one_trial_patient_and_a_handful_of_controls_run_to_tables(registry, trial, n_registry):
    keep_trial = trial.patients["patient_id"].iloc[:1]
    one = RegistryExport(trial.patients.iloc[:1], trial.events[trial.events["patient_id"].isin(keep_trial)],
                         trial.treatments.iloc[:1], trial.assessments[trial.assessments["patient_id"].isin(keep_trial)])
    eligible = registry.patients[(registry.patients["sma_type"].str[0] == "1")
                                 & (registry.patients["enrolment_date"] - registry.patients["birth_date"]
                                    < pd.Timedelta(days=100))]
    ids = eligible["patient_id"].iloc[:n_registry]
    few = RegistryExport(registry.patients[registry.patients["patient_id"].isin(ids)],
                         *(registry.table(t)[registry.table(t)["patient_id"].isin(ids)]
                           for t in ("events", "treatments", "assessments")))
    result = external_control(few, one, options(replicates=20), min_cell_count=5)
    assert set(result.tables) == set(EXTERNAL_CONTROL_TABLES)
    effects = result.tables["external_control_effects"]
    missing = effects[effects["estimate"].isna()]
    assert missing["note"].fillna("").ne("").all(), "every estimate left out says why"
    assert missing["boot_replicates"].eq(0).all() and missing["boot_lo"].isna().all()
    if n_registry:
        rmst = effects[(effects["method"] == "unadjusted") & (effects["measure"] == "rmst_difference")]
        assert np.isfinite(rmst["estimate"]).all() and rmst["boot_replicates"].item() == 20


def test_a_trial_export_with_its_own_date_format_is_read(tmp_path):
    """external_control.trial.date_format: 31.12.2019 read as 2019-12-31, as the registry's
    date_format reads its export; the ISO default refuses it with the trial arm named."""
    folder = write_export(tmp_path / "trial", patients=[patient(
        "T1", birth_date="31.12.2019", sma_type="1", smn2_copies="2", onset_date="15.02.2020",
        diagnosis_date="01.03.2020", enrolment_date="02.03.2020", last_contact_date="30.06.2023")],
        treatments=[{"patient_id": "T1", "treatment": "nusinersen", "start_date": "03.03.2020"}])
    config = {"registry": {"path": str(SAMPLE)}, "external_control": {
        "trial": {"path": str(folder), "data_cutoff": "2023-06-30", "date_format": "%d.%m.%Y"}}}
    o = external_control_options(validate_config(config))
    assert o.trial_date_format == "%d.%m.%Y"
    trial = read_trial_arm(o.trial_path, o.trial_data_cutoff, o.trial_date_format)
    row = trial.patients.iloc[0]
    assert row["birth_date"] == pd.Timestamp("2019-12-31")
    assert row["last_contact_date"] == pd.Timestamp("2023-06-30")
    assert trial.treatments["start_date"].iloc[0] == pd.Timestamp("2020-03-03")
    with pytest.raises(TrialArmError, match=r"(?s)trial arm .*birth_date.*31\.12\.2019"):
        read_trial_arm(folder, "2023-06-30")
    config["external_control"]["trial"]["date_format"] = "%d.%m.%y"
    with pytest.raises(ConfigError, match=r"config key 'external_control.trial.date_format'"):
        validate_config(config)
    assert external_control_options(validate_config({"registry": {"path": str(SAMPLE)}, "external_control": {
        "trial": {"path": str(folder)}}})).trial_date_format == "%Y-%m-%d"


def _without_scale(registry, keep=None):
    """The registry without its CHOP_INTEND assessments (``keep``: those of these patients stay)."""
    a = registry.assessments
    drop = (a["scale"] == "CHOP_INTEND") & ~(a["patient_id"].isin(keep) if keep is not None else False)
    return RegistryExport(registry.patients, registry.events, registry.treatments, a[~drop])


def test_a_registry_without_the_baseline_scale_says_so_plainly(registry, trial):
    """No CHOP_INTEND row in the registry: every eligible registry patient's baseline score
    is unknown. The primary model says why it is not estimable (not 'needs patients in both
    arms'), the balance shows no SMD for the score (not a perfect 0), every motor difference
    left out says why, the report warns, the log names the scale."""
    result = external_control(_without_scale(registry), trial, options(replicates=20), min_cell_count=5)
    flow = result.tables["external_control_flow"]
    assert flow.loc[(flow["arm"] == "registry") & (flow["step"] == "eligible"), "n"].item() > 200
    why = "no registry patient has a baseline CHOP_INTEND score (the registry export records none)"
    effects = result.tables["external_control_effects"]
    primary = effects[effects["model"] == "primary"]
    assert primary["estimate"].isna().all()
    assert primary["note"].eq(f"propensity model not estimable: {why}").all()
    assert not effects["note"].str.contains("both arms").any()
    assert effects.loc[effects["model"] == "without_baseline_score", "estimate"].notna().all()

    balance = result.tables["external_control_balance"]
    score = balance[(balance["sample"] == "unadjusted") & (balance["covariate"] == "baseline_score")].iloc[0]
    assert np.isnan(score["smd"]) and np.isnan(score["mean_registry"])
    assert score["mean_trial"] == pytest.approx(trial.assessments.pipe(lambda a: a[a["scale"] == "CHOP_INTEND"])
                                                .groupby("patient_id")["score"].first().mean())
    assert score["note"] == "no registry patient in the sample has a known value: no standardised difference"
    love = result.figures["external_control_love"]
    assert "baseline score" not in [t.get_text() for t in love.axes[0].get_yticklabels()]

    motor = result.tables["external_control_motor"]
    assert motor["estimate"].isna().all() and motor["note"].ne("").all(), "every estimate left out says why"
    unadjusted = motor[(motor["model"] == "none") & (motor["outcome"] == "score")].iloc[0]
    assert unadjusted["n_registry"] == 0
    assert unadjusted["note"] == ("no registry patient has a CHOP_INTEND assessment 12 ± 3 months after time zero "
                                  "(the registry export records no CHOP_INTEND assessment)")

    warnings = external_control_warnings({n: as_written(t) for n, t in result.tables.items()}, 5)
    assert f"External control (primary model, ATT weighting): propensity model not estimable: {why}." in warnings
    assert any(w.startswith("External control (motor outcome): no registry patient has a CHOP_INTEND") for w in warnings)
    assert result.messages == [
        "the registry export records no CHOP_INTEND assessment (the scale of external_control."
        "eligibility.baseline_score.scale and motor.scale): no registry patient has a CHOP_INTEND score to analyse"]


def test_baseline_scores_outside_the_window_are_told_from_none_recorded(registry, trial):
    """CHOP_INTEND recorded, but only for patients of another SMA type: no eligible registry
    patient has a baseline score within the window; nothing is logged."""
    others = registry.patients.loc[registry.patients["sma_type"].str[0] != "1", "patient_id"]
    result = external_control(_without_scale(registry, keep=others), trial, options(replicates=0), 5)
    effects = result.tables["external_control_effects"]
    assert effects.loc[effects["model"] == "primary", "note"].eq(
        "propensity model not estimable: no registry patient has a baseline CHOP_INTEND score "
        "(none within the 1 month before time zero)").all()
    motor = result.tables["external_control_motor"]
    change = motor[(motor["model"] == "none") & (motor["outcome"] == "change_from_baseline")].iloc[0]
    assert change["note"] == "no registry patient has a CHOP_INTEND assessment 12 ± 3 months after time zero"
    assert result.messages == []


def test_motor_differences_left_out_for_want_of_a_baseline_say_so(registry, trial):
    """Registry patients with an outcome assessment but none at baseline: the change is
    missing, and its note names the baseline."""
    a = trial.assessments
    dosing = a["patient_id"].map(trial.treatments.groupby("patient_id")["start_date"].min())
    no_baseline = RegistryExport(trial.patients, trial.events, trial.treatments,
                                 a[(a["scale"] != "CHOP_INTEND") | (a["date"] > dosing)])
    result = external_control(registry, no_baseline, options(replicates=0), 5)
    motor = result.tables["external_control_motor"]
    change = motor[(motor["model"] == "none") & (motor["outcome"] == "change_from_baseline")].iloc[0]
    assert np.isnan(change["estimate"])
    assert change["note"] == ("no trial patient has both a CHOP_INTEND assessment within the 1 month before time "
                              "zero and a CHOP_INTEND assessment 12 ± 3 months after time zero")
    assert motor[(motor["model"] == "none") & (motor["outcome"] == "score")]["estimate"].notna().all()
    assert motor.loc[motor["estimate"].isna(), "note"].ne("").all()


def test_the_report_shows_the_robust_interval_first_for_matching(result):
    """Matching's bootstrap interval over-covers (98-100% in the simulation): its robust
    interval comes first, the bootstrap one beside it; the other samples the reverse. The
    E-value's limit is the primary interval's."""
    tables = {name: as_written(t) for name, t in result.tables.items()}
    context = external_control_context(tables, [], min_cell_count=5)
    effects = tables["external_control_effects"]
    shown = context["effects"]["death_or_permanent_ventilation"]
    rows = effects[effects["endpoint"] == "death_or_permanent_ventilation"].reset_index(drop=True)
    assert list(shown.columns[6:9]) == ["estimate (95% CI)", "95% CI", "other 95% CI"]
    for r, (_, s) in zip(rows.itertuples(), shown.iterrows()):
        first, other = ((r.lo, r.hi), (r.boot_lo, r.boot_hi)) if r.method == "matching" else (
            (r.boot_lo, r.boot_hi), (r.lo, r.hi))
        assert s["95% CI"] == ("robust" if r.method == "matching" else "bootstrap")
        assert s["estimate (95% CI)"].endswith(f"({first[0]:.2f} to {first[1]:.2f})")
        assert s["other 95% CI"] == f"{'bootstrap' if r.method == 'matching' else 'robust'}: " \
                                    f"{other[0]:.2f} to {other[1]:.2f}"
    hr = effects[(effects["measure"] == "hazard_ratio") & (effects["method"] == "matching")]
    for r in hr.itertuples():
        assert r.evalue_limit == pytest.approx(evalues_hazard_ratio(r.estimate, r.lo, r.hi, "common")[1], rel=1e-12)
    motor = context["motor"]
    assert list(motor["95% CI"].unique()) == ["bootstrap", "robust"]
    assert (motor["95% CI"] == "robust").eq(tables["external_control_motor"]["method"] == "matching").all()


def test_the_primary_interval_is_whichever_there_is_where_only_one_is():
    assert primary_interval("matching", True, True) == "robust"
    assert primary_interval("weighting", True, True) == primary_interval("unadjusted", True, True) == "bootstrap"
    assert primary_interval("matching", True, False) == "bootstrap"
    assert primary_interval("weighting", False, True) == "robust"
