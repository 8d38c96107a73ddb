"""The pip install (pyproject.toml) and the conda environment pin the same versions."""

import tomllib

import yaml

from conftest import REPOSITORY


def pins(requirements):
    return {r.split("==")[0].lower(): r.split("==")[1] for r in requirements if "==" in r}


def test_environment_yml_pins_what_pyproject_pins():
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    pip_pins = pins(project["dependencies"] + sum(project["optional-dependencies"].values(), []))
    conda = yaml.safe_load((REPOSITORY / "environment.yml").read_text())["dependencies"]
    conda_pins = pins([d for d in conda if isinstance(d, str)])
    assert conda_pins == pip_pins
    assert all("==" in r for r in project["dependencies"]), "every runtime dependency is pinned"
