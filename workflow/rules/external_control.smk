# External natural-history control for a single-arm trial (README, "External
# natural-history control"): one job, only when `external_control:` is in the config. Its
# tables and figures join the targets and the report's inputs (common.smk, report.smk).

if EXTERNAL_CONTROL is not None:

    rule external_control:
        input:
            **canonical_tables(),
            trial=trial_files(),
        output:
            **registered(external_control_tables(), "External control"),
            **{
                name: report(
                    path,
                    caption="../report/external_control_figure.rst",
                    category="External control",
                    labels={"figure": name.removeprefix("external_control_")},
                )
                for name, path in external_control_figures("png").items()
            },
            **external_control_figures("svg"),
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
