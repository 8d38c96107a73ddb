"""Where the workflow's own files are: the ``smanh`` command runs the workflow of the source
tree its package was installed from (``pip install -e``, as ``make`` does)."""

from __future__ import annotations

from pathlib import Path

from smanh.errors import SmanhError

# scripts/smanh/cli/paths.py -> the repository root
REPOSITORY = Path(__file__).resolve().parents[3]
SNAKEFILE = REPOSITORY / "Snakefile"
PROFILES = REPOSITORY / "workflow" / "profiles"
SAMPLE_CONFIG = REPOSITORY / "config" / "config.yaml"
SAMPLE_REGISTRY = REPOSITORY / "data" / "sample"
REDCAP_MAPPING = REPOSITORY / "config" / "redcap_mapping.yaml"


def workflow_file(path: Path) -> Path:
    """``path`` if it exists, else an error saying that the command needs the source tree."""
    if not path.exists():
        raise SmanhError(
            f"{path} is missing: the smanh command needs the workflow's source tree "
            f"(install the package from the repository: pip install -e <repository>)"
        )
    return path
