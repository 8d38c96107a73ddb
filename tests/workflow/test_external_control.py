"""The external-control analysis in the whole workflow: the sample config (config/config.yaml)
runs it on data/sample_trial with its report section; criteria that leave no registry
patient give a report that says so; a bad trial arm stops with a clear message; a config
without the key runs no part of it."""

from __future__ import annotations

import html as html_lib
import re

import pandas as pd
import pytest
import yaml

from conftest import REPOSITORY, SAMPLE, patient, run_snakemake, write_export
from smanh.config.external_control import EXTERNAL_CONTROL_TABLES

pytestmark = pytest.mark.workflow

TRIAL = REPOSITORY / "data" / "sample_trial"


def sample_config(registry=SAMPLE, **changes) -> str:
    """config/config.yaml with absolute paths (the run directory is elsewhere)."""
    config = yaml.safe_load((REPOSITORY / "config" / "config.yaml").read_text())
    config["registry"]["path"] = str(registry)
    config["external_control"]["trial"]["path"] = str(TRIAL)
    for key, value in changes.items():
        config["external_control"][key] = value
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="module")
def external_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("external")
    result = run_snakemake(run_dir, sample_config())
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir


def section(html: str) -> str:
    start = html.index('<h2 id="external-control">')
    part = html[start:html.index('<h2 id="warnings">')]
    part = re.sub(r'src="data:[^"]+"', "", part)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", part))


def test_the_sample_config_runs_the_section(external_run):
    tables = external_run / "results" / "tables"
    for name in EXTERNAL_CONTROL_TABLES:
        assert (tables / f"{name}.csv").stat().st_size > 0, name
    effects = pd.read_csv(tables / "external_control_effects.csv")
    estimated = effects[effects["estimate"].notna()]
    assert (estimated.loc[estimated["measure"] == "hazard_ratio", "boot_replicates"] == 1000).all()
    # a landmark can lie beyond a replicate's follow-up of an arm: fewer replicates there
    assert (estimated["boot_replicates"] > 500).all()
    html = (external_run / "results" / "report" / "report.html").read_text(encoding="utf-8")
    assert '<a href="#external-control">' in html
    text = section(html)
    for heading in ("Eligibility and flow", "Covariate balance", "Death or permanent ventilation", "Death",
                    "Performance-criterion form", "Motor outcome", "Assumptions"):
        assert heading in text, heading
    figures = external_run / "results" / "figures"
    for stem in ("external_control_km_death_or_permanent_ventilation", "external_control_love",
                 "external_control_overlap"):
        assert (figures / f"{stem}.png").stat().st_size > 10_000


def test_every_number_of_the_section_is_in_its_tables_or_the_config(external_run):
    known = set()
    for path in (external_run / "results" / "tables").glob("external_control_*.csv"):
        frame = pd.read_csv(path)
        for column in frame.columns:
            for v in pd.to_numeric(frame[column], errors="coerce").dropna():
                known |= {f"{v:.0f}", f"{v:.1f}", f"{v:.2f}", f"{v:.3f}", f"{round(v):,}"}
            for t in frame[column].astype(str):
                known.update(re.findall(r"-?\d+(?:\.\d+)?", t))
    config = yaml.safe_load(sample_config())["external_control"]
    known |= set(re.findall(r"\d+(?:\.\d+)?", str(config))) | {"95", "90", "0.1", "1", "2017", "6"}
    html = (external_run / "results" / "report" / "report.html").read_text(encoding="utf-8")
    text = section(html).split("Trial arm export")[0]  # file digests and rows follow
    missing = set()
    for token in re.findall(r"(?<![\w.≈<])-?\d[\d,]*(?:\.\d+)?", text):
        if token.replace(",", "") not in known and token.lstrip("-") not in known and token not in known:
            missing.add(token)
    assert not missing, sorted(missing)


def test_trial_counts_are_suppressed_and_no_trial_identifier_is_written(external_run):
    html = (external_run / "results" / "report" / "report.html").read_text(encoding="utf-8")
    start = html.index('<h2 id="external-control">')
    part = html[start:html.index('<h2 id="warnings">')]
    for table in re.findall(r"<table>.*?</table>", part, flags=re.S):
        headers = [html_lib.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
            cells = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
            for header, cell in zip(headers, cells):
                if header in ("n", "events", "n trial", "n registry"):
                    assert not re.fullmatch(r"[0-4]", cell), (header, cell)
    trial_ids = set(pd.read_csv(TRIAL / "patients.csv")["patient_id"])
    for path in (external_run / "results").rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".html", ".svg", ".parquet"):
            words = set(re.findall(rb"[A-Za-z0-9]+", path.read_bytes()))
            assert not {i.encode() for i in trial_ids} & words, path


def without_type_1(folder):
    """The sample registry without its type 1 patients: no registry patient is eligible."""
    tables = {t: pd.read_csv(SAMPLE / f"{t}.csv", dtype=str, keep_default_na=False)
              for t in ("patients", "events", "treatments", "assessments")}
    keep = set(tables["patients"].loc[~tables["patients"]["sma_type"].str.startswith("1"), "patient_id"])
    folder.mkdir()
    for name, frame in tables.items():
        frame[frame["patient_id"].isin(keep)].to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_criteria_that_leave_no_registry_patient_give_a_report_that_says_so(tmp_path):
    registry = without_type_1(tmp_path / "registry")
    config = sample_config(registry)
    run_dir = tmp_path / "run"
    result = run_snakemake(run_dir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    html = (run_dir / "results" / "report" / "report.html").read_text(encoding="utf-8")
    text = section(html)
    assert "Not estimated : no registry patient meets the eligibility criteria: nothing to compare" in text
    warnings = html[html.index('<h2 id="warnings">'):html.index('<h2 id="provenance">')]
    assert "External control: no registry patient meets the eligibility criteria" in warnings
    effects = pd.read_csv(run_dir / "results" / "tables" / "external_control_effects.csv")
    assert effects["estimate"].isna().all() and effects["note"].str.contains("no registry patient").all()


def test_a_bad_trial_arm_stops_with_a_clear_message(tmp_path):
    trial = write_export(tmp_path / "trial", patients=[patient("T1", sma_type="7")])
    config = sample_config(trial={"path": str(trial)})
    result = run_snakemake(tmp_path / "run", config, "results/tables/external_control_effects.csv")
    assert result.returncode != 0
    assert f"trial arm (external_control.trial.path '{trial}'): its export has 1 problem(s):" in result.stderr
    assert "patients.csv, line 2, column 'sma_type', value '7': must be one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_without_the_key_schedules_no_part_of_it(tmp_path):
    result = run_snakemake(tmp_path / "run", f"registry:\n  path: {SAMPLE}\n", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rule report" in result.stdout and "external_control" not in result.stdout
