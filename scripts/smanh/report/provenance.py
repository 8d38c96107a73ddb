"""Where a run's numbers come from: the workflow's version, software versions, git commit,
run date."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import smanh
from smanh.report.front_page import registry_facts

PACKAGES = ("smanh", "snakemake", "pandas", "numpy", "scipy", "lifelines", "matplotlib", "seaborn", "pyarrow", "jinja2")
REPOSITORY = Path(smanh.__file__).resolve().parents[2]


def workflow_version() -> str:
    """The release of smanh that ran (package metadata; no git needed)."""
    return smanh.__version__


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        if name == "smanh":  # the code that ran, whether installed or imported from scripts/
            versions[name] = workflow_version()
            continue
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(repository: Path = REPOSITORY) -> str:
    """The workflow's commit, with '-dirty' when it has uncommitted changes."""
    try:
        commit = _git(repository, "rev-parse", "HEAD")
        dirty = _git(repository, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def run_date() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def run_summary(sources: dict, config: dict, cohort_flow, km_summary, patients=None) -> dict:
    """``summary.json``: provenance (commit, run date, software, the export's files and
    what validation did, the effective config), the export's calendar facts (month of the
    first enrolment, number of sites; from the validated ``patients``) and the key tables,
    machine-readable."""
    return {
        "workflow": {"version": workflow_version(), "git_commit": git_commit(), "run_date": run_date()},
        "software": package_versions(),
        "registry": sources,
        "registry_facts": registry_facts(patients),
        "config": config,
        "cohort_flow": cohort_flow.to_dict(orient="records"),
        "kaplan_meier": km_summary.to_dict(orient="records"),
    }
