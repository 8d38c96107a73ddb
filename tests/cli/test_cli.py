"""The ``smanh`` command: ``check`` prints the workflow's own problem messages for every
malformed case, ``init`` writes a valid commented config for what an export supports, ``run``
runs the workflow with a line per job and ends with the report's path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from conftest import REPOSITORY, SAMPLE, patient, write_export
from smanh.cli import main
from smanh.cli.exports import locate_export
from smanh.cli.run import Progress, snakemake_command
from smanh.config.validation import load_schema, validate_config
from smanh.errors import SmanhError
from smanh.ingest.problems import Problem

sys.path.insert(0, str(REPOSITORY / "tests" / "ingest"))  # the malformed cases live with the ingest tests
from test_ingest import write_files  # noqa: E402

from malformed_cases import CASES, P1, P2, patients, table  # noqa: E402

SAMPLE_REDCAP = REPOSITORY / "data" / "sample_redcap"
SCHEMA = load_schema()


def smanh(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def smanh_process(*args, cwd=None) -> subprocess.CompletedProcess:
    """The command as a user runs it, in its own process (this checkout's package first)."""
    path = os.pathsep.join(filter(None, [str(REPOSITORY / "scripts"), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "smanh.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": path})


def problem_block(text: str) -> list[str]:
    """The project's error message in an output: the ERROR line and the problem lines."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ERROR: "))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("  - "):
            break
        block.append(line)
    return block


# --------------------------------------------------------------------------- the command
def test_entry_point_is_declared():
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"smanh": "smanh.cli:main"}


def test_version_and_help_without_pandas():
    code = ("import sys\nfrom smanh.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('pandas loaded' if 'pandas' in sys.modules else 'no pandas')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "smanh check EXPORT" in result.stdout and result.stdout.rstrip().endswith("no pandas")
    import smanh as package

    assert smanh("--version").output == f"smanh, version {package.__version__}\n"


# --------------------------------------------------------------------------- check
@pytest.mark.parametrize("case", sorted(CASES))
def test_check_prints_every_problem_of_each_malformed_case(case, tmp_path):
    files, expected = CASES[case]
    folder = write_files(tmp_path / case, files)
    result = smanh("check", folder)
    assert result.exit_code == 1, result.output
    problems = sorted(Problem(*p) for p in expected)
    assert problem_block(result.output) == [
        f"ERROR: the registry export has {len(problems)} problem(s):", *(f"  - {p}" for p in problems)]
    assert "Traceback" not in result.output


# A row-level rule, a missing column, a file that cannot be read, a non-UTF-8 file.
WORKFLOW_CASES = ["unknown_sma_type", "missing_required_column", "utf16_file", "latin1_names"]


@pytest.mark.workflow
@pytest.mark.parametrize("case", WORKFLOW_CASES)
def test_check_prints_what_the_workflow_prints(case, tmp_path):
    folder = write_files(tmp_path / case, CASES[case][0])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "my.yaml").write_text(f"registry:\n  path: {folder}\n")
    workflow = subprocess.run(
        [sys.executable, "-m", "snakemake", "results/canonical/sources.json", "-s", str(REPOSITORY / "Snakefile"),
         "--directory", str(run_dir), "--cores", "1", "--configfile", str(run_dir / "my.yaml")],
        capture_output=True, text=True)
    assert workflow.returncode != 0
    check = smanh_process("check", folder)
    assert check.returncode == 1
    assert problem_block(check.stdout) == problem_block(workflow.stderr)


def test_check_passes_the_sample_registry():
    result = smanh("check", SAMPLE)
    assert result.exit_code == 0, result.output
    counts = {t: len(pd.read_csv(SAMPLE / f"{t}.csv")) for t in ("patients", "events", "treatments", "assessments")}
    assert result.output.splitlines()[-1] == (
        f"No problems: {counts['patients']:,} patients, {counts['events']:,} events, "
        f"{counts['treatments']:,} treatment episodes, {counts['assessments']:,} assessments.")
    assert f"  patients.csv                 {counts['patients']:>10,} rows  utf-8" in result.output


def test_check_finds_a_redcap_export_and_its_dictionary():
    result = smanh("check", SAMPLE_REDCAP)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{SAMPLE_REDCAP / 'redcap_export.csv'}: REDCap export (data dictionary "
                                    "redcap_data_dictionary.csv, mapping redcap_mapping.yaml)")
    assert smanh("check", SAMPLE_REDCAP / "redcap_export.csv").exit_code == 0


def test_check_reads_european_dates_and_notes_the_encoding(tmp_path):
    text = patients(P1.replace("2010-01-01", "01.01.2010").replace(",DE", ",Košice"))
    folder = write_files(tmp_path / "eu", {"patients.csv": text.encode("cp1252")})
    result = smanh("check", folder)
    assert result.exit_code == 1
    assert "  - patients.csv, line 2, column 'birth_date', value '01.01.2010': must be a date YYYY-MM-DD" in result.output
    assert ("note: patients.csv: not UTF-8 (byte 0x9A on line 2 is not valid UTF-8); decoded as Windows-1252"
            in result.output)
    result = smanh("check", folder, "--date-format", "%d.%m.%Y")
    assert result.exit_code == 0, result.output
    bad = smanh("check", folder, "--date-format", "%d.%m.%y")
    assert bad.exit_code == 2 and "must hold %d, %m and %Y once each" in bad.output


def test_check_writes_the_problems_csv(tmp_path):
    folder = write_files(tmp_path / "x", {**CASES["unknown_sma_type"][0], "events.csv": ""})
    result = smanh("check", folder, "--problems-csv", tmp_path / "problems.csv")
    assert result.exit_code == 1
    problems = pd.read_csv(tmp_path / "problems.csv", keep_default_na=False)
    assert problems.columns.tolist() == ["file", "line", "column", "value", "rule"]
    assert len(problems) == 2 and f"Every problem is also in {tmp_path / 'problems.csv'}" in result.output


def test_an_unrecognised_folder_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = smanh("check", tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith(f"ERROR: '{tmp_path}' holds no canonical export")


def test_export_detection(tmp_path):
    assert locate_export(SAMPLE).kind == "folder of CSV files"
    redcap = locate_export(SAMPLE_REDCAP)
    assert (redcap.format, redcap.export.name, redcap.dictionary.name) == (
        "redcap", "redcap_export.csv", "redcap_data_dictionary.csv")
    (tmp_path / "export.xlsx").write_bytes(b"")
    assert locate_export(tmp_path / "export.xlsx").kind == ".xlsx workbook"
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("a.csv", "b.csv"):
        (folder / name).write_bytes((SAMPLE_REDCAP / "redcap_export.csv").read_bytes()[:200])
    (folder / "dict.csv").write_bytes((SAMPLE_REDCAP / "redcap_data_dictionary.csv").read_bytes())
    with pytest.raises(SmanhError, match="cannot tell the REDCap export .* a.csv, b.csv"):
        locate_export(folder)
    assert locate_export(folder / "a.csv").dictionary == folder / "dict.csv"


# --------------------------------------------------------------------------- init
def schema_keys(schema, prefix=""):
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path, sub
        if "properties" in sub:
            yield from schema_keys(sub, path)


def lookup(config, path):
    for part in path.split("."):
        config = config[part]
    return config


def test_init_on_the_sample_writes_every_key_with_a_comment(tmp_path):
    result = CliRunner().invoke(main, ["init", str(SAMPLE), "-o", str(tmp_path / "my.yaml")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "my.yaml").read_text()
    written = yaml.safe_load(text)
    defaults = validate_config({"registry": {"path": "-"}})
    assert written["registry"] == {"format": "canonical", "path": str(SAMPLE), "on_invalid": "error",
                                   "date_format": "%Y-%m-%d"}
    # The sample supports every endpoint and scale: the file is the defaults, key for key.
    assert {k: v for k, v in written.items() if k != "registry"} == {
        k: v for k, v in defaults.items() if k != "registry"}
    lines = text.splitlines()
    for path, sub in schema_keys(SCHEMA):
        if path.startswith(("registry.redcap", "registry.omop", "external_control")):
            continue
        key = path.rsplit(".", 1)[-1]
        depth = path.count(".")
        # a key without default is there too, commented out (unset); a part of its parent's
        # default (a change threshold's value) is set
        inherited = path.startswith("progression.change.thresholds.")
        unset = ("default" not in sub and "properties" not in sub and path != "registry.path"
                 and not inherited)
        pattern = rf"^{'  ' * depth}{'# ' if unset else ''}{re.escape(key)}:"
        at = next((i for i, line in enumerate(lines) if re.match(pattern, line)), None)
        assert at is not None, f"{path} is not in the file"
        assert lines[at - 1].lstrip().startswith("#"), f"{path} has no comment"
        if not unset:
            assert lookup(written, path) == lookup(validate_config(written), path)
    assert "# external_control:" in lines  # an analysis off unless configured: named, left out
    assert "Wrote" in result.stderr and "7 endpoint(s), 6 scale(s)" in result.stderr
    assert not re.search(r"^warning", result.stderr, re.M)


def test_init_leaves_out_what_the_export_cannot_support(tmp_path):
    folder = write_export(
        tmp_path / "export",
        patients=[patient("P1", smn2_copies=""), patient("P2", smn2_copies="", death_date="2019-01-01", last_contact_date="2019-01-01")],
        events=[{"patient_id": "P1", "event": "loss_of_independent_walking", "date": "2015-01-01"},
                {"patient_id": "P1", "event": "sits_independently", "date": "2011-01-01"}],
        assessments=[{"patient_id": "P1", "date": "2013-01-01", "scale": "RULM", "score": "12"}],
    )
    result = smanh("init", folder)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert config["analysis"]["endpoints"] == ["death"]
    assert config["progression"]["scales"] == ["RULM"]
    assert config["analysis"]["stratify_by"] == ["all", "sma_type"]
    validate_config(config)
    assert "  # - permanent_ventilation    # left out: no permanent_ventilation event in the export" in result.stdout
    assert ("  # - loss_of_independent_walking    # left out: no walks_independently event in the export "
            "(its population)") in result.stdout
    assert "  # - smn2_copies    # left out: no patient has smn2_copies" in result.stdout
    warnings = re.findall(r"^warning: (.*)$", result.stderr, re.M)
    assert "endpoint feeding_tube left out: no feeding_tube event in the export" in warnings
    assert ("endpoint death_or_permanent_ventilation left out: no permanent_ventilation event in the export"
            in warnings)
    assert "endpoint loss_of_independent_sitting left out: no loss_of_independent_sitting event in the export" in warnings
    assert "scale HFMSE left out: no HFMSE assessment in the export" in warnings
    assert "stratification smn2_copies left out: no patient has smn2_copies" in warnings
    assert len([w for w in warnings if w.startswith("endpoint")]) == 6
    assert len([w for w in warnings if w.startswith("scale")]) == 5


def test_init_detects_the_date_format(tmp_path):
    eu = write_files(tmp_path / "eu", {
        "patients.csv": patients(P1, P2).replace("2010-01-01", "01.01.2010").replace("2011-05-05", "05.05.2011")
        .replace("2010-09-01", "01.09.2010").replace("2020-01-01", "31.01.2020"),
    })
    result = smanh("init", eu)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert config["registry"]["date_format"] == "%d.%m.%Y"
    # No event and no death in this export: death is kept, as analysis.endpoints needs one.
    assert config["analysis"]["endpoints"] == ["death"]
    assert "warning: no endpoint's events occur in the export; death is kept" in result.stderr
    # Day and month both at most 12: either order reads every date; the choice is warned about.
    slashes = write_files(tmp_path / "slashes", {"patients.csv": patients(P1).replace("-", "/")
                          .replace("2010/01/01", "01/02/2010").replace("2010/09/01", "03/04/2010")
                          .replace("2011/01/01", "05/06/2011").replace("2012/01/01", "07/08/2012")
                          .replace("2020/01/01", "09/10/2020")})
    result = smanh("init", slashes)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["registry"]["date_format"] == "%d/%m/%Y"
    assert "warning: the dates read as well day first (DD/MM/YYYY) as month first" in result.stderr


def test_init_of_a_redcap_export_names_its_files(tmp_path):
    result = smanh("init", SAMPLE_REDCAP)
    assert result.exit_code == 0, result.output
    registry = yaml.safe_load(result.stdout)["registry"]
    assert registry["format"] == "redcap" and "path" not in registry
    assert registry["redcap"] == {"export": str(SAMPLE_REDCAP / "redcap_export.csv"),
                                  "dictionary": str(SAMPLE_REDCAP / "redcap_data_dictionary.csv")}


def test_init_stops_on_problems_of_whole_files_and_keeps_existing_files(tmp_path):
    folder = write_files(tmp_path / "x", {"patients.csv": patients(P1), "events.csv": ""})
    result = smanh("init", folder)
    assert result.exit_code == 1
    assert "  - events.csv: file is empty (no header row)" in result.output
    (tmp_path / "my.yaml").write_text("mine")
    result = smanh("init", SAMPLE, "-o", tmp_path / "my.yaml")
    assert result.exit_code == 1 and "exists" in result.output
    assert (tmp_path / "my.yaml").read_text() == "mine"
    assert smanh("init", SAMPLE, "-o", tmp_path / "my.yaml", "--force").exit_code == 0


def test_init_warns_about_row_problems_and_still_writes(tmp_path):
    folder = write_files(tmp_path / "x", {
        "patients.csv": patients(P1, P2.replace(",1b,", ",7,")),
        "events.csv": table("events.csv", "P1,niv_start,2013-01-01"),
    })
    result = smanh("init", folder)
    assert result.exit_code == 0
    assert ("warning: the export has 1 problem(s) (1 patient(s) would be excluded with registry.on_invalid: "
            f"exclude); list them with: smanh check {folder}") in result.stderr


# --------------------------------------------------------------------------- run
def test_run_command_line(tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text("registry:\n  path: data/sample\n")
    command = snakemake_command(config, SAMPLE, tmp_path / "run", 3, False, True, ("--dry-run",))
    assert command[:5] == [sys.executable, "-m", "snakemake", "all", "results/report/report.pdf"]
    assert command[command.index("--config") + 1] == f'registry={{"path": "{SAMPLE}"}}'
    assert command[command.index("--workflow-profile") + 1] == str(REPOSITORY / "workflow" / "profiles" / "default")
    assert command[-3:] == ["--cores", "3", "--dry-run"]
    slurm = snakemake_command(config, None, tmp_path / "run", None, True, False)
    assert slurm[slurm.index("--workflow-profile") + 1].endswith("profiles/slurm") and "--cores" not in slurm
    with pytest.raises(SmanhError, match="--cores is for local runs"):
        snakemake_command(config, None, tmp_path / "run", 2, True, False)


def test_run_without_a_config_runs_the_bundled_study_from_any_directory(tmp_path):
    """The bundled config's relative paths (registry and trial arm) name the repository's
    files, not the run directory's."""
    command = snakemake_command(None, None, tmp_path / "run", 2, False, False, ("--dry-run",))
    values = command[command.index("--config") + 1:command.index("--cores")]
    sample, trial = REPOSITORY / "data" / "sample", REPOSITORY / "data" / "sample_trial"
    assert values == [f'registry={{"path": "{sample}"}}', f'external_control={{"trial": {{"path": "{trial}"}}}}']
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_run_stops_on_a_bad_config_before_snakemake(tmp_path):
    (tmp_path / "bad.yaml").write_text(f"registry:\n  path: {SAMPLE}\nanalysis:\n  landmark_ages: [1, two]\n")
    result = smanh("run", "--config", tmp_path / "bad.yaml", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "config key 'analysis.landmark_ages[1]': 'two' is not of type 'number'" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.workflow
def test_run_dry_run_with_the_registry_override_and_the_slurm_profile(tmp_path):
    (tmp_path / "my.yaml").write_text("registry:\n  path: /nowhere\n")
    result = smanh_process("run", "--config", tmp_path / "my.yaml", "--registry", SAMPLE, "--out", tmp_path / "run",
                           "--slurm", "--", "--dry-run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"input: {SAMPLE}/assessments.csv" in result.stdout + result.stderr
    assert "This was a dry-run" in result.stdout and "Report:" not in result.stdout


@pytest.mark.workflow
def test_init_then_run_produces_the_report(tmp_path):
    """The README's quickstart: smanh init data/sample -o my.yaml && smanh run --config my.yaml --out run."""
    assert smanh_process("init", SAMPLE, "-o", "my.yaml", cwd=tmp_path).returncode == 0
    result = smanh_process("run", "--config", "my.yaml", "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = tmp_path / "run" / "results" / "report" / "report.html"
    assert report.stat().st_size > 100_000
    lines = result.stdout.splitlines()
    assert lines[-1] == f"Report: {report}"
    steps = [line for line in lines if re.match(r"^\[ *\d+/\d+\] ", line)]
    total = int(re.match(r"^\[ *\d+/(\d+)\]", steps[0])[1])
    assert len(steps) == total and re.match(r"^\[ *1/\d+\] ingest  \(\d+ s\)$", steps[0])
    assert any(re.match(r"^\[ *\d+/\d+\] survival_endpoint endpoint=death  \(\d+ s\)$", s) for s in steps)
    assert "Snakemake version" not in result.stdout  # Snakemake's own chatter stays out
    again = smanh_process("run", "--config", "my.yaml", "--out", "run", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.splitlines() == ["Nothing to be done: every result is up to date.", f"Report: {report}"]


@pytest.mark.workflow
def test_run_on_a_bad_export_prints_the_problems_not_a_traceback(tmp_path):
    folder = write_files(tmp_path / "bad", CASES["unknown_sma_type"][0])
    (tmp_path / "my.yaml").write_text(f"registry:\n  path: {folder}\n")
    result = smanh_process("run", "--config", tmp_path / "my.yaml", "--out", tmp_path / "run")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert problem_block(output) == problem_block(smanh("check", folder).output)
    assert f"Job ingest failed; its log: {tmp_path / 'run' / 'logs' / 'ingest.log'}" in output
    assert "Traceback" not in output and "RuleException" not in output


def test_progress_shows_a_failed_job_log_when_it_is_not_a_project_error(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "report.log").write_text("Traceback (most recent call last):\nKeyError: 'x'\n")
    progress = Progress(tmp_path)
    output = """rule report:
    input: results/summary.json
    log: logs/report.log
    jobid: 3
Error in rule report:
    message: None
    jobid: 3
    log: logs/report.log (check log file(s) for error details)
Logfile logs/report.log:
================================================================================
Traceback (most recent call last):
KeyError: 'x'
================================================================================
Shutting down, this might take some time.
WorkflowError:
At least one job did not complete successfully.
Complete log(s): /run/.snakemake/log/x.snakemake.log"""
    shown = [line for text in output.splitlines() for line in progress.feed(text)]
    assert shown == []
    assert progress.finish(1) == [
        f"Job report failed; its log: {tmp_path / 'logs' / 'report.log'}",
        "  | Traceback (most recent call last):",
        "  | KeyError: 'x'",
        "Snakemake's log: /run/.snakemake/log/x.snakemake.log",
    ]


def test_progress_shows_snakemake_errors_before_any_job():
    progress = Progress(REPOSITORY)
    for line in ["Building DAG of jobs...", "MissingInputException in rule ingest in file x.smk, line 1:",
                 "Missing input files for rule ingest:", "    affected files:", "        /x/patients.csv"]:
        progress.feed(line)
    assert progress.finish(1) == ["MissingInputException in rule ingest in file x.smk, line 1:",
                                  "Missing input files for rule ingest:", "    affected files:",
                                  "        /x/patients.csv"]


def test_progress_names_the_wildcards_of_slurm_jobs(tmp_path):
    """SLURM jobs are announced without a job block: the wildcards come from the log path."""
    progress = Progress(tmp_path)
    lines = [
        "Job 7 has been submitted with SLURM jobid 17 (log: /run/.snakemake/slurm_logs/rule_progression_scale/"
        "HINE2/17.log).",
        "Job 4 has been submitted with SLURM jobid 16 (log: /run/.snakemake/slurm_logs/rule_ingest/16.log).",
        "Finished jobid: 4 (Rule: ingest)", "1 of 22 steps (5%) done",
        "Finished jobid: 7 (Rule: progression_scale)", "2 of 22 steps (9%) done",
    ]
    shown = [line for text in lines for line in progress.feed(text, 12.3)]
    assert shown == ["[ 1/22] ingest  (12 s)", "[ 2/22] progression_scale HINE2  (12 s)"]
