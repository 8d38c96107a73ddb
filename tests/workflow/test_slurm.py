"""The workflow on a real SLURM cluster: the sample registry run through
``--executor slurm`` with workflow/profiles/slurm gives byte-identical tables to a local run.

Needs a reachable cluster (``sinfo`` answers and a node is up): ``make test-slurm`` (which
CI runs) starts a single-node one on this machine with scripts/slurm/start-cluster.sh. Without
a cluster the test is skipped — except where a cluster was promised (``SMANH_REQUIRE_SLURM=1``,
set by ``make test-slurm``, or ``CI=true``), where a missing cluster is a failure, so CI
cannot pass by skipping it.

The local test cluster has no accounting database: job states are read with ``squeue``
(``--slurm-status-command squeue``; its slurm.conf keeps finished jobs for MinJobAge = 600 s).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPOSITORY, SAMPLE

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

# Two endpoints, so that wildcard jobs of one rule run side by side on the cluster; the
# rest of the config is the default (every stratification, sensitivity analysis, figures).
CONFIG = f"""registry:
  format: canonical
  path: {SAMPLE}
analysis:
  endpoints: [death_or_permanent_ventilation, loss_of_independent_sitting]
"""
TIMEOUT_S = 900
UP_STATES = {"idle", "mix", "mixed", "alloc", "allocated", "comp", "completing"}


def cluster_problem() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one can."""
    if shutil.which("sinfo") is None:
        return "sinfo is not installed"
    try:
        result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if result.returncode != 0:
        return f"sinfo failed: {result.stderr.strip()}"
    states = {s.rstrip("*~#!%$@^-") for s in result.stdout.split()}
    if not states & UP_STATES:
        return f"no SLURM node is up (sinfo node states: {sorted(states) or 'none'})"
    return None


def cluster_required() -> bool:
    return os.environ.get("SMANH_REQUIRE_SLURM") == "1" or os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem is None:
        return
    message = f"{problem}; start one with scripts/slurm/start-cluster.sh (or: make test-slurm)"
    if cluster_required():
        pytest.fail(f"a SLURM cluster is required here (CI or SMANH_REQUIRE_SLURM=1): {message}")
    pytest.skip(message)


def snakemake(run_dir, *options):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "my.yaml").write_text(CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPOSITORY / "Snakefile"), "--directory", str(run_dir),
         "--configfile", str(run_dir / "my.yaml"), *options],
        capture_output=True, text=True, cwd=run_dir.parent, timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, f"snakemake {' '.join(options)} failed:\n{result.stderr[-6000:]}"
    return result


def tables(run_dir):
    folder = run_dir / "results" / "tables"
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    local_dir = tmp_path_factory.mktemp("local")
    snakemake(local_dir, "--cores", "2")
    slurm_dir = tmp_path_factory.mktemp("slurm")
    slurm = snakemake(
        slurm_dir,
        "--workflow-profile", str(REPOSITORY / "workflow" / "profiles" / "slurm"),
        # The local test cluster: no slurmdbd, so job states come from squeue; short
        # polling intervals, as its jobs take seconds.
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "2",
        "--max-status-checks-per-second", "2",
        "--slurm-keep-successful-logs",
    )
    return local_dir, slurm_dir, slurm


def test_jobs_ran_on_slurm(runs):
    _, slurm_dir, slurm = runs
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", slurm.stderr)
    assert submitted, "no job was submitted to SLURM:\n" + slurm.stderr[-3000:]
    logs = list((slurm_dir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(logs) == len(submitted), (len(logs), len(submitted))
    # Every rule that computes something went to the cluster; only the cheap local rules ran here.
    for rule in ("ingest", "analysis_dataset", "survival_endpoint"):
        assert (slurm_dir / ".snakemake" / "slurm_logs" / f"rule_{rule}").is_dir(), rule
    assert not (slurm_dir / ".snakemake" / "slurm_logs" / "rule_report").exists()


def test_slurm_tables_are_byte_identical_to_a_local_run(runs):
    local_dir, slurm_dir, _ = runs
    local, slurm = tables(local_dir), tables(slurm_dir)
    assert {"km_summary.csv", "km_curves.csv", "cohort_flow.csv"} <= set(local)
    assert sorted(slurm) == sorted(local)
    different = [name for name in local if slurm[name] != local[name]]
    assert not different, f"tables differ between the SLURM and the local run: {different}"
    assert (slurm_dir / "results" / "report" / "report.html").exists()


def test_a_failed_job_is_resubmitted_with_more_memory(cluster, tmp_path):
    """The profile's retries on the cluster: a job that needs 4000 MB fails as its first
    SLURM job (2000 MB, the default base) and succeeds as its second (2 x 2000 MB)."""
    (tmp_path / "Snakefile").write_text(
        'rule needs_more_memory:\n    output:\n        "memory.txt",\n'
        '    shell:\n        "test {resources.mem_mb} -ge 4000 && echo {resources.mem_mb} > {output}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path),
         "--workflow-profile", str(REPOSITORY / "workflow" / "profiles" / "slurm"),
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
         "--seconds-between-status-checks", "2", "--max-status-checks-per-second", "2"],
        capture_output=True, text=True, cwd=tmp_path, timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", result.stderr)
    assert len(submitted) == 2 and "Trying to restart job" in result.stderr
    assert (tmp_path / "memory.txt").read_text().strip() == "4000"
    requested = []
    for job in submitted:  # finished jobs stay visible to scontrol for MinJobAge (600 s)
        shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        requested.append((re.search(r"JobState=(\w+)", shown)[1], re.search(r"MinMemoryNode=(\w+)", shown)[1]))
    assert requested == [("FAILED", "2000M"), ("COMPLETED", "4000M")]
