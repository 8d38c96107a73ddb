"""The SLURM profile as Snakemake reads it, without a cluster: a failed job is retried twice,
and each rule's memory grows with the attempt (the base times the attempt number).

``snakemake --dry-run --attempt N`` evaluates every job's resources as the N-th attempt
would; the profile's own expressions (``4000 * attempt``) are what is tested, through
Snakemake's parser, not a copy of them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from snakemake.cli import parse_args

from conftest import REPOSITORY, SAMPLE

PROFILE = REPOSITORY / "workflow" / "profiles" / "slurm"
# Memory of the first attempt per rule (MB) and wall time (minutes), as the README states them.
FIRST_ATTEMPT = {
    "ingest": (4000, 30),
    "analysis_dataset": (3000, 30),
    "survival_endpoint": (4000, 120),
    "progression_scale": (4000, 60),
    "cox_forest": (2000, 30),  # not listed: default-resources
    "report": (2000, 30),
}
JOB = re.compile(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", re.M)


def test_profile_retries_failed_jobs_twice():
    _, args = parse_args(["-s", str(REPOSITORY / "Snakefile"), "--workflow-profile", str(PROFILE), "-n"])
    assert args.retries == 2
    assert args.executor == "slurm"


@pytest.fixture(scope="module")
def resources_per_attempt(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("slurm-dry-run")
    (run_dir / "my.yaml").write_text(f"registry:\n  path: {SAMPLE}\n")
    per_attempt = {}
    for attempt in (1, 2, 3):
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--dry-run", "--attempt", str(attempt), "-s", str(REPOSITORY / "Snakefile"),
             "--directory", str(run_dir), "--configfile", str(run_dir / "my.yaml"), "--workflow-profile", str(PROFILE)],
            capture_output=True, text=True, cwd=run_dir,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        jobs = {}
        for rule, resources in JOB.findall(result.stdout + result.stderr):
            values = dict(item.split("=", 1) for item in resources.split(", "))
            jobs.setdefault(rule, set()).add((int(values["mem_mb"]), int(values["runtime"])))
        per_attempt[attempt] = jobs
    return per_attempt


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_memory_grows_with_the_attempt(resources_per_attempt, attempt):
    jobs = resources_per_attempt[attempt]
    assert set(FIRST_ATTEMPT) <= set(jobs)
    for rule, (memory, runtime) in FIRST_ATTEMPT.items():
        assert jobs[rule] == {(memory * attempt, runtime)}, rule
