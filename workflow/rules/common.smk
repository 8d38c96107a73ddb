# Config validation and the names of the workflow's files. Helpers, not lambdas, in rules.
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

# One thread per job, numpy's BLAS included; jobs run side by side, and a BLAS
# thread pool per job oversubscribes the cores (measured: 10-100x slower vector products
# with two jobs on two cores). Inherited by the rule scripts (and by jobs on a cluster).
os.environ.update(
    dict.fromkeys(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"], "1")
)

# The smanh package is installed in the workflow's environment (make env; pip install of
# the repository): the rules' scripts import it from there, on any node, also when the
# workflow is used as a Snakemake module from elsewhere.
try:
    import smanh
except ImportError:
    raise WorkflowError(
        "the smanh package is not installed in this Python environment: run `make env` in "
        "the repository (or `pip install <repository>`) and start snakemake from that environment"
    ) from None
from smanh.config.endpoints import endpoint_names
from smanh.config.external_control import external_control_options
from smanh.config.omop_needs import omop_needs
from smanh.config.scales import scale_options
from smanh.config.tables import PROGRESSION_TABLES, REGISTRY_TABLES, SURVIVAL_TABLES
from smanh.config.validation import validate_config

config.update(
    validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
)

ENDPOINT_SPECS = config["analysis"]["endpoints"]  # names or mappings
ENDPOINTS = endpoint_names(ENDPOINT_SPECS)
SCALES = list(scale_options(config["progression"]))  # checks names and terms


wildcard_constraints:
    endpoint="|".join(ENDPOINTS),
    scale="|".join(SCALES) or "no-scale",


def registry_path():
    """The canonical export (folder or .xlsx); relative paths: from the run directory."""
    return Path(config["registry"].get("path", "")).expanduser()


def bundled_file(path):
    """A file of the workflow (``path`` from the repository root) for a param: the checkout's
    own file, else Snakemake's copy. Snakemake's source_path() names a new temporary copy on
    every run, and a param that changes reruns its job (and, for ingest, everything)."""
    local = Path(workflow.basedir, path)
    return str(local) if local.is_file() else workflow.source_path(f"../../{path}")


def redcap_files():
    """export, dictionary and mapping of a REDCap export (mapping: bundled default)."""
    redcap = config["registry"].get("redcap", {})
    default_mapping = bundled_file("config/redcap_mapping.yaml")
    return {
        "export": str(Path(redcap.get("export", "")).expanduser()),
        "dictionary": str(Path(redcap.get("dictionary", "")).expanduser()),
        "mapping": str(Path(redcap.get("mapping", default_mapping)).expanduser()),
    }


def omop_settings():
    """registry.omop with paths expanded and the bundled mapping as default."""
    omop = dict(config["registry"].get("omop", {}))
    if omop.get("duckdb"):
        omop["duckdb"] = str(Path(omop["duckdb"]).expanduser())
    default_mapping = bundled_file("config/omop_mapping.yaml")
    omop["mapping"] = str(Path(omop.get("mapping", default_mapping)).expanduser())
    return omop


def omop_slots_needed():
    """The OMOP mapping slots this config needs (a concept of one missing from the
    database's vocabulary stops the ingest); none for the other formats."""
    if config["registry"]["format"] != "omop":
        return {}
    return omop_needs(ENDPOINT_SPECS, SCALES, config["analysis"], config["progression"])


def registry_files():
    """The export's files, so that a changed export reruns the workflow (a PostgreSQL
    database cannot be tracked: rerun with --forcerun ingest after it changed)."""
    if config["registry"]["format"] == "redcap":
        return sorted(f for f in redcap_files().values() if Path(f).exists())
    if config["registry"]["format"] == "omop":
        omop = omop_settings()
        files = [omop.get("duckdb", ""), omop["mapping"]]
        return sorted(f for f in files if f and Path(f).is_file())
    return canonical_export_files(registry_path())


def canonical_export_files(path):
    """The files of a canonical export: the workbook, or the folder's table files."""
    if path.is_file():
        return [str(path)]
    return sorted(
        str(path / f"{t}{suffix}")
        for t in REGISTRY_TABLES
        for suffix in (".csv", ".parquet")
        if (path / f"{t}{suffix}").exists()
    )


def canonical_tables(tables=REGISTRY_TABLES):
    return {t: f"results/canonical/{t}.parquet" for t in tables}


def km_per_endpoint(kind):
    return expand(
        "results/survival/{endpoint}/km_{kind}.csv", endpoint=ENDPOINTS, kind=kind
    )


def km_figures():
    return expand("results/figures/km_{endpoint}.png", endpoint=ENDPOINTS)


def parametric_figures():
    return expand("results/figures/parametric_{endpoint}.png", endpoint=ENDPOINTS)


def cuminc_figures():
    return expand("results/figures/cuminc_{endpoint}.png", endpoint=ENDPOINTS)


def survival_outputs():
    """Every table of one endpoint's survival job (wildcard {endpoint})."""
    return {t: f"results/survival/{{endpoint}}/{t}.csv" for t in SURVIVAL_TABLES}


def survival_per_endpoint():
    """Each table of every endpoint, for the gather rule."""
    return {
        t: expand(
            "results/survival/{endpoint}/{table}.csv", endpoint=ENDPOINTS, table=t
        )
        for t in SURVIVAL_TABLES
    }


def registered(tables, category):
    """Tables registered with report(), so that `snakemake --report` shows them too."""
    return {
        name: report(path, category=category, labels={"table": name})
        for name, path in tables.items()
    }


def gathered_tables():
    return {t: f"results/tables/{t}.csv" for t in SURVIVAL_TABLES}


def analysis_datasets():
    """The analysis dataset and, with analysis.sensitivity_analysis, the one with the
    other treatment-censoring mode (one job writes both)."""
    datasets = {"dataset": "results/analysis/analysis_dataset.parquet"}
    if config["analysis"]["sensitivity_analysis"]:
        datasets["sensitivity"] = (
            "results/analysis/analysis_dataset_sensitivity.parquet"
        )
    return datasets


def natural_history_dataset():
    """The analysis dataset censored at the first treatment (None when neither is)."""
    datasets = analysis_datasets()
    if config["analysis"]["censor_at_treatment"]:
        return datasets["dataset"]
    return datasets.get("sensitivity")


def ipcw_inputs():
    """The person-intervals the survival jobs weight (none when the IPCW analysis is off
    or there is no natural-history follow-up)."""
    if not config["analysis"]["ipcw"]["enabled"] or natural_history_dataset() is None:
        return {}
    return {"intervals": "results/analysis/ipcw_intervals.parquet"}


def released_tables():
    """Every table of results/tables/ that is released (disclosure-controlled) into
    results/share/."""
    names = [*SURVIVAL_TABLES, *(PROGRESSION_TABLES if SCALES else ())]
    names += ["cohort_flow", "table1", "data_quality", "published_comparison"]
    tables = {name: f"results/tables/{name}.csv" for name in names}
    return {**tables, **(external_control_tables() if EXTERNAL_CONTROL else {})}


def shared_tables():
    return {name: f"results/share/{name}.csv" for name in released_tables()}


def final_targets():
    return [
        "results/report/report.html",
        "results/share/report.html",
        "results/share/tables.xlsx",
        *shared_tables().values(),
        "results/summary.json",
        "results/tables/cohort_flow.csv",
        "results/tables/data_quality.csv",
        *gathered_tables().values(),
        *parametric_figures(),
        *cuminc_figures(),
        *(gathered_progression_tables().values() if SCALES else []),
        *progression_figures("progression"),
        *progression_figures("change_12m"),
        *external_control_targets(),  # none unless external_control: is configured
    ]


def progression_outputs():
    """Every table of one scale's progression job (wildcard {scale})."""
    return {t: f"results/progression/{{scale}}/{t}.csv" for t in PROGRESSION_TABLES}


def progression_per_scale():
    """Each progression table of every scale, for the gather rule."""
    return {
        t: expand("results/progression/{scale}/{table}.csv", scale=SCALES, table=t)
        for t in PROGRESSION_TABLES
    }


def gathered_progression_tables():
    return {t: f"results/tables/{t}.csv" for t in PROGRESSION_TABLES}


def svg(figures):
    """The SVG beside each PNG of ``figures``: the copies the report embeds."""
    return [f.removesuffix(".png") + ".svg" for f in figures]


def progression_figures(kind):
    return expand("results/figures/{kind}_{scale}.png", kind=kind, scale=SCALES)


def comparison_inputs():
    """Our estimates to set beside the published natural history (data/reference/)."""
    inputs = {
        "reference": workflow.source_path(
            "../../data/reference/published_natural_history.csv"
        ),
        "km_curves": "results/tables/km_curves.csv",
    }
    if SCALES:
        inputs.update(
            lmm_slopes="results/tables/lmm_slopes.csv",
            change_12m="results/tables/change_12m.csv",
        )
    return inputs


def progression_report_inputs():
    """The progression tables and figures the report shows (none without scales)."""
    if not SCALES:
        return {}
    return {
        **gathered_progression_tables(),
        "spaghetti_figures": svg(progression_figures("progression")),
        "change_figures": svg(progression_figures("change_12m")),
    }


# External natural-history control (workflow/rules/external_control.smk): None, and no
# job, target or report input, unless `external_control:` is configured.
EXTERNAL_CONTROL = external_control_options(config)


def trial_files():
    """The trial arm's export files, so that a changed trial export reruns the analysis."""
    return canonical_export_files(Path(EXTERNAL_CONTROL.trial_path).expanduser())


def external_control_tables():
    return {t: f"results/tables/{t}.csv" for t in EXTERNAL_CONTROL.tables}


def external_control_figures(extension):
    return {
        f"{name}_{extension}": f"results/figures/{name}.{extension}"
        for name in EXTERNAL_CONTROL.figure_names
    }


def external_control_targets():
    """The analysis's tables and figures (none when it is off)."""
    if EXTERNAL_CONTROL is None:
        return []
    return [
        *external_control_tables().values(),
        *external_control_figures("png").values(),
    ]


def external_control_report_inputs():
    """Its tables, trial provenance and SVG figures for the report (none when it is off)."""
    if EXTERNAL_CONTROL is None:
        return {}
    return {
        **external_control_tables(),
        "external_control_sources": "results/external_control/trial_sources.csv",
        "external_control_figures": list(external_control_figures("svg").values()),
    }
