# The self-contained reviewer report and the machine-readable summary.


rule summary_json:
    input:
        sources="results/canonical/sources.json",
        cohort_flow="results/tables/cohort_flow.csv",
        km_summary="results/tables/km_summary.csv",
    output:
        "results/summary.json",
    log:
        "logs/summary_json.log",
    conda:
        "../../environment.yml"
    params:
        config=config,
    script:
        "../../scripts/rules/summary_json.py"


rule report:
    input:
        summary="results/summary.json",
        cohort_flow="results/tables/cohort_flow.csv",
        km_summary="results/tables/km_summary.csv",
        figures=km_figures(),
    output:
        "results/report/report.html",
    log:
        "logs/report.log",
    conda:
        "../../environment.yml"
    params:
        template=workflow.source_path("../report/report.html.j2"),
        title=config["report"]["title"],
        min_cell_count=config["report"]["min_cell_count"],
    script:
        "../../scripts/rules/report.py"
