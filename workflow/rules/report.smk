# The self-contained reviewer report and the machine-readable summary.


rule summary_json:
    input:
        sources="results/canonical/sources.json",
        patients="results/canonical/patients.parquet",
        cohort_flow="results/tables/cohort_flow.csv",
        km_summary="results/tables/km_summary.csv",
    output:
        "results/summary.json",
    log:
        "logs/summary_json.log",
    benchmark:
        "logs/benchmarks/summary_json.tsv"
    priority: 2  # as soon as the survival jobs end, beside the last progression jobs
    localrule: True
    conda:
        "../../environment.yml"
    params:
        config=config,
    script:
        "../../scripts/rules/summary_json.py"


rule published_comparison:
    input:
        **comparison_inputs(),
    output:
        **registered(
            {"published_comparison": "results/tables/published_comparison.csv"},
            "Comparison with published natural history",
        ),
    log:
        "logs/published_comparison.log",
    benchmark:
        "logs/benchmarks/published_comparison.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/published_comparison.py"


rule cox_forest:
    input:
        cox="results/share/cox.csv",  # released: its n / events as the report may show them
    output:
        forest_png=report(
            "results/figures/cox_forest.png",
            caption="../report/cox_forest.rst",
            category="Survival",
            labels={"figure": "Cox hazard ratios"},
        ),
        forest_svg="results/figures/cox_forest.svg",
    log:
        "logs/cox_forest.log",
    benchmark:
        "logs/benchmarks/cox_forest.tsv"
    priority: 2  # as soon as the survival jobs end, beside the last progression jobs
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/cox_forest.py"


rule report:
    input:
        **progression_report_inputs(),
        **external_control_report_inputs(),
        table1="results/tables/table1.csv",
        published_comparison="results/tables/published_comparison.csv",
        cox_forest="results/figures/cox_forest.svg",
        summary="results/summary.json",
        manifest="results/share/manifest.json",
        cohort_flow="results/tables/cohort_flow.csv",
        km_summary="results/tables/km_summary.csv",
        data_quality="results/tables/data_quality.csv",
        km_figures=svg(km_figures()),
        parametric_figures=svg(parametric_figures()),
        cuminc_figures=svg(cuminc_figures()),
        km_tests="results/tables/km_tests.csv",
        km_summary_sensitivity="results/tables/km_summary_sensitivity.csv",
        km_curves="results/tables/km_curves.csv",
        km_curves_sensitivity="results/tables/km_curves_sensitivity.csv",
        km_summary_ipcw="results/tables/km_summary_ipcw.csv",
        ipcw_model="results/tables/ipcw_model.csv",
        cox="results/tables/cox.csv",
        cuminc="results/tables/cuminc.csv",
        rmst="results/tables/rmst.csv",
        parametric="results/tables/parametric.csv",
    output:
        "results/report/report.html",
    log:
        "logs/report.log",
    benchmark:
        "logs/benchmarks/report.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    params:
        template=bundled_file("workflow/report/report.html.j2"),
        title=config["report"]["title"],
        min_cell_count=config["report"]["min_cell_count"],
    script:
        "../../scripts/rules/report.py"


# What may leave the secure environment (results/share/): every table under the report's
# disclosure rules, as CSV and one workbook, with a manifest of SHA-256; then the report.
rule share_tables:
    input:
        **released_tables(),
    output:
        **shared_tables(),
        workbook="results/share/tables.xlsx",
        manifest="results/share/manifest.json",
    log:
        "logs/share_tables.log",
    benchmark:
        "logs/benchmarks/share_tables.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    params:
        min_cell_count=config["report"]["min_cell_count"],
    script:
        "../../scripts/rules/share_tables.py"


rule share_report:
    input:
        "results/report/report.html",
    output:
        "results/share/report.html",
    log:
        "logs/share_report.log",
    localrule: True
    conda:
        "../../environment.yml"
    shell:
        "cp {input} {output} 2> {log}"


# Its own target (not in `all`): needs Chromium. `make pdf` or snakemake results/report/report.pdf
rule report_pdf:
    input:
        "results/report/report.html",
    output:
        "results/report/report.pdf",
    log:
        "logs/report_pdf.log",
    benchmark:
        "logs/benchmarks/report_pdf.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../../scripts/rules/report_pdf.py"
