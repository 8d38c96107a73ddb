"""Installs without network: where wheelhouse/ exists, the environment is installed from it
alone (pip --no-index). The install itself is tested end to end by `make test-offline` in
CI (.ci/run), which builds the wheelhouse first; here, what `make` would run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import REPOSITORY

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned_env_commands(tmp_path, wheelhouse) -> list[str]:
    result = subprocess.run(
        ["make", "-n", "env", f"VENV={tmp_path / 'venv'}", f"WHEELHOUSE={wheelhouse}"],
        capture_output=True, text=True, cwd=REPOSITORY,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_env_installs_from_the_wheelhouse_alone_when_it_exists(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    installs = planned_env_commands(tmp_path, wheelhouse)
    assert len(installs) == 2  # pip itself, then the project with its test extras
    assert all(f"--no-index --find-links {wheelhouse}" in line for line in installs)
    assert installs[-1].endswith('-e ".[test]"')


def test_env_uses_the_package_index_without_a_wheelhouse(tmp_path):
    installs = planned_env_commands(tmp_path, tmp_path / "no-wheelhouse")
    assert len(installs) == 2 and not any("--no-index" in line for line in installs)


def test_ci_builds_the_wheelhouse_and_installs_from_it():
    ci = (REPOSITORY / ".ci" / "run").read_text()
    assert ci.index("make wheelhouse") < ci.index("make test-offline")
    assert "wheelhouse/" in (REPOSITORY / ".gitignore").read_text().splitlines()
