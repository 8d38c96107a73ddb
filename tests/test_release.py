"""A release names one version everywhere: pyproject.toml, the package, CITATION.cff, the
changelog; the licence is MIT."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError

import yaml

import smanh
from conftest import REPOSITORY
from smanh.report import provenance

PROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]


def test_citation_and_changelog_name_the_version_of_pyproject():
    citation = yaml.safe_load((REPOSITORY / "CITATION.cff").read_text())
    assert citation["version"] == PROJECT["version"]
    assert citation["license"] == PROJECT["license"] == "MIT"
    changelog = (REPOSITORY / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert releases[0] == PROJECT["version"], "the newest release in CHANGELOG.md is pyproject's version"
    assert "## [Unreleased]" in changelog
    assert (REPOSITORY / "LICENSE").read_text().startswith("MIT License")


def test_the_package_reports_its_version():
    assert smanh.__version__ == PROJECT["version"]
    assert provenance.package_versions()["smanh"] == provenance.workflow_version() == PROJECT["version"]


def test_version_without_installed_metadata_comes_from_pyproject(monkeypatch):
    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(smanh, "distribution", not_installed)
    assert smanh.package_version() == PROJECT["version"]
    monkeypatch.setattr(smanh, "SOURCE_TREE", REPOSITORY / "no-such-folder")
    monkeypatch.setattr(smanh, "_source_version", lambda tree=None: None)
    assert smanh.package_version() == "unknown"


class Installed:
    def __init__(self, version, direct_url):
        self.version, self._direct_url = version, direct_url

    def read_text(self, name):
        return self._direct_url if name == "direct_url.json" else None


def test_installed_metadata_wins_unless_it_was_made_from_another_checkout(monkeypatch, tmp_path):
    here = f'{{"url": "{REPOSITORY.as_uri()}", "dir_info": {{"editable": true}}}}'
    elsewhere = f'{{"url": "{tmp_path.as_uri()}", "dir_info": {{"editable": true}}}}'
    for direct_url, expected in ((None, "9.9.9"), (here, "9.9.9"), (elsewhere, PROJECT["version"])):
        monkeypatch.setattr(smanh, "distribution", lambda name, d=direct_url: Installed("9.9.9", d))
        assert smanh.package_version() == expected, direct_url


def test_no_document_points_outside_the_repository():
    """The README carries the export format and the definitions: no tracked text names a
    specification file that is not in the repository, or a folder beside it."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPOSITORY, capture_output=True, text=True,
                             check=True).stdout.split()
    outside = re.compile(r"registry-format\.md|\.\./shared|design\.md")
    offending = []
    for name in tracked:
        path = REPOSITORY / name
        if path.suffix not in {".md", ".py", ".yaml", ".yml", ".smk", ".cff", ".R", ".html", ".j2"} \
                or name == "tests/test_release.py":
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line):
                offending.append(f"{name}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)
