"""smanh: natural-history analysis of spinal muscular atrophy (SMA) registries.

The package holds the pure, tested analysis logic; the Snakemake rule scripts in
``scripts/rules/`` are thin wrappers that only read ``snakemake.*`` and call it.

``__version__`` comes from the installed package's metadata (``pyproject.toml`` at install
time), so a report names the release that computed it even where there is no git checkout.
"""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "smanh"
# The repository root of a source checkout: scripts/smanh/__init__.py -> ../..
SOURCE_TREE = Path(__file__).resolve().parents[2]


def package_version() -> str:
    """The installed distribution's version; the source tree's ``pyproject.toml`` when the
    package runs uninstalled (a conda environment, rule scripts importing it from
    ``scripts/``) or when the installed metadata belongs to another checkout (an editable
    install made from a different folder); ``"unknown"`` when neither exists."""
    try:
        installed = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        installed = None
    if installed is not None and _installed_from_here(installed):
        return installed.version
    return _source_version() or (installed.version if installed is not None else "unknown")


def _installed_from_here(installed) -> bool:
    """False only when the metadata records a local source folder other than this tree
    (``direct_url.json`` of a pip install from a folder)."""
    text = installed.read_text("direct_url.json")
    if not text:
        return True  # a wheel from an index or a wheelhouse: nothing says where it came from
    try:
        url = urlparse(json.loads(text).get("url", ""))
    except (ValueError, AttributeError):
        return True
    if url.scheme != "file":
        return True
    return Path(unquote(url.path)).resolve() == SOURCE_TREE


def _source_version(tree: Path = SOURCE_TREE) -> str | None:
    try:
        with open(tree / "pyproject.toml", "rb") as handle:
            project = tomllib.load(handle).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return project.get("version") if project.get("name") == DISTRIBUTION else None


__version__ = package_version()
