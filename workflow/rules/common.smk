# Config validation and the names of the workflow's files. Helpers, not lambdas, in rules.
import sys
from pathlib import Path

# The smanh package, importable in any environment (venv, conda, cluster node).
sys.path.insert(0, f"{workflow.basedir}/scripts")
from smanh.config import validate_config

config.update(
    validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
)

ENDPOINTS = config["analysis"]["endpoints"]
REGISTRY_TABLES = ["patients", "events", "treatments", "assessments"]


wildcard_constraints:
    endpoint="|".join(ENDPOINTS),


def registry_path():
    """The export folder; relative paths are relative to the run directory."""
    return Path(config["registry"]["path"]).expanduser()


def registry_files():
    """The export's files, so that a changed export reruns the workflow."""
    folder = registry_path()
    return sorted(
        str(folder / f"{t}.csv")
        for t in REGISTRY_TABLES
        if (folder / f"{t}.csv").exists()
    )


def canonical_tables():
    return {t: f"results/canonical/{t}.parquet" for t in REGISTRY_TABLES}


def km_per_endpoint(kind):
    return expand(
        "results/survival/{endpoint}/km_{kind}.csv", endpoint=ENDPOINTS, kind=kind
    )


def km_figures():
    return expand("results/figures/km_{endpoint}.png", endpoint=ENDPOINTS)


def final_targets():
    return [
        "results/report/report.html",
        "results/summary.json",
        "results/tables/km_summary.csv",
        "results/tables/km_curves.csv",
        "results/tables/cohort_flow.csv",
    ]
