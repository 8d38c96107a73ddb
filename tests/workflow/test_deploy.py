"""The workflow deploys as Snakemake users deploy workflows: a run directory whose own
workflow/Snakefile uses this repository's as a module (what `snakedeploy deploy-workflow`
writes for a release on GitHub, here with a local clone), run from there; the rule scripts
find the package in the environment, with no path set by the workflow."""

import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPOSITORY

pytestmark = pytest.mark.workflow

MODULE = '''from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


module smanh:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from smanh
'''


def test_a_run_directory_using_a_local_clone_as_a_module(tmp_path):
    clone = tmp_path / "smanh"
    subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(clone)], check=True)
    run = tmp_path / "run"
    shutil.copytree(clone / "config", run / "config")  # the study config to edit, as snakedeploy copies it
    config = (run / "config" / "config.yaml").read_text()
    (run / "config" / "config.yaml").write_text(re.sub(r"path: data/", f"path: {clone}/data/", config))
    (run / "workflow").mkdir()
    (run / "workflow" / "Snakefile").write_text(MODULE.format(snakefile=clone / "Snakefile"))
    rules = (clone / "scripts" / "rules").glob("*.py")
    assert not [p.name for p in rules if "sys.path" in p.read_text()]  # the package comes from the environment
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=run, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "results" / "report" / "report.html").stat().st_size > 100_000
    assert (run / "results" / "share" / "tables.xlsx").exists()
