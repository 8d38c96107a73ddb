"""``smanh run``: the workflow through Snakemake's command line, with a line per finished job.

Snakemake runs as a child process (``python -m snakemake``, the interpreter of this
command) with the workflow's profile — ``workflow/profiles/default`` or, with ``--slurm``,
``workflow/profiles/slurm``. Its output is condensed by :class:`Progress`: one line per
finished job, the project's own error messages (``ERROR: ...`` from the failing job) and,
for any other failure, the failed rule's log; ``--verbose`` shows Snakemake's output as it is.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from smanh.cli.paths import PROFILES, REPOSITORY, SAMPLE_CONFIG, SAMPLE_REGISTRY, SNAKEFILE, workflow_file
from smanh.errors import ConfigError, SmanhError

REPORT = Path("results") / "report" / "report.html"
PDF = Path("results") / "report" / "report.pdf"
LOG_TAIL = 15  # lines of a failed job's log shown when it holds no project error


def run_workflow(
    config: Path | None,
    registry: Path | None,
    out: Path,
    cores: int | None,
    slurm: bool,
    pdf: bool,
    verbose: bool,
    snakemake_options: tuple[str, ...] = (),
    echo: Callable[[str], None] = print,
) -> int:
    """Run the workflow in ``out`` (results under ``out/results``); Snakemake's exit status."""
    command = snakemake_command(config, registry, out, cores, slurm, pdf, snakemake_options)
    out.mkdir(parents=True, exist_ok=True)
    # A dry run's output is its point: shown as Snakemake prints it.
    dry_run = any(option in ("-n", "--dry-run", "--dryrun") for option in snakemake_options)
    progress = None if verbose or dry_run else Progress(out.resolve())
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", bufsize=1) as process:
        for line in process.stdout:
            if progress is None:
                echo(line.rstrip("\n"))
                continue
            for shown in progress.feed(line.rstrip("\n"), time.monotonic() - started):
                echo(shown)
        status = process.wait()
    if progress is not None:
        for shown in progress.finish(status):
            echo(shown)
    if status == 0 and not dry_run:
        for target in (REPORT, PDF) if pdf else (REPORT,):
            if (out / target).is_file():
                echo(f"{'PDF report' if target == PDF else 'Report'}: {(out / target).resolve()}")
    return status


def snakemake_command(
    config: Path | None,
    registry: Path | None,
    out: Path,
    cores: int | None,
    slurm: bool,
    pdf: bool,
    snakemake_options: tuple[str, ...] = (),
) -> list[str]:
    """The Snakemake command line; the config is validated first, so that a bad key stops
    here with its message rather than in Snakemake's traceback."""
    from smanh.config.validation import SCHEMA, load_schema, validate_config  # jsonschema: when it runs

    snakefile = workflow_file(SNAKEFILE)
    if slurm and cores is not None:
        raise SmanhError("--cores is for local runs; with --slurm, jobs in flight are set by the profile "
                         "(or: smanh run --slurm -- --jobs N)")
    bundled = config is None
    if bundled:  # the bundled study config, on the bundled sample registry by default
        config = workflow_file(SAMPLE_CONFIG)
        registry = registry or SAMPLE_REGISTRY
    config = config.expanduser().resolve()
    if not config.is_file():
        raise SmanhError(f"config file '{config}' does not exist")
    try:
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"config file '{config}' is not valid YAML: {error}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"config file '{config}' must be a mapping of keys to values")
    overrides: dict[str, dict] = {}
    if registry is not None:
        if settings.get("registry", {}).get("format", "canonical") != "canonical":
            raise SmanhError("--registry names a canonical export; for a REDCap export set registry.redcap, "
                             "for an OMOP CDM database registry.omop, in the config")
        overrides["registry"] = {"path": str(registry.expanduser().resolve())}
        settings.setdefault("registry", {}).update(overrides["registry"])
    trial = settings.get("external_control", {}).get("trial", {})
    if bundled and "path" in trial:  # the bundled trial arm, wherever the run directory is
        overrides["external_control"] = {"trial": {"path": str(REPOSITORY / trial["path"])}}
    validate_config(settings, load_schema(workflow_file(SCHEMA)))
    profile = workflow_file(PROFILES / ("slurm" if slurm else "default"))
    command = [
        sys.executable, "-m", "snakemake", *(("all", str(PDF)) if pdf else ()),
        "--snakefile", str(snakefile), "--directory", str(out.resolve()),
        "--workflow-profile", str(profile), "--configfile", str(config),
    ]
    if overrides:  # merged into the config file's mappings (Snakemake updates nested keys)
        command += ["--config", *(f"{key}={json.dumps(value)}" for key, value in overrides.items())]
    if cores is not None:
        command += ["--cores", str(cores)]
    return command + list(snakemake_options)


JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")
JOB_FIELD = re.compile(r"^    (jobid|wildcards|log): (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
# Jobs sent to SLURM are announced in one line; the wildcards' values are folders of the log.
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid \d+ \(log: .*/rule_(\w+)/(?:(.+)/)?[^/]+\)\.?$")
STEPS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done$")
FAILED_RULE = re.compile(r"^Error in rule (\w+):$")
PROJECT_ERROR = re.compile(r"^ERROR: ")
# Continuation lines of a project error: problem lists, "... and N more", where the list is.
PROJECT_ERROR_MORE = re.compile(r"^(  - |  \.\.\. and |The full list is in )")
# The first line of an error of Snakemake's own (before any job ran): WorkflowError,
# MissingInputException in rule ..., SyntaxError in file ...
SNAKEMAKE_ERROR = re.compile(r"^\w+(Error|Exception)\b")
LOG_BLOCK = re.compile(r"^Logfile (.*):$")
RULER = re.compile(r"^={20,}$")
COMPLETE_LOG = re.compile(r"^Complete log\(s\): (.*)$")


@dataclass
class Progress:
    """Snakemake's output condensed, line by line: ``feed`` returns the lines to show,
    ``finish`` what to say at the end."""

    out: Path
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    current: dict[str, str] | None = None
    finished: tuple[str, str] | None = None
    errors: list[str] = field(default_factory=list)
    in_error: bool = False
    log_block: int = 0  # 1: after "Logfile ...:", 2: inside its ruled block
    failed: list[dict[str, str]] = field(default_factory=list)
    snakemake_error: list[str] = field(default_factory=list)
    complete_log: str = ""
    nothing_to_do: bool = False

    def feed(self, line: str, elapsed: float = 0.0) -> list[str]:
        if self.log_block:  # show-failed-logs repeats the failed job's log: shown already
            if RULER.match(line):
                self.log_block = 2 if self.log_block == 1 else 0
            return []
        if self.in_error and PROJECT_ERROR_MORE.match(line):
            self.errors.append(line)
            return [line]
        self.in_error = False
        if PROJECT_ERROR.match(line):
            self.errors.append(line)
            self.in_error = True
            return [line]
        if self.snakemake_error and not COMPLETE_LOG.match(line):
            self.snakemake_error.append(line)
        if match := JOB_HEADER.match(line):
            self.current = {"rule": match[1]}
        elif (match := JOB_FIELD.match(line)) and self.current is not None:
            self.current[match[1]] = match[2]
            if match[1] == "jobid":
                self.jobs[match[2]] = self.current
        elif match := SUBMITTED.match(line):
            self.jobs.setdefault(match[1], {"rule": match[2], "wildcards": (match[3] or "").replace("/", " ")})
        elif match := FINISHED.match(line):
            self.finished = (match[1], match[2])
        elif (match := STEPS.match(line)) and self.finished is not None:
            jobid, rule = self.finished
            self.finished = None
            wildcards = self.jobs.get(jobid, {}).get("wildcards", "")
            done = f"[{match[1]:>{len(match[2])}}/{match[2]}]"
            return [f"{done} {rule}{' ' + wildcards if wildcards else ''}  ({elapsed:.0f} s)"]
        elif match := FAILED_RULE.match(line):
            self.current = {"rule": match[1]}
            self.failed.append(self.current)
        elif LOG_BLOCK.match(line):
            self.log_block = 1
        elif match := COMPLETE_LOG.match(line):
            self.complete_log = match[1]
        elif line.startswith("Nothing to be done"):
            self.nothing_to_do = True
        elif SNAKEMAKE_ERROR.match(line) and not self.failed and not self.snakemake_error:
            self.snakemake_error.append(line)
        return []

    def finish(self, status: int) -> list[str]:
        if status == 0:
            return ["Nothing to be done: every result is up to date."] if self.nothing_to_do else ["Done."]
        shown = []
        for job in self.failed:
            log = job.get("log", "").replace(" (check log file(s) for error details)", "")
            wildcards = f" ({job['wildcards']})" if job.get("wildcards") else ""
            shown.append(f"Job {job['rule']}{wildcards} failed" + (f"; its log: {self.out / log}" if log else ""))
            if not self.errors and log:  # not one of the project's errors: show the end of the log
                shown += [f"  | {line}" for line in _tail(self.out / log.split(",")[0].strip(), LOG_TAIL)]
        if not self.failed and not self.errors:
            shown += [line for line in self.snakemake_error if line.strip()] or [
                f"Snakemake stopped with exit status {status}."]
        if self.complete_log:
            shown.append(f"Snakemake's log: {self.complete_log}")
        return shown


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []
