# External natural-history control for a single-arm trial (README, "External
# natural-history control"): one job, only when `external_control:` is in the config. Its
# tables and figures join the targets (common.smk) and the report's inputs (report.smk).

from smanh.config import external_control as external_control_config

EXTERNAL_CONTROL = external_control_config.external_control_options(config)


def trial_files():
    """The trial arm's export files, so that a changed trial export reruns the analysis."""
    path = Path(EXTERNAL_CONTROL.trial_path).expanduser()
    if path.is_file():
        return [str(path)]
    return sorted(
        str(path / f"{t}{suffix}")
        for t in REGISTRY_TABLES
        for suffix in (".csv", ".parquet")
        if (path / f"{t}{suffix}").exists()
    )


def external_control_tables():
    return {
        t: f"results/tables/{t}.csv"
        for t in external_control_config.EXTERNAL_CONTROL_TABLES
    }


def external_control_figure_names():
    return [
        *(f"external_control_km_{e}" for e in EXTERNAL_CONTROL.endpoint_names),
        *external_control_config.EXTERNAL_CONTROL_FIGURES,
    ]


def external_control_targets():
    """The analysis's tables and figures (none when it is off)."""
    if EXTERNAL_CONTROL is None:
        return []
    return [
        *external_control_tables().values(),
        *(f"results/figures/{n}.png" for n in external_control_figure_names()),
    ]


def external_control_report_inputs():
    """Its tables, trial provenance and SVG figures for the report (none when it is off)."""
    if EXTERNAL_CONTROL is None:
        return {}
    return {
        **external_control_tables(),
        "external_control_sources": "results/external_control/trial_sources.csv",
        "external_control_figures": [
            f"results/figures/{n}.svg" for n in external_control_figure_names()
        ],
    }


if EXTERNAL_CONTROL is not None:

    rule external_control:
        input:
            **canonical_tables(),
            trial=trial_files(),
        output:
            **registered(external_control_tables(), "External control"),
            **{
                f"{name}_png": report(
                    f"results/figures/{name}.png",
                    caption="../report/external_control_figure.rst",
                    category="External control",
                    labels={"figure": name.removeprefix("external_control_")},
                )
                for name in external_control_figure_names()
            },
            **{
                f"{name}_svg": f"results/figures/{name}.svg"
                for name in external_control_figure_names()
            },
            trial_sources="results/external_control/trial_sources.csv",
        log:
            "logs/external_control.log",
        benchmark:
            "logs/benchmarks/external_control.tsv"
        conda:
            "../../environment.yml"
        params:
            external_control=config["external_control"],
            analysis=config["analysis"],
            min_cell_count=config["report"]["min_cell_count"],
        script:
            "../../scripts/rules/external_control.py"
